"""Detector: overlap merging, evaluation metrics, and a tiny offline training run on CPU."""

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from yl8c4net.detect.evaluate import detection_metrics, match_field, operating_point, unmatched_breakdown
from yl8c4net.detect.infer import TileBoxes, merge_tile_boxes, owner_tile, to_frame_table
from yl8c4net.images.tiling import tile_origins

ORIGINS = tile_origins(2048, 1489)


def _boxes(rows):
    """rows of (x0, y0, x1, y1, conf, tile) in display pixel-edge coordinates."""
    a = np.array(rows, float)
    return TileBoxes(a[:, :4], a[:, 4], a[:, 5].astype(int))


def test_source_straddling_two_tiles_yields_one_detection():
    # Tiles 0 (x 0-640) and 1 (x 469-1109) overlap in x 469-640. A 16-px source at x=470
    # is whole in tile 0 and cut by tile 1's left edge (a clipped box, IoU 0.56 with the whole).
    whole = (462, 100, 478, 116, 0.90, 0)
    clipped = (469, 100, 478, 116, 0.80, 1)
    kept = merge_tile_boxes(_boxes([whole, clipped]), ORIGINS, method="owned_nms", iou=0.6)
    assert kept.tolist() == [0]
    # Plain NMS at the same threshold keeps both: the reason ownership exists.
    assert len(merge_tile_boxes(_boxes([whole, clipped]), ORIGINS, method="nms", iou=0.6)) == 2


def test_source_on_the_overlap_midline_is_kept_exactly_once():
    mid = (469 + 640) / 2  # owner changes here
    a = (mid - 1 - 7, 300, mid - 1 + 7, 314, 0.8, 1)  # centre just left: owned by tile 0, seen by tile 1
    b = (mid + 1 - 7, 300, mid + 1 + 7, 314, 0.7, 0)  # centre just right: owned by tile 1, seen by tile 0
    kept = merge_tile_boxes(_boxes([a, b]), ORIGINS, method="owned_nms", iou=0.5)
    assert len(kept) == 1


def test_two_sources_4px_apart_stay_two():
    # Both are whole in tile 5 (x 469-1109, y 424-1064), which owns them, and in tile 1
    # (x 469-1109, y 0-640) above it.
    a = (800, 614, 812, 626, 0.90, 5)
    b = (804, 614, 816, 626, 0.85, 5)  # IoU 0.5 with a
    a1 = (800, 614, 812, 626, 0.88, 1)
    b1 = (804, 614, 816, 626, 0.83, 1)
    kept = merge_tile_boxes(_boxes([a, b, a1, b1]), ORIGINS, method="owned_nms", iou=0.6)
    assert kept.tolist() == [0, 1]


def test_owner_tiles_partition_the_frame():
    xs, ys = np.meshgrid(np.arange(0, 2048, 7) + 0.5, np.arange(0, 1489, 7) + 0.5)
    owner = owner_tile(xs.ravel(), ys.ravel(), ORIGINS, 640)
    for k, (x0, y0) in enumerate(ORIGINS):
        sel = owner == k
        assert sel.any()
        assert (xs.ravel()[sel] >= x0).all() and (xs.ravel()[sel] <= x0 + 640).all()
        assert (ys.ravel()[sel] >= y0).all() and (ys.ravel()[sel] <= y0 + 640).all()


def test_frame_table_returns_fits_row_order():
    t = to_frame_table(_boxes([(10, 0, 20, 10, 0.5, 0)]), np.array([0]), height=1489)
    assert t.loc[0, "x"] == pytest.approx(14.5) and t.loc[0, "y"] == pytest.approx(1488 - 4.5)
    assert t.loc[0, "w"] == 10 and t.loc[0, "h"] == 10


