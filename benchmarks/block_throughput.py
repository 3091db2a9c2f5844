"""Fields per second of a block's jobs, end to end, with 1, 2, ... fields in flight.

    python benchmarks/block_throughput.py [--fields 16] [--workers 1 2] [--frame-storage bz2 fits]
        [--classify-pool threads processes] [--device auto]

Simulates ``--fields`` fields of one run at the real sky's densities (cached under
``--work``), then runs what the workflow's block jobs run on them, with the package's shipped
detector and classifier, in the workflow's per-field file layout:

- CPU jobs: fetch (from the simulated mirror: frames r + irg JPEG) and composite (the JPEG
  on the r grid, written as PNG), ``field_workers.cpu`` fields at a time;
- GPU jobs (``field_workers.gpu`` fields in flight): detect (`BatchedFieldDetector`, the
  network's batches of ``detector.batch_tiles`` tiles), then per field the flux
  verification on the r frame, the bright-source complement and the detections file
  (`FieldDetectionChain`); classify (`FieldClassification`: cut-outs, Conv4Net, windowed
  centroids on the r frame, WCS, the classified file).

Each worker count and frame storage (``sdss.frame_storage``: the archive's bz2 frames only, or
also an uncompressed copy written by the fetch) runs the same fields from the same inputs into
its own directory; the detections and classified rows must be identical across all of them
(checked, and said).
With one worker the wall time is split into stages per field. The peak resident memory of
each worker count's run is sampled (what a block job with that many fields in flight needs,
its worker processes included). With ``--classify-pool threads processes``, the classify job
of each worker count above one also runs in worker processes (``field_workers.pool``), the
start of the processes and their models counted in its wall time.
Prints a table and writes benchmarks/out/block_throughput.json (``fields_per_s`` and
``peak_rss_gb`` per worker count, the stage table, the machine and the commit).
"""

from __future__ import annotations

import argparse
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
from field_cost import benchmark_config, prepare_fields
from record import write_record

REPO = Path(__file__).resolve().parents[1]
STAGES = ("fetch", "composite", "network", "verify_write", "classify")


class StageClock:
    """Seconds per stage, summed over fields (thread-safe enough for one worker's split)."""

    def __init__(self):
        self.seconds = {s: 0.0 for s in STAGES}

    def timed(self, stage: str, fn):
        def wrapper(*args, **kwargs):
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds[stage] += time.perf_counter() - t0

        return wrapper


class PeakMemory:
    """The largest resident set size (bytes) of this process while the context is open,
    sampled every ``interval_s`` from /proc (Linux; None elsewhere). ru_maxrss cannot say it:
    it keeps the process's peak since it started."""

    def __init__(self, interval_s: float = 0.02):
        import threading

        self.interval_s = interval_s
        self.peak = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    @staticmethod
    def rss() -> int | None:
        """This process's resident set plus its child processes' (a classify job's worker
        processes; pages they share are counted in each, so an upper bound)."""
        page = os.sysconf("SC_PAGE_SIZE")
        try:
            total = int(Path("/proc/self/statm").read_text().split()[1]) * page
        except (OSError, ValueError, IndexError):
            return None
        me = str(os.getpid())
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
                if fields[1] == me:  # the parent pid
                    total += int((stat.parent / "statm").read_text().split()[1]) * page
            except (OSError, ValueError, IndexError):
                continue  # a process that ended while read
        return total

    def _sample(self) -> None:
        while not self._stop.is_set():
            now = self.rss()
            if now is not None:
                self.peak = max(self.peak or 0, now)
            self._stop.wait(self.interval_s)

    def __enter__(self) -> "PeakMemory":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def layout(root: Path) -> dict:
    return {
        "frames": str(root / "frames/{run}/{camcol}/{field}/manifest.json"),
        "composite": str(root / "composite/{run}/{camcol}/{field}.png"),
        "detections": str(root / "detections/{run}/{camcol}/{field}.parquet"),
        "classified": str(root / "classified/{run}/{camcol}/{field}.parquet"),
    }


