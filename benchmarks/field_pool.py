"""Threads or processes for a GPU job's per-field CPU work: the classify stage
(`FieldClassification`: cut-outs, Conv4Net, centroids, forced photometry, WCS, write) on the
same fields one at a time, with K threads (what ``field_workers.gpu`` runs today) and with K
processes, each with one torch thread so that only the pool's parallelism differs.

    python benchmarks/block_throughput.py --fields 6 --workers 1 --frame-storage fits
    python benchmarks/field_pool.py [--workers 2] [--repeat 2]

It reads the fields the first command left in ``--work`` (its ``fits-workers-1`` directory:
fetched frames, composites, detections) and writes its classified files to a scratch
directory. What it says: how much of the stage's per-field work the GIL lets threads run in
parallel, against processes on the same cores. The classified rows of the three runs must be
identical (checked). Prints a table and writes benchmarks/out/field_pool.json.
"""

from __future__ import annotations

import argparse
import multiprocessing
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

import block_throughput
import pandas as pd
from record import write_record

REPO = Path(__file__).resolve().parents[1]
CLASSIFIER = REPO / "src" / "yl8c4net" / "models" / "classifier.pt"

_classify = None  # the worker's FieldClassification (one per process, shared by threads)


def _start_worker(files: dict) -> None:
    """Load the classifier once in this process, with one torch thread."""
    global _classify
    import torch

    from yl8c4net.classify.field import FieldClassification
    from yl8c4net.classify.train import load_classifier

    torch.set_num_threads(1)
    model, norm, _ = load_classifier(CLASSIFIER, device="cpu")
    _classify = FieldClassification(model, norm, files, 1.0)


def _classify_field(fid) -> None:
    _classify(fid)


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


def timed_run(mode: str, workers: int, fields: list, files: dict) -> float:
    """Wall seconds to classify ``fields`` serially, or with ``workers`` threads or processes
    (workers started and warmed on one field before the clock starts)."""
    # The worker functions by their module's name, so that spawned processes find them also
    # when this file runs as __main__ (directly or through run.py).
    import field_pool as this

    if mode == "serial":
        this._start_worker(files)
        this._classify_field(fields[0])
        t0 = time.perf_counter()
        for fid in fields:
            this._classify_field(fid)
        return time.perf_counter() - t0
    if mode == "threads":
        this._start_worker(files)
        this._classify_field(fields[0])
        with ThreadPoolExecutor(workers) as pool:
            t0 = time.perf_counter()
            list(pool.map(this._classify_field, fields))
            return time.perf_counter() - t0
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context, initializer=this._start_worker, initargs=(files,)) as pool:
        list(pool.map(this._classify_field, fields[:workers]))
        t0 = time.perf_counter()
        list(pool.map(this._classify_field, fields))
        return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=REPO / "benchmarks" / "out" / "block_throughput")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=2, help="each field classified this many times per run")
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "out" / "field_pool.json")
    args = ap.parse_args(argv)
    from yl8c4net.pipeline.blocks import field_path

    source = args.work / "fits-workers-1"
    fields = field_ids(source) * args.repeat
    rows, classified = [], {}
    for mode in ("serial", "threads", "processes"):
        with tempfile.TemporaryDirectory() as tmp:
            files = layout(source, Path(tmp))
            seconds = timed_run(mode, args.workers, fields, files)
            classified[mode] = [pd.read_parquet(field_path(files["classified"], f)) for f in fields]
        workers = 1 if mode == "serial" else args.workers
        rows.append({"pool": mode, "workers": workers, "s_per_field": seconds / len(fields)})
        print(f"{mode}: {seconds / len(fields):.3f} s per field", flush=True)
    serial = rows[0]["s_per_field"]
    for row in rows:
        row["speed_up"] = serial / row["s_per_field"]
    identical = all(
        a.equals(b)
        for mode in ("threads", "processes")
        for a, b in zip(classified["serial"], classified[mode], strict=True)
    )
    print(f"\nclassify on {len(fields)} fields ({len(fields) // args.repeat} distinct), torch 1 thread per worker\n")
    print("| pool | workers | s per field | speed-up |\n|---|---|---|---|")
    for row in rows:
        print(f"| {row['pool']} | {row['workers']} | {row['s_per_field']:.3f} | {row['speed_up']:.2f} |")
    print(f"\nclassified rows identical across the three: {identical}")
    result = {
        "fields": len(fields),
        "distinct_fields": len(fields) // args.repeat,
        "rows": rows,
        "identical": identical,
    }
    write_record(args.out, result)
    return result


if __name__ == "__main__":
    main()