def test_metrics_on_known_matches():
    truth = pd.DataFrame(
        {"x": [100.0, 200.0, 300.0], "y": [100.0] * 3, "w": [10.0] * 3, "h": [10.0] * 3, "r": [16.0, 19.0, 21.7]}
    )
    pred = pd.DataFrame(
        {"x": [100.0, 201.0, 500.0], "y": [100.0] * 3, "w": [10.0] * 3, "h": [10.0] * 3, "conf": [0.9, 0.8, 0.7]}
    )
    correct, truth_iou = match_field(truth, pred)
    assert correct[0].all()  # identical box: correct at every IoU threshold
    assert correct[1, 0] and not correct[1, -1]  # 1 px off: IoU 0.82
    assert not correct[2].any()
    m = detection_metrics([(truth, pred)], conf_threshold=0.5, target_purity=0.9)
    assert m["precision"] == pytest.approx(2 / 3) and m["recall"] == pytest.approx(2 / 3)
    assert m["operating_point"]["conf"] == pytest.approx(0.8)
    assert m["f1"] == pytest.approx(2 / 3)
    bins = {b["r_min"]: b["recall"] for b in m["recall_by_r_mag"] if b["n"]}
    assert bins == {16.0: 1.0, 19.0: 1.0, 21.5: 0.0}
    assert 0.5 < m["ap50"] < 0.8 and m["ap50_95"] < m["ap50"]
    # The PR curve: precision 1 up to recall 2/3 (both confident detections are right), then
    # nothing is recalled beyond 2/3; its area is the AP@0.5.
    pr = m["pr_curve_iou50"]
    rec, prec = np.array(pr["recall"]), np.array(pr["precision"])
    assert len(rec) == 100 and prec[rec < 0.66].min() == pytest.approx(1.0)
    assert prec[rec > 0.67].max() < 0.01
    assert np.trapezoid(prec, rec) == pytest.approx(m["ap50"], abs=0.02)


def test_operating_point_is_the_lowest_confidence_that_keeps_the_purity():
    # Ranked by confidence: right, right, wrong, right, wrong, wrong, right (7 detections, 5 truths).
    conf = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3])
    correct = np.array([1, 1, 0, 1, 0, 0, 1], bool)
    op = operating_point(correct[::-1], conf[::-1], 5, 0.7)  # any input order
    assert op["conf"] == pytest.approx(0.6)  # 3 of the 4 above 0.6 are right; below, purity < 0.7
    assert op["precision"] == pytest.approx(0.75) and op["recall"] == pytest.approx(0.6)
    assert operating_point(correct, conf, 5, 0.5)["conf"] == pytest.approx(0.3)  # 4/7 >= 0.5
    assert operating_point(np.zeros(3, bool), conf[:3], 5, 0.5)["conf"] is None
    # A cut cannot split detections of equal confidence.
    tied = operating_point(np.array([1, 1, 0]), np.array([0.9, 0.5, 0.5]), 2, 0.9)
    assert tied["conf"] == pytest.approx(0.9) and tied["recall"] == pytest.approx(0.5)


def test_unmatched_detections_are_told_apart_by_what_they_lie_on():
    # Two truth boxes (r <= 22.2); five detections: one right, one on the second labelled
    # source but far too large a box, one on a source fainter than the limit, one on nothing,
    # and a faint-confidence one on nothing.
    labels = pd.DataFrame({"x": [100.0, 200.0], "y": [100.0] * 2, "w": [10.0] * 2, "h": [10.0] * 2})
    sources = pd.DataFrame({"x": [100.0, 200.0, 300.0], "y": [100.0, 100.0, 101.0], "r": [18.0, 21.0, 23.5]})
    pred = pd.DataFrame(
        {
            "x": [100.0, 201.0, 301.0, 500.0, 600.0],
            "y": [100.0, 100.0, 100.0, 100.0, 100.0],
            "w": [10.0, 40.0, 8.0, 8.0, 8.0],
            "h": [10.0, 40.0, 8.0, 8.0, 8.0],
            "conf": [0.9, 0.8, 0.7, 0.6, 0.1],
        }
    )
    low, high = unmatched_breakdown([(labels, pred, sources)], [0.05, 0.65])
    assert low["n"] == 5 and low["precision"] == pytest.approx(1 / 5) and low["recall"] == pytest.approx(1 / 2)
    assert low["on_labelled_source"] == pytest.approx(1 / 5)
    assert low["on_fainter_source"] == pytest.approx(1 / 5)
    assert low["on_nothing"] == pytest.approx(2 / 5)
    assert high["n"] == 3 and high["on_fainter_source"] == pytest.approx(1 / 3) and high["on_nothing"] == 0.0
    # The shares and the precision add up to all the detections above the cut.
    for row in (low, high):
        total = row["precision"] + row["on_labelled_source"] + row["on_fainter_source"] + row["on_nothing"]
        assert total == pytest.approx(1.0)


