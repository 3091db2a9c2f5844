"""Field blocks: chunking, the block manifest, quarantine of one field, upstream propagation."""

import json
import logging

import pytest

from yl8c4net.pipeline.blocks import FieldBlock, field_blocks, field_status, ok_fields, read_block_manifest, run_block
from yl8c4net.errors import BlockManifestError, FrameVerificationError
from yl8c4net.sdss.fields import FieldId

LOG = logging.getLogger("test")


def test_blocks_cut_each_run_camcol_into_consecutive_chunks():
    fields = [FieldId(752, c, f) for c in (1, 2) for f in range(11, 16)] + [FieldId(756, 1, 40)]
    blocks = field_blocks(fields, 2)
    assert [(b.run, b.camcol, b.fields) for b in blocks] == [
        (752, 1, (11, 12)),
        (752, 1, (13, 14)),
        (752, 1, (15,)),
        (752, 2, (11, 12)),
        (752, 2, (13, 14)),
        (752, 2, (15,)),
        (756, 1, (40,)),
    ]
    assert blocks[0].name == "0011-0012" and blocks[2].name == "0015-0015"
    assert sum(len(b.fields) for b in field_blocks(fields, 50)) == len(fields)  # every field, once


def test_one_bad_field_is_quarantined_and_the_rest_of_the_block_is_done(tmp_path):
    block = FieldBlock(752, 1, (11, 12, 13), 301)
    done = []

    def work(fid):
        if fid.field == 12:
            raise FrameVerificationError("frame-r-000752-1-0012.fits.bz2: truncated")
        done.append(fid.field)

    out = tmp_path / "fetch.json"
    m = run_block("fetch", block, out, [], work, LOG)
    assert done == [11, 13]
    assert m["fields"]["12"] == {"status": "quarantined", "reason": "frame-r-000752-1-0012.fits.bz2: truncated"}
    assert read_block_manifest(out) == m
    # The next stage does not touch the quarantined field and says why it is missing.
    seen = []
    m2 = run_block("composite", block, tmp_path / "composite.json", [out], lambda f: seen.append(f.field), LOG)
    assert seen == [11, 13]
    assert m2["fields"]["12"]["reason"].startswith("fetch: frame-r-000752-1-0012")
    assert ok_fields([out, tmp_path / "composite.json"]) == [FieldId(752, 1, 11), FieldId(752, 1, 13)]
    assert field_status([out])[FieldId(752, 1, 12)].startswith("fetch:")


def test_a_returned_reason_quarantines_and_other_errors_fail_the_job(tmp_path):
    block = FieldBlock(752, 1, (11, 12), 301)
    m = run_block("fetch", block, tmp_path / "a.json", [], lambda f: "no r frame" if f.field == 11 else None, LOG)
    assert m["fields"]["11"]["status"] == "quarantined" and m["fields"]["12"]["status"] == "ok"

    def bug(fid):
        raise KeyError("detector")  # a bug or a bad model is not one field's problem

    with pytest.raises(KeyError):
        run_block("detect", block, tmp_path / "b.json", [], bug, LOG)
    assert not (tmp_path / "b.json").exists()  # no manifest: Snakemake sees the job failed


def test_malformed_manifests_are_refused_with_the_file_named(tmp_path):
    bad = tmp_path / "block-0011-0012.json"
    bad.write_text("{not json")
    with pytest.raises(BlockManifestError, match="block-0011-0012.json"):
        read_block_manifest(bad)
    bad.write_text(json.dumps({"stage": "fetch", "fields": {"11": {"status": "maybe"}}}))
    with pytest.raises(BlockManifestError, match="status table"):
        read_block_manifest(bad)


def test_field_status_table_lists_each_field_with_its_files_and_reason(tmp_path):
    import pandas as pd

    from yl8c4net.pipeline.blocks import field_status_table
    from yl8c4net.io import write_json_atomic, write_parquet

    files = {
        "frames": str(tmp_path / "{run}/{camcol}/{field}/manifest.json"),
        "photoobj": str(tmp_path / "{run}/{camcol}/{field}.parquet"),
    }
    write_json_atomic(
        {"frames": {"r": {}, "g": {}, "i": {}}, "irg_jpeg": "x.jpg", "bytes": 4_292_092},
        tmp_path / "9/1/11/manifest.json",
    )
    write_parquet(pd.DataFrame({"objid": [1, 2, 3]}), tmp_path / "9/1/11.parquet")
    manifest = {
        "stage": "fetch",
        "run": 9,
        "camcol": 1,
        "block": "0011-0012",
        "fields": {"11": {"status": "ok"}, "12": {"status": "quarantined", "reason": "frame-r is truncated"}},
    }
    write_json_atomic(manifest, tmp_path / "block.json")
    table = field_status_table([tmp_path / "block.json"], files)
    assert table.to_dict("records") == [
        {
            "run": 9,
            "camcol": 1,
            "field": 11,
            "status": "ok",
            "bands": "gri",
            "irg_jpeg": True,
            "bytes": 4_292_092,
            "n_photoobj": 3,
            "fault": "",
            "reason": "",
        },
        {
            "run": 9,
            "camcol": 1,
            "field": 12,
            "status": "quarantined",
            "bands": "",
            "irg_jpeg": False,
            "bytes": 0,
            "n_photoobj": 0,
            "fault": "data",
            "reason": "fetch: frame-r is truncated",
        },
    ]