def run_blocks(
    fields,
    mirror: Path,
    root: Path,
    models: dict,
    cfg: dict,
    workers: int,
    device: str,
    frame_storage: str = "bz2",
    classify_pool: str = "threads",
) -> dict:
    """The block jobs on ``fields`` with ``workers`` fields in flight; wall seconds per job."""
    from yl8c4net.classify.field import FieldClassificationRecipe, crop_box_table
    from yl8c4net.pipeline.field_pool import process_pool
    from yl8c4net.pipeline.model_files import shipped_model
    from yl8c4net.detect.bright import BrightSourceSettings
    from yl8c4net.detect.field import FieldDetectionChain
    from yl8c4net.detect.infer import BatchedFieldDetector, batch_tiles
    from yl8c4net.detect.verify import VerifySettings
    from yl8c4net.images.composite import field_composite
    from yl8c4net.images.imageio import load_image, save_image
    from yl8c4net.images.labels import BoxTable
    from yl8c4net.io import write_json_atomic
    from yl8c4net.pipeline.blocks import field_path
    from yl8c4net.sdss.fetch import fetch_field
    from yl8c4net.sdss.source import MirrorSource

    files = layout(root)
    clock = StageClock()
    det_cfg = cfg["detector"]

    def fetch(fid):
        field_dir = Path(field_path(files["frames"], fid)).parent
        manifest = fetch_field(
            fid,
            MirrorSource(mirror),
            cfg["sdss"]["bands"],
            field_dir,
            use_official_jpeg=True,
            frame_storage=frame_storage,
        )
        write_json_atomic(manifest, field_path(files["frames"], fid))

    def composite(fid):
        import json

        manifest_path = Path(field_path(files["frames"], fid))
        image, _ = field_composite(manifest_path.parent, json.loads(manifest_path.read_text()))
        save_image(image, field_path(files["composite"], fid), flip=True)

    verify = VerifySettings.from_config(det_cfg["verify"])
    detector = BatchedFieldDetector(
        models["detector"],
        fields,
        lambda fid: load_image(field_path(files["composite"], fid), flip=True),
        batch_tiles(det_cfg["batch_tiles"], device),
        tile=cfg["training_data"]["tile_px"],
        conf=verify.detection_conf(det_cfg["conf"]),
        iou=det_cfg["iou"],
        merge=det_cfg["merge"],
        merge_iou=det_cfg["merge_iou"],
        max_det=det_cfg["max_det"],
        device=device,
        imgsz=det_cfg["imgsz"],
    )
    chain = FieldDetectionChain(
        clock.timed("network", detector),
        frames=files["frames"],
        detections=files["detections"],
        verify=verify,
        bright=BrightSourceSettings.from_config(det_cfg["bright_complement"]),
        box_table=BoxTable.from_config(cfg["training_data"]["box_table"]),
        weights_sha256="benchmark",
        conf=det_cfg["conf"],
    )
    # As rule classify_block: the recipe built in this process (threads) or in each worker
    # process, the classifier on one torch thread per field in flight; its load is timed.
    recipe = FieldClassificationRecipe(
        weights=str(shipped_model("classifier")),
        in_channels=3,
        device=device,
        predict_batch=cfg["classifier"]["predict_batch"],
        files=files,
        options={
            "centroid_window_fwhm_arcsec": cfg["catalog"]["centroid_window_fwhm_arcsec"],
            "crop_box_table": crop_box_table(cfg),
        },
    )

    def classify_block():
        import torch

        torch_threads = torch.get_num_threads()
        try:
            if classify_pool == "processes" and workers > 1:
                with process_pool(recipe, workers) as work:
                    each(clock.timed("classify", work))
            else:
                each(clock.timed("classify", recipe.build()))
        finally:
            torch.set_num_threads(torch_threads)  # for the next run's detect job

    def each(fn):
        if workers == 1:
            for fid in fields:
                fn(fid)
        else:
            with ThreadPoolExecutor(workers) as pool:
                list(pool.map(fn, fields))

    wall = {}
    for job, fn in (
        ("fetch", clock.timed("fetch", fetch)),
        ("composite", clock.timed("composite", composite)),
        ("detect", chain),
        ("classify", classify_block),
    ):
        t0 = time.perf_counter()
        if job == "classify":
            fn()
        else:
            each(fn)
        wall[job] = time.perf_counter() - t0
    detect_total = wall["detect"] if workers == 1 else None
    if detect_total is not None:
        clock.seconds["verify_write"] = detect_total - clock.seconds["network"]
    return {"wall_s": wall, "stage_s": clock.seconds if workers == 1 else None, "files": files}


