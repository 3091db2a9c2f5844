"""Publish benchmark records to the documentation: copy ``benchmarks/out/NAME.json`` files
to ``docs/measurements/data/`` after checking that each is a complete record
(`record.RECORD_KEYS`) measured on a clean commit.

    python benchmarks/publish.py benchmarks/out/qso_ceiling.json [...]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from record import RECORD_KEYS, REPO

DATA = REPO / "docs" / "measurements" / "data"


def check_record(path: Path) -> dict:
    """The record in ``path``; SystemExit with one line naming the file if it is not one."""
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise SystemExit(f"ERROR {path}: not a readable JSON record ({exc})") from None
    missing = [k for k in RECORD_KEYS if k not in record]
    if missing:
        raise SystemExit(f"ERROR {path}: not a benchmark record (missing {', '.join(missing)})")
    if record["commit"].endswith("-dirty") or record["commit"] == "unknown":
        raise SystemExit(f"ERROR {path}: measured on uncommitted code ({record['commit']}); commit and rerun")
    return record


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("records", nargs="+", type=Path)
    args = ap.parse_args(argv)
    DATA.mkdir(parents=True, exist_ok=True)
    for path in args.records:
        record = check_record(path)
        dest = DATA / f"{record['benchmark']}.json"
        shutil.copyfile(path, dest)
        print(f"{path} -> {dest.relative_to(REPO)} ({record['date']}, {record['commit']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
