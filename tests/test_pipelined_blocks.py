"""Detection and classification blocks with several fields in flight (``field_workers.gpu``):
the network's batches are fixed whatever order threads ask in, and every field's detections
and classified rows are the same as one field at a time."""

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest

from conftest import SHARED_SAS, needs_shared
from yl8c4net.sdss.fields import FieldId


def test_batches_are_fixed_groups_of_consecutive_fields_whatever_the_order_asked(monkeypatch):
    from yl8c4net.detect import infer

    batches = []

    def fake_detect_fields(model, composites, **settings):
        batches.append([int(c[0, 0]) for c in composites])
        return [pd.DataFrame({"field": [int(c[0, 0])]}) for c in composites], [{} for _ in composites]

    monkeypatch.setattr(infer, "detect_fields", fake_detect_fields)
    fields = [FieldId(9101, 3, f) for f in range(11, 18)]

    def load(fid):
        if fid.field == 13:
            raise OSError("unreadable composite")
        return np.full((4, 4), fid.field)

    detector = infer.BatchedFieldDetector(None, fields, load, batch_tiles=36, tile=640)  # 3 fields per batch
    assert detector.fields_per_batch == 3
    for fid in (fields[4], fields[1], fields[6], fields[0], fields[5], fields[3]):
        table, _ = detector(fid)
        assert table["field"].tolist() == [fid.field]
    with pytest.raises(OSError, match="unreadable composite"):
        detector(fields[2])  # the bad field's error, raised for it alone
    assert sorted(batches) == [[11, 12], [14, 15, 16], [17]]

    # Threads asking at once get the same answers, each batch predicted once.
    batches.clear()
    detector = infer.BatchedFieldDetector(None, fields, load, batch_tiles=36, tile=640)
    ok = [f for f in fields if f.field != 13]
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda f: detector(f)[0]["field"].tolist(), ok[::-1]))
    assert answers == [[f.field] for f in ok[::-1]]
    assert sorted(batches) == [[11, 12], [14, 15, 16], [17]]


REAL = [FieldId(4510, 4, 30), FieldId(1035, 6, 17), FieldId(1992, 1, 87)]


@pytest.fixture(scope="module")
def real_project(tmp_path_factory):
    """Three real fields fetched and composited in the workflow's per-field layout."""
    from yl8c4net.images.composite import field_composite
    from yl8c4net.images.imageio import save_image
    from yl8c4net.io import write_json_atomic
    from yl8c4net.pipeline.blocks import field_path
    from yl8c4net.sdss.fetch import fetch_field
    from yl8c4net.sdss.source import MirrorSource

    root = tmp_path_factory.mktemp("project")
    files = {
        "frames": str(root / "frames/{run}/{camcol}/{field}/manifest.json"),
        "composite": str(root / "composite/{run}/{camcol}/{field}.png"),
    }
    for fid in REAL:
        manifest_path = field_path(files["frames"], fid)
        field_dir = root / "frames" / str(fid.run) / str(fid.camcol) / str(fid.field)
        manifest = fetch_field(fid, MirrorSource(SHARED_SAS), ["r"], field_dir, use_official_jpeg=True)
        write_json_atomic(manifest, manifest_path)
        composite, _ = field_composite(field_dir, manifest)
        save_image(composite, field_path(files["composite"], fid), flip=True)
    return root, files


def _run(work, fields, workers: int) -> None:
    if workers == 1:
        for fid in fields:
            work(fid)
    else:
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(work, fields[::-1]))  # out of order on purpose


@needs_shared
def test_two_fields_in_flight_write_the_same_detections_and_classes_as_one(real_project, tmp_path):
    from ultralytics import YOLO

    from yl8c4net.classify.field import FieldClassification
    from yl8c4net.classify.model import CLASS_NAMES
    from yl8c4net.classify.train import load_classifier
    from yl8c4net.detect.bright import BrightSourceSettings
    from yl8c4net.detect.field import FieldDetectionChain
    from yl8c4net.detect.infer import BatchedFieldDetector
    from yl8c4net.detect.verify import VerifySettings
    from yl8c4net.images.imageio import load_image
    from yl8c4net.images.labels import BoxTable
    from yl8c4net.pipeline.blocks import field_path
    from yl8c4net.pipeline.model_files import shipped_model

    root, base = real_project
    model = YOLO(str(shipped_model("detector")), task="detect")
    classifier, norm, _ = load_classifier(shipped_model("classifier"), CLASS_NAMES, 3, "cpu")
    verify = VerifySettings.from_config({})
    results = {}
    for workers in (1, 2):
        files = {
            **base,
            "detections": str(tmp_path / f"w{workers}" / "detections/{run}/{camcol}/{field}.parquet"),
            "classified": str(tmp_path / f"w{workers}" / "classified/{run}/{camcol}/{field}.parquet"),
        }
        detector = BatchedFieldDetector(
            model,
            REAL,
            lambda fid: load_image(field_path(files["composite"], fid), flip=True),
            batch_tiles=24,
            conf=verify.detection_conf(0.25),
            device="cpu",
        )
        chain = FieldDetectionChain(
            detector,
            frames=files["frames"],
            detections=files["detections"],
            verify=verify,
            bright=BrightSourceSettings.from_config({}),
            box_table=BoxTable(),
            weights_sha256="test",
            conf=0.25,
        )
        _run(chain, REAL, workers)
        _run(FieldClassification(classifier, norm, files, 1.0), REAL, workers)
        results[workers] = {
            (kind, fid): pd.read_parquet(field_path(files[kind], fid))
            for kind in ("detections", "classified")
            for fid in REAL
        }
    for key, serial in results[1].items():
        assert len(serial) > 100, key  # real fields: hundreds of sources each
        pd.testing.assert_frame_equal(results[2][key], serial, check_exact=True)
