"""A run killed mid-way (SIGKILL to the whole process group: a node lost, a job limit hit),
ten times over, resumes with the README's command to the same catalogue as an uninterrupted
run. (It replaces a single kill during the first detect block: the ten moments are drawn
over the whole run.)

Needs a finished local run (`make demo`), whose models are reused: the resumed run re-does
the per-field stages and the catalogue, not the training. Run with `make test-slow`.
"""

import os
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from conftest import LOCAL_RUN, REPO, demo_config_with_local_models, needs_local_run

SNAKEMAKE = str(Path(sys.executable).parent / "snakemake")

pytestmark = pytest.mark.slow


@needs_local_run
def test_ten_kills_at_random_moments_then_the_readme_command_give_the_same_catalogue(tmp_path):
    """kill -9 (the whole process group) at ten random moments of one run, each time
    resumed with the README's recovery: `snakemake --unlock`, then the same command (the
    profile has --rerun-incomplete). The finished catalogue equals an uninterrupted run's."""
    import numpy as np

    config = demo_config_with_local_models(tmp_path)
    cmd = [SNAKEMAKE, "results/catalog/catalog.parquet", "--snakefile", str(REPO / "Snakefile")]
    cmd += ["--directory", str(tmp_path), "--configfile", str(config), "--profile", str(REPO / "profiles" / "local")]
    rng = np.random.default_rng(20261125)
    kills, finished_early = [], 0
    for attempt in range(10):
        subprocess.run(cmd + ["--unlock"], check=True, capture_output=True)
        with open(tmp_path / f"attempt-{attempt}.log", "w") as out:
            proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
            moment = float(rng.uniform(3.0, 15.0))
            try:
                proc.wait(timeout=moment)
                finished_early += 1  # the run ended before this moment: nothing left to kill
                break
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                kills.append(round(moment, 1))
    assert len(kills) >= 5, f"only {len(kills)} kills landed before the run finished"
    subprocess.run(cmd + ["--unlock"], check=True, capture_output=True)
    res = subprocess.run(cmd, capture_output=True, text=True)
    assert res.returncode == 0, (res.stdout + res.stderr)[-4000:]
    local = pd.read_parquet(LOCAL_RUN / "catalog" / "catalog.parquet")
    resumed = pd.read_parquet(tmp_path / "results" / "catalog" / "catalog.parquet")
    pd.testing.assert_frame_equal(local, resumed)
    again = subprocess.run(cmd + ["-n"], capture_output=True, text=True)
    assert "Nothing to be done" in again.stdout + again.stderr  # nothing left incomplete or stale
