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


BAD_FRAME = "frame-r-009101-3-0012.fits.bz2"


def _archive(state: dict):
    """Serve the local run's SAS-layout mirror; HTTP 500 while ``state['down']``; field
    12's r frame cut in half while ``state['corrupt']``."""

    def handler(method, path, query, body, headers):
        state["requests"] += 1
        if state["down"]:
            return 500, b"Internal Server Error"
        file = MIRROR / path.removeprefix("/sas/")
        if not file.is_file():
            return 404, b"not found"
        data = file.read_bytes()
        return 200, data[: len(data) // 2] if state["corrupt"] and file.name == BAD_FRAME else data

    return handler


@needs_local_run
def test_archive_down_then_a_corrupt_frame_then_recovery_give_the_undisturbed_catalogue(tmp_path):
    """Trial 1: while the archive answers HTTP 500, the run fails (non-zero exit, no
    catalogue, no field quarantined). Then the archive answers but one frame is corrupt: the
    field is quarantined and the run ends with exit 0 and the INCOMPLETE CATALOGUE line
    naming the retry command. Once the frame is fixed, that command builds the catalogue of
    an undisturbed run."""
    config = yaml.safe_load(demo_config_with_local_models(tmp_path).read_text())
    state = {"down": True, "corrupt": True, "requests": 0}
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
        partial = subprocess.run(cmd, capture_output=True, text=True)
        text = partial.stdout + partial.stderr
        assert partial.returncode == 0, text[-4000:]
        assert "INCOMPLETE CATALOGUE: built from 3 of 4 fields; 1 quarantined (stages: fetch" in text
        retry = "resources/frames/9101/3/block-0011-0012.json"
        assert f"snakemake --profile profiles/local -R {retry}" in text and BAD_FRAME in text
        state["corrupt"] = False
        up = subprocess.run(cmd + ["-R", retry], capture_output=True, text=True)
    assert up.returncode == 0, (up.stdout + up.stderr)[-4000:]
    assert "catalogue built from all 4 fields asked" in up.stdout + up.stderr
    local = pd.read_parquet(LOCAL_RUN / "catalog" / "catalog.parquet")
    recovered = pd.read_parquet(tmp_path / "results" / "catalog" / "catalog.parquet")
    assert len(local) > 0
    pd.testing.assert_frame_equal(local, recovered)


@needs_local_run
def test_mirror_outage_and_an_empty_photoobj_answer_are_repaired_by_the_plain_command(tmp_path):
    """Trial 2, on a real (not simulated) mirror: the whole mirror root away, then a frame
    behind a dangling link (an unmounted disk), fail their jobs and quarantine nothing; an empty PhotoObjAll table is that
    field's quarantine, counted in the catalogue (INCOMPLETE line, FITS NQUAR1) and its
    detections kept out of unmatched.parquet. Once both are repaired, the plain command, with
    no -R, gives the undisturbed catalogue: the mirror's tables are the PhotoObjAll blocks'
    inputs."""
    import shutil

    from astropy.io import fits

    mirror = tmp_path / "mirror"
    shutil.copytree(MIRROR, mirror, ignore=shutil.ignore_patterns("sim"))
    frame = next(mirror.rglob("frame-r-009101-3-0013.fits.bz2"))
    table = next(mirror.rglob("photoObjAll-009101-3-0012.parquet"))
    frame_copy, table_copy = tmp_path / frame.name, tmp_path / table.name
    shutil.move(frame, frame_copy)
    frame.symlink_to(tmp_path / "unmounted" / frame.name)
    shutil.copyfile(table, table_copy)
    pd.read_parquet(table).iloc[:0].to_parquet(table, index=False)
    work = tmp_path / "work"
    work.mkdir()
    config = yaml.safe_load(demo_config_with_local_models(work).read_text())
    config["simulate"]["enabled"] = False
    config["sdss"]["mirror_root"] = str(mirror)
    path = work / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    cmd = [SNAKEMAKE, "--snakefile", str(REPO / "Snakefile"), "--directory", str(work), "--configfile", str(path)]
    cmd += ["--cores", "2", "--keep-going", "results/catalog/catalog.parquet", "results/catalog/catalog.fits"]

    # The whole mirror away (its disk not mounted): every job that reads it fails, and
    # nothing is quarantined, neither frames nor PhotoObjAll tables.
    away = tmp_path / "mirror-away"
    mirror.rename(away)
    unmounted = subprocess.run(cmd, capture_output=True, text=True)
    text = unmounted.stdout + unmounted.stderr
    assert unmounted.returncode != 0 and f"mirror root {mirror} is missing or unreadable" in text, text[-4000:]
    assert not list((work / "resources").rglob("block-*.json"))
    assert not (work / "results" / "catalog" / "catalog.parquet").exists()
    away.rename(mirror)

    outage = subprocess.run(cmd, capture_output=True, text=True)
    text = outage.stdout + outage.stderr
    assert outage.returncode != 0 and "a link to a file that is not there" in text, text[-4000:]
    assert not (work / "resources" / "frames" / "9101" / "3" / "block-0013-0014.json").exists()
    assert not (work / "results" / "catalog" / "catalog.parquet").exists()

    frame.unlink()
    shutil.move(frame_copy, frame)
    partial = subprocess.run(cmd, capture_output=True, text=True)
    text = partial.stdout + partial.stderr
    assert partial.returncode == 0, text[-4000:]
    assert "INCOMPLETE CATALOGUE: built from 3 of 4 fields; 1 quarantined (stages: photoobj" in text
    catalog = pd.read_parquet(work / "results" / "catalog" / "catalog.parquet")
    unmatched = pd.read_parquet(work / "results" / "catalog" / "unmatched.parquet")
    assert len(catalog) > 0 and (catalog["field"] != 12).all() and (unmatched["field"] != 12).all()
    assert fits.getheader(work / "results" / "catalog" / "catalog.fits", "CATALOG")["NQUAR1"] == 1

    shutil.copyfile(table_copy, table)
    repaired = subprocess.run(cmd, capture_output=True, text=True)
    text = repaired.stdout + repaired.stderr
    assert repaired.returncode == 0 and "catalogue built from all 4 fields asked" in text, text[-4000:]
    local = pd.read_parquet(LOCAL_RUN / "catalog" / "catalog.parquet")
    pd.testing.assert_frame_equal(local, pd.read_parquet(work / "results" / "catalog" / "catalog.parquet"))


def _as_another_user(cmd: list[str]) -> tuple[list[str], "callable"]:
    """``cmd`` run so that file modes bind it: as is when we are not root; as user nobody
    (setpriv) when we are, since root writes into a read-only directory. Also returns the
    function that hands a path to that user."""
    import os
    import pwd
    import shutil

    if os.geteuid() != 0:
        return cmd, lambda path: None
    if not shutil.which("setpriv"):
        pytest.skip("running as root without setpriv: a read-only directory cannot bind this user")
    nobody = pwd.getpwnam("nobody")

    def give(path: Path) -> None:
        for p in [path, *path.rglob("*")]:
            os.lchown(p, nobody.pw_uid, nobody.pw_gid)

    prefix = ["setpriv", f"--reuid={nobody.pw_uid}", f"--regid={nobody.pw_gid}", "--clear-groups"]
    # That user must be able to run the checkout's Python and read the workflow, the local
    # run's models and the mirror (a checkout under a private home directory is not).
    readable = [REPO / "Snakefile", LOCAL_RUN / "models" / "detector" / "yolov8.pt", MIRROR]
    probe = "import sys, os, snakemake, yl8c4net; sys.exit(not all(os.access(p, os.R_OK) for p in sys.argv[1:]))"
    if subprocess.run([*prefix, sys.executable, "-c", probe, *map(str, readable)], capture_output=True).returncode:
        pytest.skip(f"user nobody cannot run this checkout's Python or read {REPO}")
    return prefix + cmd, give


@needs_local_run
def test_a_read_only_catalogue_directory_is_one_line_and_the_plain_command_repairs():
    """Issue 34: a catalogue directory the user cannot write stops the run before its first
    job with one line naming it (no Snakemake traceback, nothing fetched); once its mode is
    repaired, the plain command gives the undisturbed catalogue."""
    import os
    import shutil
    import tempfile

    # Under /tmp itself: pytest's own tmp directories are private to the user running it.
    work = Path(tempfile.mkdtemp(prefix="yl8c4net-readonly-", dir="/tmp"))
    try:
        work.chmod(0o755)
        config = yaml.safe_load(demo_config_with_local_models(work).read_text())
        config["simulate"]["enabled"] = False
        config["sdss"]["mirror_root"] = str(MIRROR)
        (work / "config.yaml").write_text(yaml.safe_dump(config))
        catalog_dir = work / "results" / "catalog"
        catalog_dir.mkdir(parents=True)
        cmd = [SNAKEMAKE, "--snakefile", str(REPO / "Snakefile"), "--directory", str(work)]
        cmd += ["--configfile", str(work / "config.yaml"), "--cores", "2", "results/catalog/catalog.parquet"]
        blocked_cmd, give = _as_another_user(cmd)
        give(work)
        env = {**os.environ, "HOME": str(work), "XDG_CACHE_HOME": str(work / ".cache"), "YOLO_OFFLINE": "1"}
        catalog_dir.chmod(0o555)
        blocked = subprocess.run(blocked_cmd, capture_output=True, text=True, env=env, cwd=work)
        text = blocked.stdout + blocked.stderr
        assert blocked.returncode != 0, text[-3000:]
        errors = [ln for ln in text.splitlines() if "ERROR" in ln or "Error" in ln or "Traceback" in ln]
        expected = "ERROR results/catalog: not writable by this user (the workflow writes files under it)"
        assert errors == [expected], text[-3000:]
        assert not (work / "resources" / "frames").exists()  # no job started

        # Repaired, the plain command (as the user running the tests: the jobs' Python may
        # sit where user nobody cannot reach it, as under root's home here).
        catalog_dir.chmod(0o755)
        repaired = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=work)
        text = repaired.stdout + repaired.stderr
        assert repaired.returncode == 0 and "catalogue built from all 4 fields asked" in text, text[-4000:]
        local = pd.read_parquet(LOCAL_RUN / "catalog" / "catalog.parquet")
        pd.testing.assert_frame_equal(local, pd.read_parquet(catalog_dir / "catalog.parquet"))
    finally:
        shutil.rmtree(work, ignore_errors=True)
