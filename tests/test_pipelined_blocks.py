"""Detection and classification blocks with several fields in flight (``field_workers.gpu``):
the network's batches are fixed whatever order threads ask in, and every field's detections
and classified rows are the same as one field at a time."""

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

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
#: Tiles per detector batch, across fields: the same in every run an identity test compares.
BATCH_TILES = 24


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


@pytest.fixture(scope="module")
def serial_detections(real_project, tmp_path_factory):
    """The files of `real_project` plus the detections of its fields made one field at a
    time: the reference both identity tests compare with."""
    from ultralytics import YOLO

    from yl8c4net.pipeline.model_files import shipped_model

    _, base = real_project
    files = {**base, "detections": str(tmp_path_factory.mktemp("serial") / "detections/{run}/{camcol}/{field}.parquet")}
    _run(_detection_chain(YOLO(str(shipped_model("detector")), task="detect"), files, BATCH_TILES), REAL, 1)
    return files


@needs_shared
def test_two_fields_in_flight_write_the_same_detections_and_classes_as_one(serial_detections, tmp_path):
    from ultralytics import YOLO

    from yl8c4net.classify.field import FieldClassification
    from yl8c4net.classify.model import CLASS_NAMES
    from yl8c4net.classify.train import load_classifier
    from yl8c4net.pipeline.blocks import field_path
    from yl8c4net.pipeline.model_files import shipped_model

    classifier, norm, _ = load_classifier(shipped_model("classifier"), CLASS_NAMES, 3, "cpu")
    results = {}
    for workers in (1, 2):
        files = {**serial_detections, "classified": str(tmp_path / f"w{workers}" / "{run}/{camcol}/{field}.parquet")}
        if workers == 2:
            files["detections"] = str(tmp_path / "w2" / "detections/{run}/{camcol}/{field}.parquet")
            model = YOLO(str(shipped_model("detector")), task="detect")
            _run(_detection_chain(model, files, BATCH_TILES), REAL, workers)
        _run(FieldClassification(classifier, norm, files, 1.0), REAL, workers)
        results[workers] = {
            (kind, fid): pd.read_parquet(field_path(files[kind], fid))
            for kind in ("detections", "classified")
            for fid in REAL
        }
    for key, serial in results[1].items():
        assert len(serial) > 100, key  # real fields: hundreds of sources each
        pd.testing.assert_frame_equal(results[2][key], serial, check_exact=True)


@needs_shared
def test_the_classify_step_crops_each_detection_at_its_magnitudes_box(serial_detections, tmp_path, monkeypatch):
    """``classifier.crop_side: magnitude``: the cut-out's side is the box table's for the
    row's forced r (the detector's box for saturated rows), as the classifier was trained;
    ``box``: the detector's box. The file's columns are the same either way."""
    from yl8c4net.catalog.photometry import SATURATED
    from yl8c4net.classify import field as field_module
    from yl8c4net.classify.field import FieldClassification, crop_box_table
    from yl8c4net.classify.model import CLASS_NAMES
    from yl8c4net.classify.train import load_classifier
    from yl8c4net.images.labels import BoxTable
    from yl8c4net.pipeline.blocks import field_path
    from yl8c4net.pipeline.model_files import shipped_model

    asked = {}
    real_classify = field_module.classify_detections

    def recording(*args, sides_px=None, **kwargs):
        asked.setdefault("sides_px", []).append(sides_px)
        return real_classify(*args, sides_px=sides_px, **kwargs)

    monkeypatch.setattr(field_module, "classify_detections", recording)
    classifier, norm, _ = load_classifier(shipped_model("classifier"), CLASS_NAMES, 3, "cpu")
    table = BoxTable()
    assert crop_box_table({"classifier": {"crop_side": "box"}}) is None
    assert crop_box_table(
        {"classifier": {"crop_side": "magnitude"}, "training_data": {"box_table": {"r_edges": [20.0], "sides_px": [9]}}}
    ) == (BoxTable((20.0,), (9,)))
    out = {}
    for side in ("magnitude", "box"):
        files = {**serial_detections, "classified": str(tmp_path / side / "{run}/{camcol}/{field}.parquet")}
        asked.clear()
        classify = FieldClassification(
            classifier, norm, files, 1.0, crop_box_table=table if side == "magnitude" else None
        )
        for fid in REAL:
            classify(fid)
        rows = pd.concat([pd.read_parquet(field_path(files["classified"], fid)) for fid in REAL], ignore_index=True)
        out[side] = (rows, asked["sides_px"])
    rows, sides = out["magnitude"]
    sides = np.concatenate(sides)
    box_side = np.maximum(rows["w"], rows["h"]).to_numpy()
    saturated = (rows["phot_flags"].to_numpy() & SATURATED) != 0
    assert saturated.any() and (~saturated).sum() > 100
    assert np.array_equal(sides[~saturated], table.side(rows["mag_r"].to_numpy(float)[~saturated]))
    assert np.array_equal(sides[saturated], box_side[saturated])
    assert (sides < box_side).sum() > 10  # boxes the detector drew larger than their magnitude's
    assert out["box"][1] == [None] * len(REAL)
    assert list(out["box"][0].columns) == list(rows.columns)
    assert list(rows.columns[:10]) == ["x", "y", "w", "h", "conf", "tile", "class", "p_galaxy", "p_star", "p_qso"]


