"""Lean mode end to end (issue 16): the demo's fields catalogued from their irg JPEGs and the
run's asTrans only, with the local run's models; compared with the local run's catalogue."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml

from conftest import LOCAL_RUN, REPO, demo_config_with_local_models, needs_local_run

pytestmark = pytest.mark.slow


@needs_local_run
def test_lean_catalogue_matches_the_local_run_within_a_fraction_of_an_arcsecond(tmp_path):
    config = demo_config_with_local_models(tmp_path)
    cfg = yaml.safe_load(config.read_text())
    cfg["sdss"]["lean"] = True
    config.write_text(yaml.safe_dump(cfg))
    snakemake = str(Path(sys.executable).parent / "snakemake")
    targets = ["results/catalog/catalog.parquet", "results/data/field_status.tsv"]
    cmd = [snakemake, *targets, "--snakefile", str(REPO / "Snakefile"), "--directory", str(tmp_path)]
    res = subprocess.run(
        [*cmd, "--configfile", str(config), "--cores", "2"],
        capture_output=True,
        text=True,
        timeout=1500,
        env={**os.environ, "YOLO_OFFLINE": "1"},
    )
    assert res.returncode == 0, (res.stdout + res.stderr)[-4000:]
    status = pd.read_csv(tmp_path / "results" / "data" / "field_status.tsv", sep="\t", keep_default_na=False)
    assert (status["status"] == "ok").all() and (status["bands"] == "").all()
    # The JPEG only: a fraction of what the local run fetched for the same field (its r frame
    # and JPEG; SDSS's JPEGs are 0.9-1.7 MB, its compressed r frames several MB).
    local_status = pd.read_csv(LOCAL_RUN / "data" / "field_status.tsv", sep="\t", keep_default_na=False)
    fetched = status.merge(local_status, on=["run", "camcol", "field"], suffixes=("", "_local"))
    assert len(fetched) == len(status) and (fetched["bytes"] < 0.5 * fetched["bytes_local"]).all()
    assert not list((tmp_path / "resources" / "frames").rglob("frame-r-*"))
    # No r frame, so no flux verification, and every detections file says so.
    detection_files = list((tmp_path / "results" / "detections").rglob("*.parquet"))
    assert detection_files
    for path in detection_files:
        timings = json.loads(pq.read_schema(path).metadata[b"timings"])
        assert "verify_min_snr" in timings and timings["verify_min_snr"] is None, path
    local = pd.read_parquet(LOCAL_RUN / "catalog" / "catalog.parquet")
    lean = pd.read_parquet(tmp_path / "results" / "catalog" / "catalog.parquet")
    # Without the r frame no flux verification drops the detector's faint, diffuse boxes, so
    # the lean run keeps a few more rows (1.1 % on the demo: low-surface-brightness galaxies).
    assert 0 <= len(lean) - len(local) <= 0.02 * len(local)
    both = local.merge(lean, on="objid", suffixes=("", "_lean"))
    assert len(both) >= 0.98 * len(local)
    off = np.hypot((both.ra - both.ra_lean) * np.cos(np.radians(both.dec)), both.dec - both.dec_lean) * 3600
    assert np.median(off) < 0.1 and np.percentile(off, 90) < 0.4
    assert (both["class"] == both["class_lean"]).mean() > 0.98
