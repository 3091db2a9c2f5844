"""Fault trials against the whole workflow (issue 18), with the demo's frames served by a
local HTTP "archive" on 127.0.0.1 (`frame_source: sas`). Run with `make test-slow`."""

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from conftest import LOCAL_RUN, REPO, LocalHTTPServer, demo_config_with_local_models, needs_local_run

SNAKEMAKE = str(Path(sys.executable).parent / "snakemake")
MIRROR = REPO / "resources" / "sim_mirror"

pytestmark = pytest.mark.slow


def _archive(state: dict):
    """Serve the local run's SAS-layout mirror, or HTTP 500 while ``state['down']``."""

    def handler(method, path, query, body, headers):
        state["requests"] += 1
        if state["down"]:
            return 500, b"Internal Server Error"
        file = MIRROR / path.removeprefix("/sas/")
        return (200, file.read_bytes()) if file.is_file() else (404, b"not found")

    return handler


@needs_local_run
def test_archive_down_fails_the_run_and_a_rerun_recovers_the_same_catalogue(tmp_path):
    """Trial 1: while the archive answers HTTP 500, the run fails (non-zero exit, no
    catalogue, no field quarantined); once it answers, the same command builds the catalogue
    of an undisturbed run."""
    config = yaml.safe_load(demo_config_with_local_models(tmp_path).read_text())
    state = {"down": True, "requests": 0}
    with LocalHTTPServer(_archive(state)) as archive:
        config["simulate"]["enabled"] = False
        config["sdss"].update(
            frame_source="sas",
            sas_base_url=archive.url + "/sas",
            mirror_root=str(MIRROR),  # PhotoObjAll from the mirror, frames over HTTP
            download={"retries": 2, "backoff_s": 0.0, "timeout_s": 10},
        )
        path = tmp_path / "config.yaml"
        path.write_text(yaml.safe_dump(config))
        cmd = [SNAKEMAKE, "results/catalog/catalog.parquet", "--snakefile", str(REPO / "Snakefile")]
        cmd += ["--directory", str(tmp_path), "--configfile", str(path), "--cores", "2", "--keep-going"]
        down = subprocess.run(cmd, capture_output=True, text=True)
        assert down.returncode != 0 and state["requests"] >= 3
        assert "HTTP 500 after 3 attempts" in down.stdout + down.stderr
        assert not (tmp_path / "results" / "catalog" / "catalog.parquet").exists()
        assert not list((tmp_path / "resources" / "frames").rglob("block-*.json"))  # nothing quarantined
        assert not list((tmp_path / "resources" / "frames").rglob("*.part*"))  # no debris
        state["down"] = False
        up = subprocess.run(cmd, capture_output=True, text=True)
    assert up.returncode == 0, (up.stdout + up.stderr)[-4000:]
    local = pd.read_parquet(LOCAL_RUN / "catalog" / "catalog.parquet")
    recovered = pd.read_parquet(tmp_path / "results" / "catalog" / "catalog.parquet")
    assert len(local) > 0
    pd.testing.assert_frame_equal(local, recovered)