def _detection_chain(model, files: dict, batch_tiles: int):
    """The detect stage's per-field work on the REAL fields, with default settings."""
    from yl8c4net.detect.bright import BrightSourceSettings
    from yl8c4net.detect.field import FieldDetectionChain
    from yl8c4net.detect.infer import BatchedFieldDetector
    from yl8c4net.detect.verify import VerifySettings
    from yl8c4net.images.imageio import load_image
    from yl8c4net.images.labels import BoxTable
    from yl8c4net.pipeline.blocks import field_path

    verify = VerifySettings.from_config({})
    detector = BatchedFieldDetector(
        model,
        REAL,
        lambda fid: load_image(field_path(files["composite"], fid), flip=True),
        batch_tiles=batch_tiles,
        conf=verify.detection_conf(0.25),
        device="cpu",
    )
    return FieldDetectionChain(
        detector,
        frames=files["frames"],
        detections=files["detections"],
        verify=verify,
        bright=BrightSourceSettings.from_config({}),
        box_table=BoxTable(),
        weights_sha256="test",
        conf=0.25,
    )


def _block_of(fields):
    from yl8c4net.pipeline.blocks import FieldBlock

    return FieldBlock(fields[0].run, fields[0].camcol, tuple(f.field for f in fields), 301)


@needs_shared
def test_classification_in_worker_processes_writes_the_same_files_and_manifest_as_serial(serial_detections, tmp_path):
    """``field_workers.pool: processes``: the recipe built in each spawned process, the
    workers' log lines in the job's log, and the classified rows bit for bit as serial."""
    import json
    import logging

    from yl8c4net.classify.field import FieldClassificationRecipe
    from yl8c4net.pipeline.blocks import field_path, run_block
    from yl8c4net.pipeline.model_files import shipped_model

    files = serial_detections
    # The three real fields as one block each is not possible (three runs): one block per
    # field would give one field per job, which never starts a pool. So the same three
    # fields are renamed into one block's layout by symlinks.
    block_fields = [FieldId(9999, 1, f) for f in (1, 2, 3)]
    linked = {
        key: str(tmp_path / "block" / key / ("{run}-{camcol}-{field}" + suffix))
        for key, suffix in (("frames", ""), ("composite", ".png"), ("detections", ".parquet"))
    }
    for real, fid in zip(REAL, block_fields, strict=True):
        for key in linked:
            target = Path(field_path(files[key], real))
            link = Path(field_path(linked[key], fid))
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(target.parent if key == "frames" else target)
    linked["frames"] += "/manifest.json"
    import torch

    manifests, rows, logs = {}, {}, {}
    torch_threads = torch.get_num_threads()
    for pool, workers in (("threads", 1), ("processes", 2), ("threads", 2)):
        run_files = {**linked, "classified": str(tmp_path / f"{pool}-{workers}" / "{run}-{camcol}-{field}.parquet")}
        recipe = FieldClassificationRecipe(
            weights=str(shipped_model("classifier")),
            in_channels=3,
            device="cpu",
            files=run_files,
            options={"centroid_window_fwhm_arcsec": 1.0},
        )
        log_path = tmp_path / f"{pool}-{workers}.log"
        handler = logging.FileHandler(log_path)
        logging.getLogger().addHandler(handler)
        logging.getLogger().setLevel(logging.INFO)
        try:
            manifest = run_block(
                "classify",
                _block_of(block_fields),
                tmp_path / f"{pool}-{workers}.json",
                [],
                recipe,
                logging.getLogger("test"),
                files=run_files,
                workers=workers,
                pool=pool,
            )
        finally:
            logging.getLogger().removeHandler(handler)
            handler.close()
            torch.set_num_threads(torch_threads)  # build() set one thread in this process
        manifests[pool, workers] = json.loads(json.dumps(manifest))
        rows[pool, workers] = [pd.read_parquet(field_path(run_files["classified"], f)) for f in block_fields]
        logs[pool, workers] = log_path.read_text()
    serial = ("threads", 1)
    assert all(e["status"] == "ok" for e in manifests[serial]["fields"].values())
    for pooled in (("processes", 2), ("threads", 2)):
        assert manifests[pooled] == manifests[serial]  # same statuses and file checksums
        for one, other in zip(rows[serial], rows[pooled], strict=True):
            assert len(one) > 100
            pd.testing.assert_frame_equal(other, one, check_exact=True)
    # Each field's own summary line, written in a worker, reached the job's log.
    assert logs["processes", 2].count("detections classified") == 3, logs["processes", 2]
    assert "INFO:" not in logs["processes", 2]  # formatted once, by the job's handler
    assert "in processes" in logs["processes", 2]


