"""Command line: ``yl8c4net region`` prints the runs, camcols and fields that cover a region of
the sky as a config's ``runs:`` block; ``yl8c4net field-index`` caches the field lists of the
config's runs; ``yl8c4net check-config`` validates config files with their file, line and key
named; ``yl8c4net config-docs`` writes the config reference generated from the schema."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from yl8c4net.errors import YL8C4NetError

#: The Snakefile's own ``configfile:``; ``--configfile`` files go on top of it.
BASE_CONFIG = "config.yaml"


def build_parser() -> argparse.ArgumentParser:
    """The ``yl8c4net`` argument parser (also read by the documentation's CLI reference)."""
    from yl8c4net import __version__

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
    reg = sub.add_parser(
        "region",
        help="print the runs/camcols/fields covering a sky region as a config's runs: block "
        "(SkyServer/CasJobs Field lookup, or the mirror's frame headers offline)",
    )
    shape = reg.add_mutually_exclusive_group(required=True)
    shape.add_argument("--ra", type=float, help="circle centre, right ascension (ICRS, deg); with --dec and --radius")
    shape.add_argument(
        "--box",
        type=float,
        nargs=4,
        metavar=("RA_MIN", "RA_MAX", "DEC_MIN", "DEC_MAX"),
        help="an RA/Dec box instead of a circle (ICRS, deg)",
    )
    reg.add_argument("--dec", type=float, help="circle centre, declination (ICRS, deg)")
    reg.add_argument("--radius", type=float, help="circle radius (arcmin)")
    reg.add_argument(
        "--all",
        action="store_true",
        help="every field that observed the region (default: the primary fields only, one run per sky position)",
    )
    reg.add_argument("--configfile", nargs="+", default=[], metavar="FILE", help="as for field-index: picks the source")
    reg.add_argument("--out", default="-", help="write the runs: block to this file (default: standard output)")
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
        if args.command == "region":
            return print_region(args, base)
        if args.command == "check-config":
            from yl8c4net.config import field_ids, load_config

            cfg = load_config(base + args.configfile)
            print(f"config OK: {len(cfg['runs'])} run(s), {len(field_ids(cfg))} fields")
            return 0
        from yl8c4net.config import catalog_backend, load_config
        from yl8c4net.sdss.field_index import write_field_index

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


def print_region(args, base: list[str]) -> int:
    """``yl8c4net region``: the covering fields as a ``runs:`` block."""
    from yl8c4net.config import catalog_backend, load_config
    from yl8c4net.errors import ConfigError
    from yl8c4net.io import write_text_atomic
    from yl8c4net.sdss.region import SkyRegion, fields_in_region, runs_block

    if args.box is not None:
        if args.dec is not None or args.radius is not None:
            raise ConfigError("--box: give either --box or --ra/--dec/--radius, not both")
        region = SkyRegion.rectangle(*args.box)
    else:
        if args.dec is None or args.radius is None:
            raise ConfigError("--ra: a circle needs --ra, --dec and --radius")
        region = SkyRegion.circle(args.ra, args.dec, args.radius)
    cfg = load_config(base + args.configfile)
    backend = catalog_backend(cfg)
    fields = fields_in_region(backend, region, cfg["sdss"]["rerun"], primary=not args.all)
    kind = "every field" if args.all else "primary fields"
    source = cfg["sdss"]["catalog_source"]
    where = f"mirror {cfg['sdss'].get('mirror_root')}" if source == "mirror" else source
    header = (
        f"# {kind} covering {region.describe()}: {len(fields)} fields in {fields['run'].nunique()} runs ({where})\n"
    )
    if fields.empty:
        print(f"ERROR no SDSS field covers {region.describe()} ({where})", file=sys.stderr)
        return 1
    text = header + runs_block(fields)
    if args.out == "-":
        sys.stdout.write(text)
    else:
        write_text_atomic(text, args.out)
        print(header.strip("# \n") + f"; written to {args.out}")
    return 0


def write_config_docs(out: str) -> int:
    from yl8c4net.config import load_schema
    from yl8c4net.config_docs import render_config_reference
    from yl8c4net.io import write_text_atomic

    text = render_config_reference(load_schema())
    if out == "-":
        sys.stdout.write(text)
    else:
        write_text_atomic(text, out)
        print(f"config reference written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
