"""Threads or processes for a classify block job's fields in flight (``field_workers.pool``):
the job's own code (`yl8c4net.pipeline.blocks.run_block` with rule classify_block's
`FieldClassificationRecipe`: cut-outs, Conv4Net, centroids, forced photometry, WCS, write)
on the same block of fields one at a time, with K threads and with K worker processes.

    python benchmarks/block_throughput.py --fields 16 --workers 1 --frame-storage fits
    python benchmarks/field_pool.py [--workers 2] [--rounds 3]

It reads the fields the first command left in ``--work`` (its ``fits-workers-1`` directory:
fetched frames, composites, detections) as one block and writes the classified files to a
scratch directory. Each job is timed as a block job runs: loading the classifier (in
threads mode once, in processes mode once per spawned worker) is inside the time. The three
modes run in turn, ``--rounds`` times, so that a slow minute of a shared machine falls on all
of them; the table gives each mode's median and range. The classified rows of every job must
be identical to the serial job's (checked). Prints a table and writes
benchmarks/out/field_pool.json.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import tempfile
import time
from pathlib import Path

import block_throughput
import pandas as pd
from record import write_record

REPO = Path(__file__).resolve().parents[1]
MODES = ("serial", "threads", "processes")


def layout(source: Path, out: Path) -> dict:
    """block_throughput's per-field files under ``source``, the classified files under ``out``."""
    return {**block_throughput.layout(source), "classified": str(out / "{run}-{camcol}-{field}.parquet")}


def field_ids(source: Path):
    from yl8c4net.sdss.fields import FieldId

    paths = sorted((source / "detections").glob("*/*/*.parquet"))
    if not paths:
        raise SystemExit(
            f"ERROR {source}: no detections; run benchmarks/block_throughput.py --frame-storage fits first"
        )
    return [FieldId(int(p.parent.parent.name), int(p.parent.name), int(p.stem), 301) for p in paths]


def block_job(mode: str, workers: int, fields: list, files: dict) -> float:
    """Wall seconds of a classify block job on ``fields`` (one run and camcol), as the rule
    runs it: the recipe built (per process or once), every field classified, the manifest."""
    import torch

    from yl8c4net.classify.field import FieldClassificationRecipe
    from yl8c4net.pipeline.blocks import FieldBlock, run_block
    from yl8c4net.pipeline.model_files import shipped_model

    recipe = FieldClassificationRecipe(
        weights=str(shipped_model("classifier")),
        in_channels=3,
        device="cpu",
        files=files,
        options={"centroid_window_fwhm_arcsec": 1.0},
    )
    block = FieldBlock(fields[0].run, fields[0].camcol, tuple(f.field for f in fields), fields[0].rerun)
    quiet = logging.getLogger("field_pool.job")
    threads = torch.get_num_threads()
    t0 = time.perf_counter()
    try:
        run_block(
            "classify",
            block,
            Path(files["classified"]).parent / "manifest.json",
            [],
            recipe,
            quiet,
            files=files,
            workers=1 if mode == "serial" else workers,
            pool="processes" if mode == "processes" else "threads",
        )
        return time.perf_counter() - t0
    finally:
        torch.set_num_threads(threads)  # the recipe set one thread in this process


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=REPO / "benchmarks" / "out" / "block_throughput")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3, help="times each mode runs, in turn")
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "out" / "field_pool.json")
    args = ap.parse_args(argv)
    from yl8c4net.pipeline.blocks import field_path

    logging.basicConfig(level=logging.WARNING)
    source = args.work / "fits-workers-1"
    fields = field_ids(source)
    seconds = {mode: [] for mode in MODES}
    reference, identical = None, True
    for round_ in range(args.rounds):
        for mode in MODES:
            with tempfile.TemporaryDirectory() as tmp:
                files = layout(source, Path(tmp))
                seconds[mode].append(block_job(mode, args.workers, fields, files))
                rows = [pd.read_parquet(field_path(files["classified"], f)) for f in fields]
            if reference is None:
                reference = rows
            else:
                identical &= all(a.equals(b) for a, b in zip(reference, rows, strict=True))
            print(f"round {round_ + 1}, {mode}: {seconds[mode][-1] / len(fields):.3f} s per field", flush=True)
    serial = statistics.median(seconds["serial"])
    table = []
    for mode in MODES:
        s = seconds[mode]
        table.append(
            {
                "pool": mode,
                "workers": 1 if mode == "serial" else args.workers,
                "s_per_field_median": statistics.median(s) / len(fields),
                "s_per_field_range": [min(s) / len(fields), max(s) / len(fields)],
                "speed_up": serial / statistics.median(s),
                "speed_up_range": [min(seconds["serial"]) / max(s), max(seconds["serial"]) / min(s)],
            }
        )
    print(
        f"\nclassify block job of {len(fields)} fields, {args.rounds} rounds (model loads and worker starts "
        f"included), torch one thread per field in flight\n"
    )
    print("| pool | workers | s per field (median) | range | speed-up (median) |\n|---|---|---|---|---|")
    for row in table:
        lo, hi = row["s_per_field_range"]
        print(
            f"| {row['pool']} | {row['workers']} | {row['s_per_field_median']:.3f} | {lo:.3f}-{hi:.3f} "
            f"| {row['speed_up']:.2f} |"
        )
    print(f"\nclassified rows identical across all jobs: {identical}")
    result = {
        "fields": len(fields),
        "rounds": args.rounds,
        "seconds": seconds,
        "rows": table,
        "identical": identical,
    }
    write_record(args.out, result)
    return result


if __name__ == "__main__":
    main()