@dataclass
class _FaultyRecipe:
    """Work that quarantines field 2 (a data error) and, with ``bug_on``, fails on that field."""

    bug_on: int = 0

    def build(self):
        return lambda fid: _faulty_work(fid, self.bug_on)


def _faulty_work(fid, bug_on):
    from yl8c4net.errors import FrameVerificationError

    if fid.field == 2:
        raise FrameVerificationError(f"{fid}: r frame fails its checksum")
    if fid.field == bug_on:
        raise RuntimeError(f"a bug on {fid}")
    return None


def test_a_worker_process_quarantines_a_bad_field_and_fails_the_job_on_a_bug(tmp_path):
    import logging

    from yl8c4net.pipeline.blocks import run_block

    block = _block_of([FieldId(9999, 1, f) for f in (1, 2, 3, 4)])
    log = logging.getLogger("test")
    manifest = run_block("classify", block, tmp_path / "m.json", [], _FaultyRecipe(), log, workers=2, pool="processes")
    statuses = {k: e["status"] for k, e in manifest["fields"].items()}
    assert statuses == {"1": "ok", "2": "quarantined", "3": "ok", "4": "ok"}
    assert "fails its checksum" in manifest["fields"]["2"]["reason"]
    with pytest.raises(RuntimeError, match="a bug on run 9999 camcol 1 field 4"):
        run_block("classify", block, tmp_path / "n.json", [], _FaultyRecipe(bug_on=4), log, workers=2, pool="processes")
    assert not (tmp_path / "n.json").exists()  # no manifest for a failed job
    with pytest.raises(TypeError, match="needs a recipe"):
        run_block("classify", block, tmp_path / "o.json", [], _faulty_work, log, workers=2, pool="processes")


def test_scripts_that_can_start_worker_processes_keep_their_body_under_a_main_guard():
    """A spawned worker imports the job's script again (as ``__mp_main__``): a block script
    that passes ``pool=`` to run_block must not run its block at import."""
    import ast

    scripts = Path(__file__).resolve().parents[1] / "workflow" / "scripts"
    pooled = [p for p in sorted(scripts.glob("*.py")) if "pool=" in p.read_text()]
    assert pooled, "no workflow script chooses a pool"
    for path in pooled:
        tree = ast.parse(path.read_text())
        top = [n for n in tree.body if not isinstance(n, (ast.Import, ast.ImportFrom, ast.Expr))]
        assert len(top) == 1 and isinstance(top[0], ast.If), f"{path.name}: body not under one if"
        assert ast.unparse(top[0].test) == "__name__ == '__main__'", path.name


ORPHAN_SCRIPT = """
import os, sys, time
from dataclasses import dataclass
from yl8c4net.pipeline.field_pool import process_pool

@dataclass
class Sleepy:
    out: str
    def build(self):
        return lambda fid: (open(os.path.join(self.out, str(os.getpid())), "w").close(), time.sleep(120))

if __name__ == "__main__":
    with process_pool(Sleepy(sys.argv[1]), 2) as work:
        from concurrent.futures import ThreadPoolExecutor
        with ThreadPoolExecutor(2) as threads:
            list(threads.map(work, [1, 2]))
"""


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"  # a zombie has ended; only its exit status waits to be collected


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads process states from /proc (Linux)")
def test_worker_processes_end_when_their_job_is_killed(tmp_path):
    """A block job killed outright (SIGKILL: a lost node, a killed run) leaves no worker
    waiting for work forever with its memory and GPU context."""
    import signal
    import subprocess
    import sys
    import time

    script = tmp_path / "job.py"
    script.write_text(ORPHAN_SCRIPT)
    started = tmp_path / "started"
    started.mkdir()
    job = subprocess.Popen([sys.executable, str(script), str(started)], cwd=tmp_path)
    try:
        deadline = time.monotonic() + 120
        while len(list(started.iterdir())) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        workers = [int(p.name) for p in started.iterdir()]
        assert len(workers) == 2 and all(_running(pid) for pid in workers)
    finally:
        job.send_signal(signal.SIGKILL)
        job.wait()
    deadline = time.monotonic() + 15
    while any(_running(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not [pid for pid in workers if _running(pid)]
