"""Catalogue quality of a finished workflow run on a simulated survey, against exact truth:
objIDs on two rows, pairs closer than 0.5", completeness, median position error and class
accuracy by r magnitude (each with its sample size).

    python benchmarks/catalog_quality.py --workdir DIR --configfile DIR/config.yaml [OVERLAY.yaml] --label NAME

DIR is the workflow's working directory (results/ and the simulated mirror). Prints a table;
writes benchmarks/out/catalog_quality-NAME.json.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd
import yaml

from yl8c4net.catalog.quality import class_scores, score_catalog
from yl8c4net.config import merge_configs
from yl8c4net.sdss.fields import FieldId
from yl8c4net.simulate.mirror import truth_relpath
from record import write_record


def merged_config(paths) -> dict:
    """Config files merged in order (Snakemake's rule for several --configfile files)."""
    cfg = {}
    for path in paths:
        cfg = merge_configs(cfg, yaml.safe_load(Path(path).read_text()))
    return cfg


def catalogued_fields(cfg: dict) -> list[FieldId]:
    """Every field of the config's catalogue runs."""
    rerun = cfg["sdss"].get("rerun", 301)
    return [
        FieldId(r["run"], camcol, field, rerun)
        for r in cfg["runs"]
        if "catalog" in r.get("roles", ["catalog"])
        for camcol in r["camcols"]
        for field in range(r["fields"][0], r["fields"][1] + 1)
    ]


def catalogue_truth(workdir: Path, cfg: dict) -> pd.DataFrame:
    """Truth tables of every field of the config's catalogue runs."""
    mirror = workdir / cfg["sdss"]["mirror_root"]
    parts = [
        pd.read_parquet(mirror / Path(*truth_relpath(fid).parts), columns=["ra", "dec", "r", "class", "objid", "mode"])
        for fid in catalogued_fields(cfg)
    ]
    return pd.concat(parts, ignore_index=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workdir", type=Path, default=Path("."))
    ap.add_argument(
        "--configfile",
        type=Path,
        nargs="+",
        default=[Path("config.yaml")],
        help="the run's config file(s); later files merge over earlier ones, as in Snakemake",
    )
    ap.add_argument("--label", default="demo")
    ap.add_argument(
        "--found-radius",
        type=float,
        default=1.0,
        help="a truth source counts as found with a row within this many arcsec (default 1)",
    )
    args = ap.parse_args()
    cfg = merged_config(args.configfile)
    catalog = pd.read_parquet(args.workdir / "results/catalog/catalog.parquet")
    unmatched = pd.read_parquet(args.workdir / "results/catalog/unmatched.parquet")
    score = score_catalog(catalog, unmatched, catalogue_truth(args.workdir, cfg), args.found_radius)
    print(
        f'{args.label} (found within {args.found_radius:g}"): {score["rows"]} rows, {score["unmatched_rows"]} unmatched, objIDs on two rows: '
        f'{score["objid_twice"]}, pairs < 0.5": {score["pairs_lt_0p5"]}, median position error r < 20: '
        f'{score["position_error_median_r_lt_20_arcsec"]:.3f}" (n = {score["n_rows_r_lt_20"]}), class accuracy '
        f"{score['class_accuracy']:.3f} (n = {score['n_rows_scored']})"
    )
    print(f"{'r':>10} {'n truth':>8} {'complete':>9} {'n rows':>7} {'pos err':>8} {'class acc':>9}")
    for label, b in score["by_r"].items():
        fmt = lambda v, f: "-" if v is None else format(v, f)  # noqa: E731
        print(
            f"{label:>10} {b['n_truth']:>8} {fmt(b['completeness'], '.3f'):>9} {b['n_rows']:>7} "
            f"{fmt(b['position_error_median_arcsec'], '.3f'):>8} {fmt(b['class_accuracy'], '.3f'):>9}"
        )
    truth = catalogue_truth(args.workdir, cfg)
    print(
        f"{'answer':>12} {'n':>6} {'accuracy':>8} {'r<19 acc':>8} {'STAR rec':>8} {'QSO pur':>8} {'QSO comp':>8} {'QSO share':>15} {'ECE':>6}"
    )
    score["classes"] = {}
    for answer in ("", "_image"):
        if f"class{answer}" not in catalog.columns:
            continue
        c = class_scores(catalog, truth, answer)
        score["classes"][c["answer"]] = c
        fmt = lambda v: "-" if v is None else f"{v:.3f}"  # noqa: E731
        print(
            f"{c['answer']:>12} {c['n']:>6} {c['accuracy']:8.3f} {fmt(c['accuracy_r_lt_19']):>8} "
            f"{fmt(c['STAR']['recall']):>8} {fmt(c['QSO']['purity']):>8} {fmt(c['QSO']['recall']):>8} "
            f"{c['QSO']['called_share']:7.2%} / {c['QSO']['true_share']:.2%} {fmt(c['ece']):>6}"
        )
    out = Path(__file__).resolve().parent / "out" / f"catalog_quality-{args.label}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    write_record(out, score)


if __name__ == "__main__":
    main()
