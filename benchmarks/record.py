"""One output format for every benchmark: its results as JSON with the date, the commit, the
machine and the command that produced them, and the Markdown table it printed.

Each benchmark calls `write_record(path, results)` where it writes its JSON. The table is
every printed line that starts with ``|`` (the Markdown tables the scripts print), caught
by a tee on standard output that this module installs when a benchmark script imports it. The
documentation renders the records under ``docs/measurements/data/``
(``python benchmarks/publish.py benchmarks/out/NAME.json`` copies one there after checking it).
"""

from __future__ import annotations

import io
import json
import os
import platform
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
#: The keys every record carries (checked by publish.py and the documentation build).
RECORD_KEYS = ("benchmark", "date", "commit", "machine", "command", "table", "results")


class _Tee(io.TextIOBase):
    """Standard output that also keeps what passes through it."""

    def __init__(self, stream):
        self.stream = stream
        self.lines: list[str] = []
        self._partial = ""

    def write(self, text: str) -> int:
        self.stream.write(text)
        parts = (self._partial + text).split("\n")
        self._partial = parts.pop()
        self.lines.extend(parts)
        return len(text)

    def flush(self) -> None:
        self.stream.flush()


def _run_as_benchmark() -> bool:
    """Whether the running script is one of the benchmarks (not a test importing them)."""
    main_file = getattr(sys.modules.get("__main__"), "__file__", None)
    return bool(main_file) and Path(main_file).resolve().parent == Path(__file__).resolve().parent


_tee = sys.stdout if isinstance(sys.stdout, _Tee) else _Tee(sys.stdout) if _run_as_benchmark() else None
if _tee is not None:
    sys.stdout = _tee


def git_commit() -> str:
    """The checkout's commit, with ``-dirty`` when tracked files differ from it."""

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=False).stdout.strip()

    sha = git("rev-parse", "--short=12", "HEAD") or "unknown"
    return sha + ("-dirty" if git("status", "--porcelain", "--untracked-files=no") else "")


def machine() -> dict:
    """What the numbers were measured on: CPU cores, memory, the GPU if torch sees one."""
    info = {
        "platform": platform.platform(terse=True),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "cpu_affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
    }
    try:
        info["memory_gib"] = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError):
        pass
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def _plain(value):
    """JSON for numpy scalars and arrays, paths and anything else the scripts hold."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return str(value)


def write_record(path: str | Path, results, name: str | None = None) -> Path:
    """Write ``results`` with the record's header to ``path`` (JSON).

    Parameters
    ----------
    path : str or Path
        The JSON file (by convention ``benchmarks/out/{benchmark}.json``).
    results : dict or list
        What the benchmark measured.
    name : str, optional
        The benchmark's name; the running script's file name if None.
    """
    path = Path(path)
    record = {
        "benchmark": name or Path(sys.argv[0]).stem,
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "commit": git_commit(),
        "machine": machine(),
        "command": " ".join(["python", *sys.argv]),
        "table": [ln for ln in _tee.lines if ln.startswith("|")] if _tee is not None else [],
        "results": results,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=1, default=_plain))
    print(f"written {path}")
    return path
