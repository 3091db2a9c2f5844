"""A run killed mid-way (SIGKILL to the whole process group: a node lost, a job limit hit)
resumes with `--rerun-incomplete` to the same catalogue as an uninterrupted run.

Needs a finished local run (`make demo`), whose models are reused: the resumed run re-does
the per-field stages and the catalogue, not the training. Run with `make test-slow`.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from conftest import LOCAL_RUN, REPO, demo_config_with_local_models, needs_local_run

SNAKEMAKE = str(Path(sys.executable).parent / "snakemake")

pytestmark = pytest.mark.slow


@needs_local_run
def test_killed_run_resumes_with_rerun_incomplete_to_the_same_catalogue(tmp_path):
    config = demo_config_with_local_models(tmp_path)
    cmd = [
        SNAKEMAKE,
        "results/catalog/catalog.parquet",
        "--snakefile",
        str(REPO / "Snakefile"),
        "--directory",
        str(tmp_path),
        "--configfile",
        str(config),
        "--cores",
        "2",
    ]
    # Kill the moment the first field's detections exist: its block job is then half done.
    first_field = tmp_path / "results" / "detections" / "9101" / "3" / "11.parquet"
    with open(tmp_path / "first.log", "w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 900
        while not first_field.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert proc.poll() is None, "the workflow ended before it could be killed"
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert not (tmp_path / "results" / "catalog" / "catalog.parquet").exists()
    incomplete = list((tmp_path / ".snakemake" / "incomplete").iterdir())
    assert incomplete, "no job was running when the workflow was killed"

    subprocess.run(cmd + ["--unlock"], check=True, capture_output=True)
    res = subprocess.run(cmd + ["--rerun-incomplete"], capture_output=True, text=True)
    assert res.returncode == 0, (res.stdout + res.stderr)[-4000:]
    local = pd.read_parquet(LOCAL_RUN / "catalog" / "catalog.parquet")
    resumed = pd.read_parquet(tmp_path / "results" / "catalog" / "catalog.parquet")
    assert len(local) > 0
    pd.testing.assert_frame_equal(local, resumed)