def field_tables(files: dict, fields) -> dict:
    from yl8c4net.pipeline.blocks import field_path

    return {
        (kind, str(fid)): pd.read_parquet(field_path(files[kind], fid))
        for kind in ("detections", "classified")
        for fid in fields
    }


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fields", type=int, default=16)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--frame-storage", nargs="+", default=["bz2", "fits"], choices=["bz2", "fits"])
    ap.add_argument(
        "--classify-pool",
        nargs="+",
        default=["threads"],
        choices=["threads", "processes"],
        help="how the classify job runs its fields in flight (field_workers.pool); processes only with workers > 1",
    )
    ap.add_argument("--device", default="auto", help="auto | cpu | cuda (the detector and classifier)")
    ap.add_argument("--work", type=Path, default=REPO / "benchmarks" / "out" / "block_throughput")
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "out" / "block_throughput.json")
    args = ap.parse_args(argv)

    from yl8c4net.detect.env import prepare_ultralytics, use_cpu_threads

    prepare_ultralytics(args.work / "yolo")
    import torch
    from ultralytics import YOLO

    from yl8c4net.pipeline.model_files import shipped_model
    from yl8c4net.runtime.device import pick_device

    use_cpu_threads(os.cpu_count())
    device = str(pick_device(args.device))
    cfg = benchmark_config(args.fields)
    cfg["sdss"]["mirror_root"] = str(args.work / "mirror")
    prepared = prepare_fields(cfg, args.work)  # simulated once; also warms the caches
    fields = [fid for fid, _, _ in prepared]
    models = {"detector": YOLO(str(shipped_model("detector")), task="detect")}
    # Warm-up: the first batch pays for lazy initialisation in torch and ultralytics.
    run_blocks(fields[:1], args.work / "mirror", args.work / "warmup", models, cfg, 1, device)

    runs = {}
    baseline_rss = PeakMemory.rss()
    for storage in args.frame_storage:
        for workers in args.workers:
            for pool in args.classify_pool:
                if pool == "processes" and workers == 1:
                    continue  # one field at a time is the same either way
                key = (storage, workers, pool)
                root = args.work / (f"{storage}-workers-{workers}" + ("-processes" if pool == "processes" else ""))
                with PeakMemory() as memory:
                    runs[key] = run_blocks(
                        fields, args.work / "mirror", root, models, cfg, workers, device, storage, pool
                    )
                runs[key]["peak_rss_bytes"] = memory.peak
                w = runs[key]["wall_s"]
                print(
                    f"{storage}, {workers} worker(s), classify in {pool}: "
                    + ", ".join(f"{job} {s:.1f} s" for job, s in w.items())
                )
    first = next(iter(runs))
    reference = field_tables(runs[first]["files"], fields)
    identical = all(
        all(field_tables(runs[k]["files"], fields)[key].equals(table) for key, table in reference.items())
        for k in list(runs)[1:]
    )
    n = len(fields)
    rows = []
    for (storage, workers, pool), run in runs.items():
        w = run["wall_s"]
        gpu_jobs = w["detect"] + w["classify"]
        rows.append(
            {
                "frame_storage": storage,
                "workers": workers,
                "classify_pool": pool,
                "fields_per_s_gpu_jobs": n / gpu_jobs,
                "fields_per_s_end_to_end": n / sum(w.values()),
                "wall_s": w,
                "peak_rss_gb": None if run["peak_rss_bytes"] is None else run["peak_rss_bytes"] / 1e9,
            }
        )
    base = rows[0]
    for row in rows:
        row["speedup_gpu_jobs"] = row["fields_per_s_gpu_jobs"] / base["fields_per_s_gpu_jobs"]
        row["speedup_end_to_end"] = row["fields_per_s_end_to_end"] / base["fields_per_s_end_to_end"]
    stages = {storage: run["stage_s"] for (storage, workers, _), run in runs.items() if workers == 1}
    detections = float(np.mean([len(t) for (kind, _), t in reference.items() if kind == "detections"]))

    table = [
        f"{n} simulated fields at the sky's densities ({detections:.0f} detections per field), device {device}, "
        f"{os.cpu_count()} CPU cores, torch {torch.get_num_threads()} threads",
        "",
        "| frames | fields in flight | classify in | detect + classify jobs: fields/s | speed-up "
        "| fetch -> classified: fields/s | speed-up | peak memory (GB) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        peak = "n/a" if row["peak_rss_gb"] is None else f"{row['peak_rss_gb']:.2f}"
        table.append(
            f"| {row['frame_storage']} | {row['workers']} | {row['classify_pool']} | {row['fields_per_s_gpu_jobs']:.2f} | "
            f"{row['speedup_gpu_jobs']:.2f} | "
            f"{row['fields_per_s_end_to_end']:.2f} | {row['speedup_end_to_end']:.2f} | {peak} |"
        )
    if baseline_rss is not None:
        table.append(
            f"\n(peak memory: the resident sets of this process and its worker processes; "
            f"{baseline_rss / 1e9:.2f} GB with the detector loaded)"
        )
    for storage, stage in stages.items():
        total = sum(stage.values())
        table += ["", f"| stage (one field at a time, {storage} frames) | s per field | share |", "|---|---|---|"]
        for s in STAGES:
            table.append(f"| {s} | {stage[s] / n:.3f} | {stage[s] / total:.0%} |")
        table.append(f"| total | {total / n:.3f} | |")
    table.append("")
    table.append(
        f"detections and classified rows identical across worker counts, pools and frame storages: {identical}"
    )
    print("\n".join(table))
    result = {
        "n_fields": n,
        "device": device,
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "detections_per_field": detections,
        "throughput": rows,
        "stage_s_per_field": {storage: {s: v / n for s, v in st.items()} for storage, st in stages.items()} or None,
        "identical_across_workers": identical,
        "rss_with_detector_gb": None if baseline_rss is None else baseline_rss / 1e9,
    }
    write_record(args.out, result)
    return result


if __name__ == "__main__":
    main()
