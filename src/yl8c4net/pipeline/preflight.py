"""Checks of the directories the workflow writes into, so that a misplaced or read-only
output directory is one line naming it, not a Snakemake traceback: a file where a directory
belongs is found when the workflow is read (Snakemake's DAG would fail on it, dry runs
included); a directory this user cannot write is found before the first job starts (the
Snakefile's ``onstart``, which dry runs skip: a read-only project can still be inspected)."""

from __future__ import annotations

import os
from pathlib import Path

#: Top-level directories the workflow writes into (relative to the working directory).
OUTPUT_ROOTS = ("results", "resources", "logs")


def unwritable_output_dirs(
    workdir: str | Path = ".", roots=OUTPUT_ROOTS, depth: int = 2, permissions: bool = True
) -> list[str]:
    """One line per output directory, down to ``depth`` levels under each root, that the
    workflow could not write into: not a directory, or (``permissions``) without write and
    search permission for this user. Directories that do not exist yet are created by the
    jobs and not checked."""
    problems = []
    workdir = Path(workdir)

    def visit(path: Path, level: int) -> None:
        if not path.exists() and not path.is_symlink():
            return
        if not path.is_dir():
            problems.append(f"{path}: not a directory (the workflow writes files under it)")
            return
        if permissions and not os.access(path, os.W_OK | os.X_OK):
            problems.append(f"{path}: not writable by this user (the workflow writes files under it)")
            return
        if level < depth:
            for child in sorted(path.iterdir()):
                if child.is_dir() or not child.suffix:
                    visit(child, level + 1)

    for root in roots:
        visit(workdir / root, 0)
    return problems
