"""The offline demo through a real SLURM cluster (snakemake-executor-plugin-slurm), with GPU
requests as a GPU cluster gets them, in each of the profile's two GPU request forms
(``--gpus`` and ``--gres``); the catalogue must equal the local run's.

Needs: a finished local run (`make demo`: its models and catalogue are reused, so the
cluster run re-does every per-field stage and the catalogue, not the training) and a running
cluster (`.ci/slurm-up`). Run with `make test-slurm`, which does both.
"""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from conftest import LOCAL_RUN, REPO, demo_config_with_local_models, needs_local_run

pytestmark = [pytest.mark.slow, pytest.mark.slurm]


def _cluster_up() -> bool:
    try:
        return subprocess.run(["sinfo", "-h"], capture_output=True, timeout=10).returncode == 0
    except (FileNotFoundError, subprocess.TimeoutExpired):
        return False


#: How each GPU request form of profiles/slurm reaches SLURM (profiles/slurm/README.md), as
#: `scontrol show job` prints it (``gres:gpu:1`` here; some SLURM versions write ``gres/gpu``).
GPU_REQUEST_SEEN = {"gpus": r"TresPerJob=gres[:/]gpu[:=]1\b", "gres": r"TresPerNode=gres[:/]gpu[:=]1\b"}
ANY_GPU_REQUEST = r"TresPer\w+=\S*gpu"


def slurm_profile(form: str, tmp_path: Path) -> Path:
    """profiles/slurm as shipped (``gpus``), or with the documented edit to ``--gres``."""
    shipped = REPO / "profiles" / "slurm"
    if form == "gpus":
        return shipped
    text = (shipped / "config.yaml").read_text()
    line = next(x for x in text.splitlines() if "GPU-REQUEST-FORM" in x)
    indent = line[: len(line) - len(line.lstrip())]
    profile = tmp_path / "profile-gres"
    profile.mkdir()
    (profile / "config.yaml").write_text(text.replace(line, f'{indent}gpu: 0\n{indent}gres: "gpu:1"'))
    return profile


@pytest.mark.skipif(not _cluster_up(), reason="no SLURM cluster (start one with .ci/slurm-up)")
@needs_local_run
@pytest.mark.parametrize("form", ["gpus", "gres"])
def test_demo_on_slurm_equals_the_local_run(tmp_path, form):
    config = demo_config_with_local_models(tmp_path)
    snakemake = str(Path(sys.executable).parent / "snakemake")
    cmd = [
        "timeout",
        "-k",
        "30",
        "1500",
        snakemake,
        "results/catalog/catalog.parquet",
        "--snakefile",
        str(REPO / "Snakefile"),
        "--directory",
        str(tmp_path),
        "--configfile",
        str(config),
        "--profile",
        str(slurm_profile(form, tmp_path)),
        "--cores",
        "2",
        "--resources",
        "gpu=1",
        "mem_mb=16000",
    ]
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    res = subprocess.run(cmd, capture_output=True, text=True, env=env)
    log = res.stdout + res.stderr
    assert res.returncode == 0, log[-4000:]
    # This run's GPU group jobs reached SLURM with the form's GPU request (jobs stay listed
    # for MinJobAge; their log paths lie under this test's directory).
    jobs = subprocess.run(["scontrol", "show", "jobs"], capture_output=True, text=True).stdout.split("\n\n")
    gpu_jobs = [j for j in jobs if str(tmp_path) in j and ("fields_gpu" in j or "detect_block" in j)]
    assert gpu_jobs, "no detection job was submitted"
    assert all(re.search(GPU_REQUEST_SEEN[form], j) for j in gpu_jobs), gpu_jobs[0]
    cpu_jobs = [j for j in jobs if str(tmp_path) in j and j not in gpu_jobs]
    asking = [j for j in cpu_jobs if re.search(ANY_GPU_REQUEST, j)]
    assert cpu_jobs and not asking, asking[:1]
    local = pd.read_parquet(LOCAL_RUN / "catalog" / "catalog.parquet")
    cluster = pd.read_parquet(tmp_path / "results" / "catalog" / "catalog.parquet")
    assert len(local) > 0
    pd.testing.assert_frame_equal(local, cluster)
    shutil.rmtree(tmp_path / "resources", ignore_errors=True)
