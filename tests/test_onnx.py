"""Fast inference (issue 16): ONNX copies of the detector and Conv4Net give torch's answers,
and tiles batched across fields give each field's own detections.

Tolerances: the same detections (count, boxes to IoU >= 0.999, confidences to 1e-4) on a
real SDSS field, and Conv4Net probabilities to 1e-5; both are float32 rounding, not
approximations.
"""

import numpy as np
import pytest
import torch

from conftest import SHARED_SAS, needs_shared
from yl8c4net.classify.model import CLASS_NAMES, Conv4Net


@pytest.fixture(scope="module")
def conv4net_checkpoint(tmp_path_factory):
    """A Conv4Net checkpoint with seeded random weights and a real normalisation."""
    torch.manual_seed(3)
    path = tmp_path_factory.mktemp("conv4net") / "conv4net.pt"
    torch.save(
        {
            "version": 1,
            "class_names": list(CLASS_NAMES),
            "in_channels": 3,
            "norm": {
                "min": [0.0, 2.0, 1.0],
                "max": [255.0, 250.0, 240.0],
                "mean": [0.2, 0.3, 0.25],
                "std": [0.1, 0.2, 0.15],
            },
            "model_state": Conv4Net().state_dict(),
            "seeing_reference_arcsec": 1.3,
        },
        path,
    )
    return path


def test_onnx_conv4net_gives_torchs_probabilities(tmp_path, conv4net_checkpoint):
    from yl8c4net.classify.train import load_classifier, predict_proba
    from yl8c4net.runtime.onnx import export_classifier_onnx, load_classifier_onnx

    onnx_path = export_classifier_onnx(conv4net_checkpoint, tmp_path / "conv4net.onnx", CLASS_NAMES, 3)
    cutouts = np.random.default_rng(0).integers(0, 256, (300, 48, 48, 3), dtype=np.uint8)
    model, norm, _ = load_classifier(conv4net_checkpoint, CLASS_NAMES, 3, "cpu")
    onnx_model, onnx_norm, meta = load_classifier_onnx(onnx_path, CLASS_NAMES, 3)
    assert onnx_norm == norm and meta["class_names"] == list(CLASS_NAMES)
    assert meta["seeing_reference_arcsec"] == 1.3  # the ONNX copy crops as the checkpoint was trained
    expected = predict_proba(model, norm, cutouts)
    got = predict_proba(onnx_model, onnx_norm, cutouts, batch_size=128)  # batches of another size
    assert got.shape == (300, 3)
    np.testing.assert_allclose(got, expected, atol=1e-5)
    assert np.abs(expected - 1 / 3).max() > 1e-3  # the inputs do move the answer
    assert len(predict_proba(onnx_model, onnx_norm, cutouts[:0])) == 0


def test_onnx_conv4net_made_for_other_channels_or_classes_is_refused(tmp_path, conv4net_checkpoint):
    from yl8c4net.classify.train import CheckpointError
    from yl8c4net.runtime.onnx import export_classifier_onnx, load_classifier_onnx

    onnx_path = export_classifier_onnx(conv4net_checkpoint, tmp_path / "conv4net.onnx", CLASS_NAMES, 3)
    with pytest.raises(CheckpointError, match="made for 3 input channels, the config gives 5"):
        load_classifier_onnx(onnx_path, CLASS_NAMES, 5)
    with pytest.raises(CheckpointError, match="made for classes"):
        load_classifier_onnx(onnx_path, ["GALAXY", "STAR"], 3)
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a model")
    with pytest.raises(CheckpointError, match="junk.onnx: not a readable ONNX model"):
        load_classifier_onnx(junk, CLASS_NAMES, 3)


