"""Command line: ``yl8c4net field-index`` caches the field lists of the config's runs;
``yl8c4net check-config`` validates config files with their file, line and key named;
``yl8c4net config-docs`` writes the config reference generated from the schema."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .errors import YL8C4NetError

#: The Snakefile's own ``configfile:``; ``--configfile`` files go on top of it.
BASE_CONFIG = "config.yaml"


def build_parser() -> argparse.ArgumentParser:
    """The ``yl8c4net`` argument parser (also read by the documentation's CLI reference)."""
    from . import __version__

    ap = argparse.ArgumentParser(prog="yl8c4net", description=__doc__)
    ap.add_argument("--version", action="version", version=f"yl8c4net {__version__}")
    sub = ap.add_subparsers(dest="command", required=True)
    fi = sub.add_parser("field-index", help="cache each run's field list (SkyServer Field table, or the mirror)")
    fi.add_argument(
        "--configfile",
        nargs="+",
        default=[],
        metavar="FILE",
        help="config files on top of ./config.yaml, later ones overriding earlier ones (as snakemake --configfile)",
    )
    fi.add_argument(
        "--all", action="store_true", help="also index runs that give a fields range (default: only runs without one)"
    )
    check = sub.add_parser(
        "check-config",
        help="validate config files as the workflow will (on top of ./config.yaml); names the file, line and key",
    )
    check.add_argument("--configfile", nargs="+", default=[], metavar="FILE", help="as for field-index")
    docs = sub.add_parser("config-docs", help="write the config reference (Markdown) generated from the schema")
    docs.add_argument("--out", default="-", help="output file (default: standard output)")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "config-docs":
        return write_config_docs(args.out)
    try:
        base = [BASE_CONFIG] if Path(BASE_CONFIG).is_file() and BASE_CONFIG not in args.configfile else []
        if args.command == "check-config":
            from .config import field_ids, load_config

            cfg = load_config(base + args.configfile)
            print(f"config OK: {len(cfg['runs'])} run(s), {len(field_ids(cfg))} fields")
            return 0
        from .config import catalog_backend, load_config
        from .field_index import write_field_index

        cfg = load_config(base + args.configfile)
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


def write_config_docs(out: str) -> int:
    from .config import load_schema
    from .config_docs import render_config_reference
    from .io import write_text_atomic

    text = render_config_reference(load_schema())
    if out == "-":
        sys.stdout.write(text)
    else:
        write_text_atomic(text, out)
        print(f"config reference written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
