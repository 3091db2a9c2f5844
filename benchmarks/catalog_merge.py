"""The catalogue merge at scale (rule catalog): run partitions into one Parquet file and its
FITS copy, on synthetic partitions with every catalogue column.

    python benchmarks/catalog_merge.py [--runs 5] [--rows-per-run 1000000] [--compare]

The merge streams: one row group of a partition (`yl8c4net.catalog.files.ROW_GROUP_ROWS`
rows) in memory at a time, for the Parquet file and for the FITS copy. The merge runs in its
own process so that its peak memory (ru_maxrss) is its own; the partitions are written by
another. ``--compare`` also merges them with every partition in memory at once, in a third
process, side by side. Prints a table (seconds, peak memory, and the size in memory of one
partition and of the whole catalogue as pandas holds them) and writes
benchmarks/out/catalog_merge.json.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from catalog_scale import in_process
from record import write_record


def synthetic_partition(run: int, n: int) -> pd.DataFrame:
    """``n`` catalogue rows of run ``run`` with every column of the catalogue, random values
    of each column's type."""
    from yl8c4net.catalog.columns import CATALOG_COLUMNS, CLASS_DTYPE

    rng = np.random.default_rng(run)
    out = {}
    for name, (dtype, _, _) in CATALOG_COLUMNS.items():
        if dtype is CLASS_DTYPE or str(dtype) == "category":
            out[name] = pd.Categorical.from_codes(rng.integers(0, 3, n), dtype=CLASS_DTYPE)
        elif str(dtype).startswith("float"):
            out[name] = rng.normal(20, 2, n).astype(dtype)
        elif str(dtype).startswith("int"):
            out[name] = rng.integers(0, 30000, n).astype(dtype)
        elif dtype == "bool":
            out[name] = rng.random(n) < 0.1
        else:
            out[name] = np.where(rng.random(n) < 0.5, "a", "bb")
    out["run"] = np.full(n, run, np.int32)
    return pd.DataFrame(out)


def write_partitions(runs: int, queue, rows: int, workdir: Path) -> None:
    from yl8c4net.catalog.columns import CATALOG_COLUMNS
    from yl8c4net.catalog.files import write_catalog_parquet

    paths, one_gb = [], 0.0
    for k in range(runs):
        frame = synthetic_partition(9000 + k, rows)
        one_gb = frame.memory_usage(deep=True).sum() / 1e9
        paths.append(
            str(write_catalog_parquet(frame, workdir / f"{9000 + k}.parquet", {"run": 9000 + k}, CATALOG_COLUMNS))
        )
    queue.put({"partitions": paths, "partition_in_memory_gb": one_gb})


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6


def timed_merge(write_parquet, write_fits) -> dict:
    """Seconds and peak memory of ``write_parquet()`` (returns the rows) and then
    ``write_fits()``, with the process's peak before them (its imports)."""
    baseline = peak_rss_gb()
    t0 = time.perf_counter()
    rows = write_parquet()
    t1 = time.perf_counter()
    parquet_peak = peak_rss_gb()
    write_fits()
    t2 = time.perf_counter()
    return {
        "rows": rows,
        "baseline_rss_gb": baseline,
        "parquet_s": t1 - t0,
        "fits_s": t2 - t1,
        "parquet_peak_rss_gb": parquet_peak,
        "peak_rss_gb": peak_rss_gb(),
    }


def merge(partitions: list[str], queue, workdir: Path) -> None:
    from yl8c4net.catalog.columns import CATALOG_COLUMNS
    from yl8c4net.catalog.fits_copy import write_catalog_fits
    from yl8c4net.catalog.partition import merge_partitions

    result = timed_merge(
        lambda: merge_partitions(partitions, workdir / "catalog.parquet", CATALOG_COLUMNS, "benchmark"),
        lambda: write_catalog_fits(workdir / "catalog.parquet", workdir / "catalog.fits"),
    )
    queue.put({**result, "fits_gb": (workdir / "catalog.fits").stat().st_size / 1e9})


def merge_in_memory(partitions: list[str], queue, workdir: Path) -> None:
    """The same files the way a merge without streaming makes them, for comparison: every
    partition read into one table, written at once; the FITS copy through one astropy
    table of the whole catalogue."""
    from astropy.io import fits
    from astropy.table import Table

    from yl8c4net.catalog.columns import CATALOG_COLUMNS
    from yl8c4net.catalog.files import write_catalog_parquet
    from yl8c4net.catalog.partition import merge_partitions  # noqa: F401 (the same imports as the rule's)

    def write_parquet() -> int:
        frame = pd.concat([pd.read_parquet(p) for p in partitions], ignore_index=True)
        write_catalog_parquet(frame, workdir / "in_memory.parquet", {"code_version": "benchmark"}, CATALOG_COLUMNS)
        return len(frame)

    def write_fits() -> None:
        table = Table.read(workdir / "in_memory.parquet", format="parquet")
        table.meta.clear()
        fits.HDUList([fits.PrimaryHDU(), fits.table_to_hdu(table)]).writeto(workdir / "in_memory.fits")

    queue.put(timed_merge(write_parquet, write_fits))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5, help="run partitions")
    ap.add_argument("--rows-per-run", type=int, default=1_000_000)
    ap.add_argument(
        "--compare", action="store_true", help="also merge with every partition in memory at once, in its own process"
    )
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        parts = in_process(write_partitions, args.runs, args.rows_per_run, Path(tmp))
        result = in_process(merge, parts["partitions"], Path(tmp))
        whole = in_process(merge_in_memory, parts["partitions"], Path(tmp)) if args.compare else None
    result.update(
        runs=args.runs,
        rows_per_run=args.rows_per_run,
        partition_in_memory_gb=parts["partition_in_memory_gb"],
        catalogue_in_memory_gb=parts["partition_in_memory_gb"] * args.runs,
    )
    if whole:
        result["in_memory"] = whole
    print(
        "| merge | runs x rows | Parquet merge s | FITS copy s | process after imports GB | peak GB, Parquet "
        "| peak GB, with FITS | one partition in memory GB | whole catalogue in memory GB | FITS file GB |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for label, r in (("streamed", result), ("all in memory", whole)):
        if r is None:
            continue
        print(
            f"| {label} | {args.runs} x {args.rows_per_run:,} | {r['parquet_s']:.1f} | {r['fits_s']:.1f} | "
            f"{r['baseline_rss_gb']:.2f} | {r['parquet_peak_rss_gb']:.2f} | {r['peak_rss_gb']:.2f} | "
            f"{result['partition_in_memory_gb']:.2f} | "
            f"{result['catalogue_in_memory_gb']:.2f} | {result['fits_gb']:.2f} |"
        )
    out = Path(__file__).resolve().parent / "out" / "catalog_merge.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    write_record(out, result)


if __name__ == "__main__":
    main()
