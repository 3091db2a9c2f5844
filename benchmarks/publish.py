"""Publish benchmark records to the documentation: copy ``benchmarks/out/NAME.json`` files
to ``docs/measurements/data/`` after checking that each is a complete record
(`record.RECORD_KEYS`) measured on a clean commit. A benchmark's record is published as
``BENCHMARK.json``; ``--name`` publishes one record of a benchmark beside it under another
name (``--name catalog_quality-em``: the same survey with another setting).

    python benchmarks/publish.py benchmarks/out/qso_ceiling.json [...]
    python benchmarks/publish.py --name catalog_quality-em benchmarks/out/catalog_quality-unseen-em.json
"""

from __future__ import annotations

import argparse
import json
import re
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
    ap.add_argument("--name", help="publish the one record given as NAME.json (NAME starts with its benchmark's name)")
    args = ap.parse_args(argv)
    if args.name is not None and len(args.records) != 1:
        ap.error("--name takes one record")
    DATA.mkdir(parents=True, exist_ok=True)
    for path in args.records:
        record = check_record(path)
        name = args.name or record["benchmark"]
        if not re.fullmatch(rf"{re.escape(record['benchmark'])}(-[A-Za-z0-9_]+)?", name):
            raise SystemExit(f"ERROR {path}: --name {name}: must be {record['benchmark']}-SUFFIX (letters, digits, _)")
        dest = DATA / f"{name}.json"
        shutil.copyfile(path, dest)
        print(
            f"{path} -> {dest.relative_to(REPO) if dest.is_relative_to(REPO) else dest} ({record['date']}, {record['commit']})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