@needs_shared
def test_onnx_detector_gives_torchs_detections_on_a_real_field(tmp_path):
    import torchvision

    from yl8c4net.images.composite import field_composite
    from yl8c4net.detect.env import prepare_ultralytics
    from yl8c4net.detect.infer import detect_field
    from yl8c4net.sdss.fetch import fetch_field
    from yl8c4net.pipeline.model_files import shipped_detector
    from yl8c4net.runtime.onnx import export_detector_onnx
    from yl8c4net.sdss.fields import FieldId
    from yl8c4net.sdss.source import MirrorSource

    prepare_ultralytics(tmp_path / "yolo")
    from ultralytics import YOLO

    onnx_path = export_detector_onnx(shipped_detector(), tmp_path / "onnx" / "detector.onnx")
    assert sorted(p.name for p in onnx_path.parent.iterdir()) == ["detector.onnx"]  # no scratch left
    manifest = fetch_field(FieldId(4510, 4, 30), MirrorSource(SHARED_SAS), "r", tmp_path / "field")
    composite, _ = field_composite(tmp_path / "field", manifest)
    by_torch = detect_field(YOLO(str(shipped_detector()), task="detect"), composite, device="cpu")
    by_onnx = detect_field(YOLO(str(onnx_path), task="detect"), composite, device="cpu")
    assert len(by_torch) > 500 and len(by_onnx) == len(by_torch)

    def xyxy(d):
        return torch.tensor(np.c_[d.x - d.w / 2, d.y - d.h / 2, d.x + d.w / 2, d.y + d.h / 2])

    iou = torchvision.ops.box_iou(xyxy(by_torch), xyxy(by_onnx)).numpy()
    best = iou.argmax(axis=1)
    assert iou.max(axis=1).min() >= 0.999
    assert np.abs(by_torch["conf"].to_numpy() - by_onnx["conf"].to_numpy()[best]).max() <= 1e-4


@needs_shared
def test_tiles_batched_across_fields_give_each_fields_own_detections(tmp_path):
    """detect_block's batching (detector.batch_tiles): three real fields' 36 tiles in one
    batch give the detections of three separate passes; a field that fails to load is
    raised for that field alone."""
    import torchvision

    from yl8c4net.images.composite import field_composite
    from yl8c4net.detect.env import prepare_ultralytics
    from yl8c4net.detect.infer import BatchedFieldDetector, detect_field
    from yl8c4net.errors import FrameVerificationError
    from yl8c4net.sdss.fetch import fetch_field
    from yl8c4net.pipeline.model_files import shipped_detector
    from yl8c4net.sdss.fields import FieldId
    from yl8c4net.sdss.source import MirrorSource

    prepare_ultralytics(tmp_path / "yolo")
    from ultralytics import YOLO

    model = YOLO(str(shipped_detector()), task="detect")
    fields = [FieldId(4510, 4, 30), FieldId(1035, 6, 17), FieldId(9999, 1, 11), FieldId(1992, 1, 87)]
    composites = {}
    for fid in fields[:2] + fields[3:]:
        manifest = fetch_field(fid, MirrorSource(SHARED_SAS), "r", tmp_path / str(fid.run))
        composites[fid] = field_composite(tmp_path / str(fid.run), manifest)[0]
    loads = []

    def load(fid):
        loads.append(fid)
        if fid not in composites:
            raise FrameVerificationError(f"{fid}: no composite")
        return composites[fid]

    batched = BatchedFieldDetector(model, fields, load, batch_tiles=48, device="cpu")
    assert batched.fields_per_batch == 4
    tables = {}
    for fid in fields:
        if fid in composites:
            tables[fid], timings = batched(fid)
            assert timings["n_fields_in_batch"] == 3 and timings["n_tiles"] == 12
        else:
            with pytest.raises(FrameVerificationError, match="no composite"):
                batched(fid)
    assert loads == fields  # each field loaded once, all in the first batch

    def xyxy(d):
        return torch.tensor(np.c_[d.x - d.w / 2, d.y - d.h / 2, d.x + d.w / 2, d.y + d.h / 2])

    for fid, composite in composites.items():
        alone = detect_field(model, composite, device="cpu")
        assert len(alone) > 200 and len(tables[fid]) == len(alone)
        iou = torchvision.ops.box_iou(xyxy(alone), xyxy(tables[fid])).numpy()
        assert iou.max(axis=1).min() >= 0.999
        best = iou.argmax(axis=1)
        assert np.abs(alone["conf"].to_numpy() - tables[fid]["conf"].to_numpy()[best]).max() <= 1e-4
