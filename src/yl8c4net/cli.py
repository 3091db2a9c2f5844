"""Command line: ``yl8c4net field-index`` caches the field lists of the config's runs."""

from __future__ import annotations

import argparse
import sys

from .errors import YL8C4NetError


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="yl8c4net", description=__doc__)
    sub = ap.add_subparsers(dest="command", required=True)
    fi = sub.add_parser("field-index", help="cache each run's field list (SkyServer Field table, or the mirror)")
    fi.add_argument("--configfile", default="config.yaml")
    fi.add_argument(
        "--all", action="store_true", help="also index runs that give a fields range (default: only runs without one)"
    )
    args = ap.parse_args(argv)
    try:
        from .config import catalog_backend, load_config
        from .field_index import write_field_index

        cfg = load_config(args.configfile)
        backend = catalog_backend(cfg)
        for r in cfg["runs"]:
            if "fields" in r and not args.all:
                print(f"run {r['run']}: has a fields range in the config, not indexed (--all indexes it)")
                continue
            path = write_field_index(backend, r["run"], cfg["sdss"]["rerun"], cfg["sdss"]["field_index_dir"])
            print(f"run {r['run']}: field index written to {path}")
    except YL8C4NetError as exc:
        print(f"ERROR {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
