"""A run killed mid-way (SIGKILL to the whole process group: a node lost, a job limit hit)
resumes with the README's command to the same catalogue as an uninterrupted run: ten
trials at random moments and stages. The resumed runs classify in worker processes
(``field_workers.pool: processes``), the local run in threads: the catalogues must still be
the same, and a kill must take the workers with their job.

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


#: What a forced rerun redoes before each kill (and everything downstream of it).
STAGES = ("fetch_block", "composite_block", "detect_block", "classify_block", "catalog_run")


@needs_local_run
def test_kill_at_ten_random_moments_and_the_readme_command_give_the_same_catalogue(tmp_path):
    """Ten trials: a run (the first from scratch, then reruns forced from a random stage) is
    killed with SIGKILL to its whole process group at a random moment, then resumed with the
    README's recovery, `snakemake --unlock` and the same command (the profile has
    --rerun-incomplete). After each resume the catalogue equals an uninterrupted run's."""
    import numpy as np

    import yaml

    config = demo_config_with_local_models(tmp_path)
    cfg = yaml.safe_load(config.read_text())
    cfg.setdefault("field_workers", {})["pool"] = "processes"
    config.write_text(yaml.safe_dump(cfg))
    cmd = [SNAKEMAKE, "results/catalog/catalog.parquet", "--snakefile", str(REPO / "Snakefile")]
    cmd += ["--directory", str(tmp_path), "--configfile", str(config), "--profile", str(REPO / "profiles" / "local")]
    local = pd.read_parquet(LOCAL_RUN / "catalog" / "catalog.parquet")
    assert len(local) > 0
    rng = np.random.default_rng(20261125)
    trials = []
    for trial in range(10):
        stage = None if trial == 0 else str(rng.choice(STAGES))
        moment = float(rng.uniform(3.0, 20.0 if trial == 0 else 12.0))
        forced = [] if stage is None else ["--forcerun", stage]
        with open(tmp_path / f"trial-{trial}.log", "w") as out:
            proc = subprocess.Popen(cmd + forced, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
            try:
                proc.wait(timeout=moment)
                killed = False  # the forced part ended before the moment
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                killed = True
        subprocess.run(cmd + ["--unlock"], check=True, capture_output=True)
        res = subprocess.run(cmd, capture_output=True, text=True)
        assert res.returncode == 0, f"trial {trial} ({stage}, {moment:.1f} s): " + (res.stdout + res.stderr)[-3000:]
        resumed = pd.read_parquet(tmp_path / "results" / "catalog" / "catalog.parquet")
        pd.testing.assert_frame_equal(local, resumed, obj=f"catalogue after trial {trial} ({stage}, {moment:.1f} s)")
        trials.append((stage, round(moment, 1), killed))
    assert sum(k for _, _, k in trials) >= 8, trials  # most moments fall inside the work
    again = subprocess.run(cmd + ["-n"], capture_output=True, text=True)
    assert "Nothing to be done" in again.stdout + again.stderr  # nothing left incomplete or stale
    logs = list((tmp_path / "logs" / "classify_block").glob("*.log"))
    assert logs and all("in processes" in p.read_text() for p in logs), [p.name for p in logs]