def test_densest_window_sits_on_the_crowded_corner():
    import numpy as np
    import pandas as pd

    from yl8c4net.images.pasting import densest_window

    rng = np.random.default_rng(0)
    labels = pd.DataFrame({"x": rng.uniform(1700, 2000, 50), "y": rng.uniform(1100, 1450, 50)})
    x0, y0 = densest_window(pd.concat([labels, pd.DataFrame({"x": [100.0], "y": [100.0]})]), (1489, 2048), 400)
    inside = labels["x"].between(x0, x0 + 400) & labels["y"].between(y0, y0 + 400)
    assert 0 <= x0 <= 2048 - 400 and 0 <= y0 <= 1489 - 400 and inside.mean() > 0.7
    x0, y0 = densest_window(labels.iloc[:0], (1489, 2048), 400)  # no labels: the first cell
    assert 0 <= x0 <= 2048 - 400 and 0 <= y0 <= 1489 - 400


def test_block_manifest_records_the_checksum_of_every_field_file(tmp_path):
    """Trial 4 of issue 18: a block redone with the same statuses but changed field files
    left its manifest unchanged, so nothing downstream saw the change. The manifest now
    carries each written file's SHA-256."""
    import hashlib

    files = {"detections": str(tmp_path / "det" / "{run}" / "{camcol}" / "{field}.parquet")}
    block = FieldBlock(752, 1, (11, 12), 301)

    def detect(value):
        def work(fid):
            path = tmp_path / "det" / "752" / "1" / f"{fid.field}.parquet"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(f"{fid.field}-{value}".encode())

        return work

    first = run_block("detect", block, tmp_path / "a.json", [], detect("v1"), LOG, files=files)
    assert first["fields"]["11"]["sha256"] == {"detections": hashlib.sha256(b"11-v1").hexdigest()}
    run_block("detect", block, tmp_path / "b.json", [], detect("v1"), LOG, files=files)
    changed = run_block("detect", block, tmp_path / "c.json", [], detect("v2"), LOG, files=files)
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()
    assert changed["fields"]["12"]["sha256"] != first["fields"]["12"]["sha256"]
    assert field_status([tmp_path / "c.json"]) == {FieldId(752, 1, 11): None, FieldId(752, 1, 12): None}


def test_a_quarantine_is_traced_to_the_stage_and_block_to_retry(tmp_path):
    from yl8c4net.pipeline.blocks import quarantine_origins

    templates = {s: str(tmp_path / s / "{run}-{camcol}-block-{block}.json") for s in ("fetch", "composite", "detect")}
    block = FieldBlock(752, 1, (11, 12, 13), 301)
    paths = {s: templates[s].format(run=752, camcol=1, block=block.name) for s in templates}
    for p in paths.values():
        __import__("pathlib").Path(p).parent.mkdir(parents=True, exist_ok=True)
    run_block("fetch", block, paths["fetch"], [], lambda f: "frame-r: all NaN" if f.field == 12 else None, LOG)
    run_block("composite", block, paths["composite"], [paths["fetch"]], lambda f: None, LOG)
    run_block("detect", block, paths["detect"], [paths["composite"]], lambda f: "bad" if f.field == 13 else None, LOG)
    origins = quarantine_origins([paths["detect"]], templates)
    assert origins == {
        "752-1-12": {"stage": "fetch", "reason": "frame-r: all NaN", "retry": paths["fetch"]},
        "752-1-13": {"stage": "detect", "reason": "bad", "retry": paths["detect"]},
    }


def test_a_transient_failure_fails_the_block_job_and_quarantines_nothing(tmp_path):
    """Trial 1 of issue 18: an archive answering HTTP 500 for a while quarantined every field
    and the run ended with exit 0 and an empty catalogue. A failure that outlasts the retries
    is transient: the job fails without a manifest, so a rerun fetches again."""
    from yl8c4net.errors import TransientError

    block = FieldBlock(752, 1, (11, 12), 301)

    def archive_down(fid):
        raise TransientError("https://data.sdss.org/sas/...: HTTP 500 after 6 attempts")

    with pytest.raises(TransientError):
        run_block("fetch", block, tmp_path / "fetch.json", [], archive_down, LOG)
    assert not (tmp_path / "fetch.json").exists()
    m = run_block("fetch", block, tmp_path / "fetch.json", [], lambda f: None, LOG)  # the archive is back
    assert [e["status"] for e in m["fields"].values()] == ["ok", "ok"]


def test_fields_of_a_block_run_at_the_same_time_with_the_same_manifest(tmp_path):
    import threading

    block = FieldBlock(752, 1, (11, 12, 13, 14), 301)
    # Fields 11, 13 and 14 only get past the barrier if three are in work() at once.
    barrier = threading.Barrier(3, timeout=10)

    def work(fid):
        if fid.field == 12:
            raise FrameVerificationError("frame-r-000752-1-0012.fits.bz2: truncated")
        barrier.wait()
        return "no JPEG" if fid.field == 14 else None

    parallel = run_block("fetch", block, tmp_path / "p.json", [], work, LOG, workers=3)
    barrier = threading.Barrier(1)  # serial: nobody waits
    serial = run_block("fetch", block, tmp_path / "s.json", [], work, LOG)
    assert parallel == serial and list(parallel["fields"]) == ["11", "12", "13", "14"]
    assert parallel["fields"]["14"] == {"status": "quarantined", "reason": "no JPEG"}
    assert (tmp_path / "p.json").read_text() == (tmp_path / "s.json").read_text()


def test_a_bug_in_one_parallel_field_fails_the_job_and_cancels_the_fields_not_started(tmp_path):
    import time

    started = []

    def work(fid):
        started.append(fid.field)
        if fid.field == 11:
            raise KeyError("detector")
        time.sleep(0.05)  # the other fields take time, as real ones do

    block = FieldBlock(752, 1, tuple(range(11, 41)), 301)
    with pytest.raises(KeyError):
        run_block("composite", block, tmp_path / "c.json", [], work, LOG, workers=2)
    assert not (tmp_path / "c.json").exists()
    assert len(started) < 30
