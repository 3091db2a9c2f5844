"""The offline demo through a real SLURM cluster (snakemake-executor-plugin-slurm), with GPU
requests as a GPU cluster gets them; the catalogue must equal the local run's.

Needs: a finished local run (`make demo`: its models and catalogue are reused, so the
cluster run re-does every per-field stage and the catalogue, not the training) and a running
cluster (`.ci/slurm-up`). Run with `make test-slurm`, which does both.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
LOCAL = REPO / "results"

pytestmark = [pytest.mark.slow, pytest.mark.slurm]


def _cluster_up() -> bool:
    try:
        return subprocess.run(["sinfo", "-h"], capture_output=True, timeout=10).returncode == 0
    except (FileNotFoundError, subprocess.TimeoutExpired):
        return False


@pytest.mark.skipif(not _cluster_up(), reason="no SLURM cluster (start one with .ci/slurm-up)")
@pytest.mark.skipif(not (LOCAL / "catalog" / "catalog.parquet").is_file(),
                    reason="no local run to compare with (run `make demo` first)")
def test_demo_on_slurm_equals_the_local_run(tmp_path):
    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    cfg["detector"]["weights"] = str(LOCAL / "models" / "detector" / "yolov8.pt")
    cfg["classifier"]["weights"] = str(LOCAL / "models" / "classifier" / "conv4net.pt")
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    snakemake = str(Path(sys.executable).parent / "snakemake")
    cmd = ["timeout", "-k", "30", "1500", snakemake, "results/catalog/catalog.parquet",
           "--snakefile", str(REPO / "Snakefile"),
           "--directory", str(tmp_path), "--configfile", str(tmp_path / "config.yaml"),
           "--profile", str(REPO / "profiles" / "slurm"), "--cores", "2", "--resources", "gpu=1", "mem_mb=16000"]
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    res = subprocess.run(cmd, capture_output=True, text=True, env=env)
    log = res.stdout + res.stderr
    assert res.returncode == 0, log[-4000:]
    # The GPU group jobs reached SLURM with a GPU request (jobs stay listed for MinJobAge).
    jobs = subprocess.run(["scontrol", "show", "jobs"], capture_output=True, text=True).stdout.split("\n\n")
    gpu_jobs = [j for j in jobs if "fields_gpu" in j or "detect_field" in j]
    assert gpu_jobs, "no detection job was submitted"
    assert all("gres/gpu=1" in j or "gpu:1" in j for j in gpu_jobs), gpu_jobs[0]
    local = pd.read_parquet(LOCAL / "catalog" / "catalog.parquet")
    cluster = pd.read_parquet(tmp_path / "results" / "catalog" / "catalog.parquet")
    assert len(local) > 0
    pd.testing.assert_frame_equal(local, cluster)
    shutil.rmtree(tmp_path / "resources", ignore_errors=True)
