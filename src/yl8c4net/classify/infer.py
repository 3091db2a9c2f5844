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
    sides_px: np.ndarray | None = None,
) -> pd.DataFrame:
    """``detections`` with ``class`` and ``p_{name}`` columns added.

    The crop side is ``sides_px`` (pixels, one per detection; `magnitude_crop_sides`) when
    given, else the larger side of the detection box. ``batch_size`` cut-outs go through the
    network at a time; the probabilities do not depend on it. ``crop_scale`` multiplies every
    side: the field's seeing scale for a classifier trained at a common seeing
    (`yl8c4net.images.seeing`).
    """
    if len(detections) == 0:  # an empty field: the columns still exist, with their types
        proba = np.zeros((0, len(class_names)), np.float32)
    else:
        box_side = np.maximum(detections["w"].to_numpy(float), detections["h"].to_numpy(float))
        side = (box_side if sides_px is None else np.asarray(sides_px, float)) * crop_scale
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


def magnitude_crop_sides(detections: pd.DataFrame, mag_r, usable, box_table) -> np.ndarray:
    """Crop sides (pixels) as the classifier's cut-outs were made: the box table's side for
    each detection's measured r magnitude, and the detection box's larger side where the
    magnitude is not usable.

    The detector's box is not the magnitude box of a resolved galaxy: it reads size as
    brightness and draws an extended galaxy's box larger than the side of its r (median 1.55
    times, quartiles 1.36-1.83, for the galaxies brighter than r = 19 of a simulated survey;
    1.03 for its point sources; ``benchmarks/crop_side.py``), so the galaxy fills a smaller
    part of its cut-out than in training and looks like a star.

    Parameters
    ----------
    detections : DataFrame
        ``w``, ``h`` (pixels).
    mag_r : array
        The forced r magnitude of each detection (mag; a 2" aperture catches a point
        source's light nearly all).
    usable : array of bool
        False where ``mag_r`` must not set the side (not measured, or saturated: a saturated
        star's aperture flux is too low, which would crop it too tight).
    box_table : yl8c4net.images.labels.BoxTable
        The magnitude boxes the classifier was trained with (``training_data.box_table``).
    """
    mag_r = np.asarray(mag_r, float)
    box_side = np.maximum(detections["w"].to_numpy(float), detections["h"].to_numpy(float))
    take = np.asarray(usable, bool) & np.isfinite(mag_r)
    return np.where(take, box_table.side(np.where(take, mag_r, 0.0)), box_side)
