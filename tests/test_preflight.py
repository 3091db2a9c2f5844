"""Output directories the workflow cannot write into are one line naming them."""

import os

from test_workflow import REPO, snakemake
from yl8c4net.pipeline.preflight import unwritable_output_dirs


def test_unwritable_and_misplaced_output_directories_are_named(tmp_path, monkeypatch):
    (tmp_path / "results" / "catalog" / "runs").mkdir(parents=True)
    (tmp_path / "resources").mkdir()
    (tmp_path / "resources" / "frames").write_text("a file where a directory belongs")
    assert unwritable_output_dirs(tmp_path, permissions=False) == [
        f"{tmp_path / 'resources' / 'frames'}: not a directory (the workflow writes files under it)"
    ]
    # Running as root, a read-only mode would not stop us: ask os.access as another user would.
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: real_access(p, mode) and not str(p).endswith("catalog"))
    found = unwritable_output_dirs(tmp_path)
    assert (
        f"{tmp_path / 'results' / 'catalog'}: not writable by this user (the workflow writes files under it)" in found
    )
    assert len(found) == 2  # nothing under the unwritable directory is listed again
    assert unwritable_output_dirs(tmp_path / "nowhere") == []  # not created yet: the jobs will


def test_a_file_where_an_output_directory_belongs_is_one_line_even_in_a_dry_run(tmp_path):
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "catalog").write_text("")
    res = snakemake("-n", cwd=tmp_path, config_file=REPO / "config.yaml")
    assert res.returncode != 0
    lines = [ln for ln in (res.stdout + res.stderr).splitlines() if ln.strip()]
    assert lines == ["ERROR results/catalog: not a directory (the workflow writes files under it)"]
