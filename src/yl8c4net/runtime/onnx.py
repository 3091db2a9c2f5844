"""ONNX copies of the two networks, run by onnxruntime on the CPU (issue 16).

``detector.runtime: onnx`` and ``classifier.runtime: onnx`` make the detect and classify
blocks run these copies instead of torch. Both are exported once per set of weights by the
workflow (rules ``export_detector_onnx``, ``export_classifier_onnx``) with a dynamic batch
axis, so the 12 tiles of a field (or a field's cut-outs) go through in one call.

- The detector is exported by ultralytics' own exporter and loaded back by ultralytics
  (``YOLO("detector.onnx")``), so tiling, NMS and merging are the same code for both runtimes.
- Conv4Net is exported by ``torch.onnx.export`` with its softmax; the checkpoint's class
  names, input channels and normalisation travel in the ONNX file's metadata, and
  `load_classifier_onnx` refuses a file made for other classes or channels, as
  `~yl8c4net.classify.train.load_classifier` does for checkpoints.

Both reproduce torch within float32 rounding (tests/test_onnx.py states the tolerances).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import numpy as np


def export_detector_onnx(weights: str | Path, out: str | Path, imgsz: int = 640) -> Path:
    """Export YOLOv8 ``weights`` (.pt) to ONNX at ``out`` (dynamic batch, CPU, float32).

    ultralytics writes the ONNX file beside the weights it exports, so the weights are
    copied to a scratch directory first: the shipped weights' package directory is never
    written to. Needs ultralytics prepared (`~yl8c4net.detect.env.prepare_ultralytics`).
    """
    from ultralytics import YOLO

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent) as scratch:
        copy = Path(scratch) / "detector.pt"
        shutil.copyfile(weights, copy)
        # simplify=False: onnxslim is one more package and did not change the speed here.
        exported = YOLO(str(copy), task="detect").export(
            format="onnx", dynamic=True, simplify=False, imgsz=imgsz, device="cpu", verbose=False
        )
        Path(exported).replace(out)
    return out


class OnnxConv4Net:
    """Conv4Net's ONNX copy in an onnxruntime session: probabilities of normalised cut-outs."""

    def __init__(self, path: str | Path, threads: int = 0):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name
        meta = self.session.get_modelmeta().custom_metadata_map
        self.meta = json.loads(meta["yl8c4net"]) if "yl8c4net" in meta else {}
        self.n_classes = len(self.meta.get("class_names", []))

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        """Softmax outputs (N, n_classes) of normalised float32 inputs (N, C, H, W)."""
        return self.session.run(None, {self.input_name: np.ascontiguousarray(x, np.float32)})[0]


def export_classifier_onnx(checkpoint: str | Path, out: str | Path, class_names, in_channels: int) -> Path:
    """Export a Conv4Net checkpoint to ONNX at ``out``: softmax included, dynamic batch, the
    checkpoint's class names, channels, normalisation and seeing reference in the file's metadata."""
    import onnx
    import torch

    from yl8c4net.classify.train import load_classifier
    from yl8c4net.images.cutouts import CUTOUT_PX

    model, norm, meta = load_classifier(checkpoint, class_names, in_channels, "cpu")
    net = torch.nn.Sequential(model, torch.nn.Softmax(dim=1)).eval()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp.onnx")
    dummy = torch.zeros(1, in_channels, CUTOUT_PX, CUTOUT_PX)
    torch.onnx.export(
        net,
        (dummy,),
        str(tmp),
        input_names=["cutouts"],
        output_names=["probabilities"],
        dynamic_axes={"cutouts": {0: "batch"}, "probabilities": {0: "batch"}},
        dynamo=False,  # the TorchScript exporter: no onnxscript needed
    )
    proto = onnx.load(str(tmp))
    info = {
        "class_names": list(class_names),
        "in_channels": in_channels,
        "norm": _norm_dict(norm),
        "seeing_reference_arcsec": meta.get("seeing_reference_arcsec"),
    }
    entry = proto.metadata_props.add()
    entry.key, entry.value = "yl8c4net", json.dumps(info)
    onnx.save(proto, str(tmp))
    tmp.replace(out)
    return out


def _norm_dict(norm) -> dict:
    from dataclasses import asdict

    return {k: np.asarray(v).tolist() for k, v in asdict(norm).items()}


def load_classifier_onnx(path: str | Path, class_names, in_channels: int, threads: int = 0):
    """The ONNX Conv4Net, its normalisation and metadata; like ``load_classifier``.

    Raises
    ------
    CheckpointError
        The file is not a readable ONNX Conv4Net, or was made for other classes or channels.
    """
    from yl8c4net.classify.data import Normalisation
    from yl8c4net.classify.train import CheckpointError

    path = Path(path)
    try:
        model = OnnxConv4Net(path, threads)
    except Exception as exc:
        raise CheckpointError(f"{path}: not a readable ONNX model ({type(exc).__name__})") from None
    if model.meta.get("class_names") != list(class_names):
        raise CheckpointError(
            f"{path}: made for classes {model.meta.get('class_names')}, the config expects {list(class_names)}"
        )
    if model.meta.get("in_channels") != in_channels:
        raise CheckpointError(
            f"{path}: made for {model.meta.get('in_channels')} input channels, the config gives {in_channels}"
        )
    return model, Normalisation(**model.meta["norm"]), model.meta