def test_tiny_training_run_and_tiled_inference_offline(sim_mirror, tmp_path, monkeypatch):
    """Two fields -> tiles -> 1 epoch of YOLOv8n on the CPU -> detect a whole field."""
    from yl8c4net.images.composite import field_composite
    from yl8c4net.detect.infer import detect_field
    from yl8c4net.pipeline.code_version import training_run_key
    from yl8c4net.detect.train import DetectorParams, dataset_files, train_detector, training_finished
    from yl8c4net.sdss.fetch import fetch_field
    from yl8c4net.sdss.queries import MirrorCatalogBackend
    from yl8c4net.sdss.fields import FieldId
    from yl8c4net.sdss.frames import read_frame
    from yl8c4net.sdss.source import MirrorSource
    from yl8c4net.images.training_data import TrainingDataParams, build_field_tiles, write_dataset_yaml

    _, root = sim_mirror
    dirs = {}
    for field in (11, 12):
        fid = FieldId(9101, 3, field)
        d = tmp_path / f"f{field}"
        manifest = fetch_field(fid, MirrorSource(root), "gri", d)
        image, _ = field_composite(d, manifest)
        wcs = read_frame(d / manifest["frames"]["r"]["file"]).wcs
        build_field_tiles(
            image, MirrorCatalogBackend(root).photoobj_field(fid), wcs, d / "tiles", fid.tag, TrainingDataParams()
        )
        dirs[fid.tag] = d / "tiles"
    write_dataset_yaml(dirs, tmp_path / "ds" / "data.yaml", 0.5)
    # Keep the run small: the first 4 training tiles only.
    train_list = tmp_path / "ds" / "train.txt"
    train_list.write_text("\n".join(train_list.read_text().split()[:4]) + "\n")
    run = tmp_path / "run"
    params = DetectorParams(epochs=1, batch=4, imgsz=320, mosaic=0.0, device="cpu")
    data_yaml = tmp_path / "ds" / "data.yaml"
    files = dataset_files(data_yaml)
    assert data_yaml in files and train_list in files and sum(f.suffix == ".png" for f in files) == 4 + 12
    key = training_run_key({"detector": {"epochs": 1}}, "0.1.0+abc", files)
    res = train_detector(data_yaml, run, params, key)
    assert Path(res["weights"]).is_file() and Path(res["results_csv"]).is_file()
    assert Path(res["weights"]).is_relative_to(run / key)
    # The same key resumes in the same run directory (here: finds the finished run);
    # changed data, settings or code make another key, hence a fresh run beside it.
    finished = {p: p.read_bytes() for p in (Path(res["weights"]), Path(res["results_csv"]))}
    assert training_finished(run / key / "train" / "weights" / "last.pt")
    again = train_detector(data_yaml, run, params, key)
    assert again["weights"] == res["weights"] and [d.name for d in run.iterdir()] == [key]
    # Finished means finished: ultralytics, asked to resume it, would start a new run with
    # its own defaults (100 epochs) in the same directory.
    assert {p: p.read_bytes() for p in finished} == finished
    label = next(f for f in files if f.suffix == ".txt" and "labels" in f.parts)
    label.write_text(label.read_text() + "0 0.5 0.5 0.01 0.01\n")
    changed = training_run_key({"detector": {"epochs": 1}}, "0.1.0+abc", dataset_files(data_yaml))
    assert changed != key
    assert training_run_key({"detector": {"epochs": 2}}, "0.1.0+abc", files) != key
    assert training_run_key({"detector": {"epochs": 1}}, "0.1.0+abd", files) != key
    cfg_dir = Path(os.environ["YOLO_CONFIG_DIR"])
    # Fonts are local copies and the settings file stays in the configured folder.
    assert (cfg_dir / "Arial.ttf").is_file() and (cfg_dir / "Ultralytics" / "settings.json").is_file()
    assert not (Path.home() / ".config" / "Ultralytics").exists()
    from ultralytics import YOLO

    model = YOLO(str(res["weights"]))
    timings = {}
    det = detect_field(model, image, conf=0.0001, timings=timings, device="cpu")
    assert timings["n_tiles"] == 12
    # detector.imgsz reaches inference: the tiles are predicted at another size.
    small = detect_field(model, image, conf=0.0001, imgsz=160, device="cpu")
    assert len(small) != len(det) or not np.allclose(small[["x", "y"]].to_numpy(), det[["x", "y"]].to_numpy())
    assert list(det.columns) == ["x", "y", "w", "h", "conf", "tile"]
    assert len(det) <= timings["n_raw"]
    assert ((det["x"] >= -1) & (det["x"] <= 2048) & (det["y"] >= -1) & (det["y"] <= 1489)).all()


