"""Threads or processes for a classify block job's fields in flight (``field_workers.pool``):
the job's own code (`yl8c4net.pipeline.blocks.run_block` with rule classify_block's
`FieldClassificationRecipe`: cut-outs, Conv4Net, centroids, forced photometry, WCS, write)
on the same block of fields one at a time, with K threads and with K worker processes.

    python benchmarks/block_throughput.py --fields 16 --workers 1 --frame-storage fits
    python benchmarks/field_pool.py [--workers 2] [--rounds 3] [--sizes 8 16] [--block 100]

It reads the fields the first command left in ``--work`` (its ``fits-workers-1`` directory:
fetched frames, composites, detections) as one block and writes the classified files to a
scratch directory. Each job is timed as a block job runs: loading the classifier (in
threads mode once, in processes mode once per spawned worker) is inside the time. Jobs of
two sizes (``--sizes``, the first N fields) split each mode's time into a fixed cost per job
(worker start, model load, pool shutdown) and a cost per field, the slope between the two
sizes' medians, from which the seconds of a block of ``--block`` fields (the workflow's
``fields_per_block``) follow. The modes and sizes run in turn, ``--rounds`` times, so that a
slow minute of a shared machine falls on all of them. The classified rows of every job must
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
    from yl8c4net.images.labels import BoxTable
    from yl8c4net.pipeline.blocks import FieldBlock, run_block
    from yl8c4net.pipeline.model_files import shipped_model

    recipe = FieldClassificationRecipe(
        weights=str(shipped_model("classifier")),
        in_channels=3,
        device="cpu",
        files=files,
        options={"centroid_window_fwhm_arcsec": 1.0, "crop_box_table": BoxTable()},
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
    ap.add_argument("--rounds", type=int, default=3, help="times each mode and size runs, in turn")
    ap.add_argument("--sizes", type=int, nargs=2, default=[8, 16], help="fields of the small and the large job")
    ap.add_argument("--block", type=int, default=100, help="fields of the projected block job")
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "out" / "field_pool.json")
    args = ap.parse_args(argv)
    from yl8c4net.pipeline.blocks import field_path

    logging.basicConfig(level=logging.WARNING)
    source = args.work / "fits-workers-1"
    fields = field_ids(source)
    small, large = args.sizes
    if not 0 < small < large <= len(fields):
        raise SystemExit(f"ERROR --sizes {small} {large}: need 0 < small < large <= {len(fields)} (fields in {source})")
    with tempfile.TemporaryDirectory() as tmp:  # this process's first field pays its imports
        block_job("serial", 1, fields[:1], layout(source, Path(tmp)))
    seconds = {(mode, n): [] for mode in MODES for n in (small, large)}
    reference, identical = None, True
    for round_ in range(args.rounds):
        for n in (small, large):
            for mode in MODES:
                with tempfile.TemporaryDirectory() as tmp:
                    files = layout(source, Path(tmp))
                    seconds[mode, n].append(block_job(mode, args.workers, fields[:n], files))
                    rows = [pd.read_parquet(field_path(files["classified"], f)) for f in fields[:small]]
                if reference is None:
                    reference = rows
                else:
                    identical &= all(a.equals(b) for a, b in zip(reference, rows, strict=True))
                print(f"round {round_ + 1}, {n} fields, {mode}: {seconds[mode, n][-1]:.1f} s", flush=True)
    table = []
    for mode in MODES:
        t_small, t_large = (statistics.median(seconds[mode, n]) for n in (small, large))
        per_field = (t_large - t_small) / (large - small)
        table.append(
            {
                "pool": mode,
                "workers": 1 if mode == "serial" else args.workers,
                "job_s_median": {str(small): t_small, str(large): t_large},
                "job_s_range": {str(n): [min(seconds[mode, n]), max(seconds[mode, n])] for n in (small, large)},
                "fixed_s": t_small - small * per_field,
                "s_per_field": per_field,
                "block_s": t_small + (args.block - small) * per_field,
            }
        )
    for row in table:
        row["speed_up_at_large"] = table[0]["job_s_median"][str(large)] / row["job_s_median"][str(large)]
        row["speed_up_per_field"] = table[0]["s_per_field"] / row["s_per_field"]
        row["speed_up_block"] = table[0]["block_s"] / row["block_s"]
    print(
        f"\nclassify block jobs of {small} and {large} fields, {args.rounds} rounds (medians; model loads and "
        f"worker starts included), torch one thread per field in flight\n"
    )
    print(
        f"| pool | workers | job of {large} fields (s) | speed-up | fixed cost per job (s) | s per field "
        f"| speed-up per field | block of {args.block}: speed-up |\n|---|---|---|---|---|---|---|---|"
    )
    for row in table:
        print(
            f"| {row['pool']} | {row['workers']} | {row['job_s_median'][str(large)]:.1f} | "
            f"{row['speed_up_at_large']:.2f} | {row['fixed_s']:.1f} | {row['s_per_field']:.3f} | "
            f"{row['speed_up_per_field']:.2f} | {row['speed_up_block']:.2f} |"
        )
    print(f"\nclassified rows identical across all jobs: {identical}")
    result = {
        "fields": large,
        "sizes": [small, large],
        "rounds": args.rounds,
        "block": args.block,
        "seconds": {f"{mode}-{n}": s for (mode, n), s in seconds.items()},
        "rows": table,
        "identical": identical,
    }
    write_record(args.out, result)
    return result


if __name__ == "__main__":
    main()
