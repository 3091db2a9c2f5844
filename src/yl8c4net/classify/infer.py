"""Classifying the detections of one field: crop by the detection box (the same crop code
as the dataset builder), resize to 48 x 48, normalise with the saved statistics, predict."""

from __future__ import annotations

import numpy as np
import pandas as pd

from yl8c4net.images.cutouts import CUTOUT_PX, crop_cutouts
from yl8c4net.classify.model import CLASS_NAMES
from yl8c4net.classify.train import predict_proba
from yl8c4net.runtime.device import batch_for_device

#: ``classifier.predict_batch: auto``: on the CPU a field's ~740 cut-outs go faster in batches
#: of 64 than in one, as each batch's activations stay in the cores' caches (0.34 s against
#: 0.55 s per field with torch on 2 cores; onnxruntime is about as fast at either size); on
#: CUDA one large batch fills the GPU.
AUTO_PREDICT_BATCH = {"cpu": 64, "cuda": 1024}


def predict_batch(setting, model) -> int:
    """Cut-outs per Conv4Net batch for the ``classifier.predict_batch`` setting, on the
    device ``model`` runs on (an ONNX model runs on the CPU)."""
    parameters = getattr(model, "parameters", None)
    device = next(parameters()).device if parameters is not None else "cpu"
    return batch_for_device(setting, device, AUTO_PREDICT_BATCH)


def classify_detections(
    model,
    norm,
    composite: np.ndarray,
    detections: pd.DataFrame,
    class_names=CLASS_NAMES,
    batch_size: int = AUTO_PREDICT_BATCH["cpu"],
    crop_scale: float = 1.0,
) -> pd.DataFrame:
    """``detections`` with ``class`` and ``p_{name}`` columns added.

    The crop side is the larger side of the detection box: the detector was trained on the
    magnitude boxes the classifier's cut-outs are made with, so it is the same scale.
    ``batch_size`` cut-outs go through the network at a time; the probabilities do not
    depend on it. ``crop_scale`` multiplies every side: the field's seeing scale for a
    classifier trained at a common seeing (`yl8c4net.images.seeing`).
    """
    if len(detections) == 0:  # an empty field: the columns still exist, with their types
        proba = np.zeros((0, len(class_names)), np.float32)
    else:
        side = np.maximum(detections["w"].to_numpy(float), detections["h"].to_numpy(float)) * crop_scale
        crops = crop_cutouts(
            composite, detections["x"].to_numpy(float), detections["y"].to_numpy(float), side, CUTOUT_PX
        )
        proba = predict_proba(model, norm, crops, batch_size)
    out = detections.copy()
    out["class"] = np.asarray(class_names, dtype=object)[proba.argmax(axis=1)] if len(out) else []
    out["class"] = out["class"].astype("string")
    for k, name in enumerate(class_names):
        out[f"p_{name.lower()}"] = proba[:, k].astype(np.float32)
    return out
