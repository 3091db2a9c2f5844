"""Writing files so that a reader never sees half of one: every writer of the package goes
through `atomic_output` (a temporary name beside the target, renamed into place only when
the write finished; removed on any error), and checksums of what was written.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path


def sha256_of(path: str | Path) -> str:
    """Hex SHA-256 of a file's content."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def partial_path(path: str | Path) -> Path:
    """The temporary name `atomic_output` writes ``path`` under (``.{name}.part``), so
    readers, listings and verifiers can tell it from a finished file."""
    path = Path(path)
    return path.with_name(f".{path.name}.part")


@contextlib.contextmanager
def atomic_output(path: str | Path) -> Iterator[Path]:
    """Context manager: yields a temporary path beside ``path``; the caller writes it, and
    on a clean exit it is renamed to ``path`` (atomic on one file system). On any error the
    temporary file is removed and ``path`` is left as it was."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = partial_path(path)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_bytes_atomic(data: bytes, path: str | Path) -> Path:
    with atomic_output(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_text_atomic(text: str, path: str | Path) -> Path:
    with atomic_output(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def write_json_atomic(obj, path: str | Path) -> Path:
    """JSON, indented, keys sorted."""
    return write_text_atomic(json.dumps(obj, indent=1, sort_keys=True) + "\n", path)


def write_parquet(df, path: str | Path) -> Path:
    """A pandas table as Parquet, without its index."""
    with atomic_output(path) as tmp:
        df.to_parquet(tmp, index=False)
    return Path(path)