def test_sahi_merge_unions_a_clipped_edge_box_with_the_whole():
    from yl8c4net.detect.infer import sahi_merge

    whole = (462, 100, 478, 116, 0.90, 0)
    clipped = (469, 100, 478, 116, 0.80, 1)
    far = (900, 900, 910, 910, 0.5, 5)
    merged = sahi_merge(_boxes([whole, clipped, far]))
    assert len(merged.conf) == 2
    assert merged.xyxy[0].tolist() == [462, 100, 478, 116] and merged.conf[0] == 0.9


def test_yolov8_st_has_the_extra_p2_head(tmp_path):
    """The paper's YOLOv8-ST: four detection scales (P2 160x160 at 640 input) against three."""
    from yl8c4net.detect.env import prepare_ultralytics
    from yl8c4net.detect.train import DetectorParams, model_yaml

    prepare_ultralytics(tmp_path)
    from ultralytics import YOLO

    st = YOLO(model_yaml(DetectorParams(model="yolov8-st", scale="n"), tmp_path), task="detect")
    base = YOLO(model_yaml(DetectorParams(model="yolov8", scale="n"), tmp_path), task="detect")
    head_st, head = st.model.model[-1], base.model.model[-1]
    assert head_st.nl == 4 and head.nl == 3
    assert list(head_st.stride) == [4, 8, 16, 32]
    assert head_st.nc == 1


def test_cpu_prediction_keeps_the_jobs_threads(tmp_path):
    """ultralytics sets torch to cpu_count - 1 threads when it picks the CPU (1 of 2 cores
    here); use_cpu_threads keeps the job's count through a prediction (issue 16)."""
    import numpy as np
    import torch

    from yl8c4net.detect.env import prepare_ultralytics, use_cpu_threads

    prepare_ultralytics(tmp_path)
    from ultralytics import YOLO

    before = torch.get_num_threads()
    try:
        use_cpu_threads(3)
        YOLO("yolov8n.yaml", task="detect").predict([np.zeros((64, 64, 3), np.uint8)], device="cpu", verbose=False)
        assert torch.get_num_threads() == 3
    finally:
        use_cpu_threads(before)
