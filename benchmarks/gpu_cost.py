"""Fields per second on a GPU: detect and classify on CUDA beside the CPU, in one run.

    python benchmarks/gpu_cost.py [--work benchmarks/out/field_cost] [--fields 4] [--passes 96]

Reads the composites that ``benchmarks/field_cost.py`` wrote under ``--work``/composite (the
pipeline's PNG of simulated fields at the real sky's densities, 12 tiles of 640 px each) and
cycles through them for ``--passes`` field passes. With the shipped detector and a Conv4Net
(seeded random weights unless ``--classifier``; its speed does not depend on its weights):

- CUDA check: each field's detections on CUDA against the CPU's (one field per batch):
  counts, the share of CPU boxes matched by a CUDA box at IoU >= 0.9, the largest confidence
  difference; Conv4Net's probabilities of the CPU's detections on both, largest difference.
- detect: fields per second for ``detector.batch_tiles`` 12, 48, 96, 192 and 384 (1 to 32
  fields per batch) on CUDA, with the peak GPU memory; the CPU (all its cores) at 12 beside.
- classify: cut-outs per second, Conv4Net on CUDA and on the CPU.
- block: read + detect + classify as a block job runs them (each composite read from disk,
  `BatchedFieldDetector` at ``batch_tiles: auto``), fields per second on CUDA and on the CPU.
- network: the detector network's forward pass alone on random tiles (12 and 96 per batch,
  float32, already on the device), to set against detect's seconds per field
  (``--network-only`` measures just this).
- train: seconds per epoch of Conv4Net's training loop (`train_classifier`, batch 128, as
  configured) on ``--train-cutouts`` seeded random cut-outs (default 10,800 + 1,800 for
  validation: benchmarks/configs/classification-large.yaml's splits), CUDA and CPU.

Prints a table and writes ``--out`` (JSON). Without CUDA only the CPU columns are measured.
The centroid, WCS and crossmatch steps run on the CPU whatever the device; field_cost.py
measures them.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import yaml
from record import write_record

REPO = Path(__file__).resolve().parents[1]
BATCH_TILES = (12, 48, 96, 192, 384)


def compare_detections(cpu, gpu) -> dict:
    """How far one field's CUDA detections are from its CPU detections."""
    import torch
    from torchvision.ops import box_iou

    from yl8c4net.detect.evaluate import xyxy

    if len(cpu) == 0 or len(gpu) == 0:
        return {"n_cpu": len(cpu), "n_cuda": len(gpu), "matched_iou90": float(len(cpu) == len(gpu))}
    iou = box_iou(torch.as_tensor(xyxy(cpu)), torch.as_tensor(xyxy(gpu))).numpy()
    best = iou.argmax(1)
    matched = iou[np.arange(len(cpu)), best] >= 0.9
    dconf = np.abs(cpu["conf"].to_numpy(float)[matched] - gpu["conf"].to_numpy(float)[best[matched]])
    return {
        "n_cpu": len(cpu),
        "n_cuda": len(gpu),
        "matched_iou90": float(matched.mean()),
        "max_conf_diff": float(dconf.max()) if len(dconf) else 0.0,
    }


def timed(fn, repeats: int) -> float:
    """Median seconds of ``fn()`` over ``repeats`` calls after one warm-up call."""
    import torch

    fn()
    out = []
    for _ in range(repeats):
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        t = time.perf_counter()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        out.append(time.perf_counter() - t)
    return float(np.median(out))


def classifier_epoch_seconds(device: str, n_train: int, work: Path) -> dict:
    """Median seconds per epoch of Conv4Net's training loop on seeded random cut-outs."""
    import pandas as pd

    from yl8c4net.classify.model import CLASS_NAMES
    from yl8c4net.classify.train import TrainParams, train_classifier

    n_val = n_train // 6
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (n_train + n_val, 48, 48, 3), dtype=np.uint8)
    table = pd.DataFrame(
        {
            "class": np.asarray(CLASS_NAMES)[np.arange(n_train + n_val) % len(CLASS_NAMES)],
            "split": ["train"] * n_train + ["val"] * n_val,
        }
    )
    out = work / "train" / device
    if out.exists():
        import shutil

        shutil.rmtree(out)
    params = TrainParams(epochs=3, patience=3, device=device)
    first = train_classifier(images, table, out, params, max_epochs_this_call=1)  # warm-up epoch
    t = time.perf_counter()
    train_classifier(images, table, out, params, max_epochs_this_call=2)  # resumes: epochs 2 and 3
    return {
        "n_train": n_train,
        "n_val": n_val,
        "device": first["device"],
        "s_per_epoch": (time.perf_counter() - t) / 2,
    }


def network_seconds(weights: Path, device: str, batches=(12, 96), repeats: int = 10) -> dict:
    """Median seconds per tile of the detector network's forward pass alone."""
    import torch
    from ultralytics import YOLO

    # The network exactly as ultralytics' predictor runs it (fused, on its device): a fresh
    # .model is slower on the CPU than the predictor's copy.
    yolo = YOLO(str(weights), task="detect")
    yolo.predict(np.zeros((640, 640, 3), np.uint8), device=0 if device == "cuda" else "cpu", verbose=False)
    model = yolo.predictor.model.model
    out = {}
    for n in batches:
        x = torch.rand(n, 3, 640, 640, device=device, generator=None)
        with torch.inference_mode():
            seconds = timed(lambda x=x: model(x), repeats if device == "cuda" else 1)
        out[str(n)] = {"s_per_tile": seconds / n, "s_per_field_of_12": 12 * seconds / n}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", default=str(REPO / "benchmarks" / "out" / "field_cost"))
    ap.add_argument("--fields", type=int, default=4, help="distinct composites to cycle through")
    ap.add_argument("--passes", type=int, default=96, help="field passes per detect measurement")
    ap.add_argument("--cpu-passes", type=int, default=8, help="field passes per CPU measurement")
    ap.add_argument("--classifier", help="a Conv4Net checkpoint (default: seeded random weights)")
    ap.add_argument("--train-cutouts", type=int, default=10_800, help="training cut-outs per epoch timed")
    ap.add_argument("--network-only", action="store_true", help="measure the network's forward pass only")
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "out" / "gpu_cost.json"))
    args = ap.parse_args()
    work = Path(args.work)

    from yl8c4net.detect.env import prepare_ultralytics, use_cpu_threads

    prepare_ultralytics(work / "yolo")
    import torch
    from ultralytics import YOLO

    use_cpu_threads(os.cpu_count())
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from field_cost import classifier_checkpoint

    from yl8c4net.classify.infer import classify_detections, predict_batch
    from yl8c4net.classify.model import CLASS_NAMES
    from yl8c4net.classify.train import load_classifier
    from yl8c4net.detect.infer import BatchedFieldDetector, batch_tiles, detect_fields
    from yl8c4net.images.imageio import load_image
    from yl8c4net.pipeline.model_files import shipped_detector

    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    det_cfg = cfg["detector"]
    settings = dict(
        tile=cfg["training_data"]["tile_px"], conf=det_cfg["conf"], iou=det_cfg["iou"], merge=det_cfg["merge"],
        merge_iou=det_cfg["merge_iou"], max_det=det_cfg["max_det"], imgsz=det_cfg["imgsz"],
    )  # fmt: skip
    if args.network_only:
        import torch

        devices = ("cuda", "cpu") if torch.cuda.is_available() else ("cpu",)
        gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
        result = {"gpu": gpu, "network": {d: network_seconds(shipped_detector(), d) for d in devices}}
        for dev, rows in result["network"].items():
            for n, row in rows.items():
                print(f"network {dev} batch {n}: {row['s_per_tile'] * 1e3:.2f} ms per tile, "
                      f"{row['s_per_field_of_12']:.4f} s per field of 12 tiles ({gpu or 'no GPU'})")  # fmt: skip
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        write_record(args.out, result)
        return
    paths = sorted((work / "composite").glob("*.png"))[: args.fields]
    if not paths:
        sys.exit(f"gpu_cost: no composites under {work / 'composite'} (run benchmarks/field_cost.py first)")
    composites = [load_image(p, flip=True) for p in paths]
    cuda = torch.cuda.is_available()
    devices = ("cuda", "cpu") if cuda else ("cpu",)
    result = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"{torch.get_num_threads()} torch threads",
        "gpu": torch.cuda.get_device_name(0) if cuda else None,
        "torch": torch.__version__,
        "fields": [p.name for p in paths],
    }
    print(f"{result['machine']}; GPU: {result['gpu'] or 'none'}; torch {torch.__version__}", flush=True)

    detector = {d: YOLO(str(shipped_detector()), task="detect") for d in devices}
    ultra_dev = {"cuda": 0, "cpu": "cpu"}
    ckpt = classifier_checkpoint(args.classifier, work)
    classifier = {d: load_classifier(ckpt, CLASS_NAMES, 3, d)[:2] for d in devices}
    batch = {d: predict_batch("auto", classifier[d][0]) for d in devices}  # classifier.predict_batch: auto

    # The CUDA check: same weights, one field per batch, CUDA against the CPU.
    cpu_dets = [detect_fields(detector["cpu"], [c], device="cpu", **settings)[0][0] for c in composites]
    if cuda:
        checks = []
        for c, cpu_det in zip(composites, cpu_dets):
            gpu_det = detect_fields(detector["cuda"], [c], device=0, **settings)[0][0]
            check = compare_detections(cpu_det, gpu_det)
            p_cpu = classify_detections(*classifier["cpu"], c, cpu_det, batch_size=batch["cpu"])
            p_gpu = classify_detections(*classifier["cuda"], c, cpu_det, batch_size=batch["cuda"])
            cols = [f"p_{n.lower()}" for n in CLASS_NAMES]
            check["max_proba_diff"] = float(np.abs(p_cpu[cols].to_numpy() - p_gpu[cols].to_numpy()).max())
            checks.append(check)
        result["cuda_check"] = checks
        print("CUDA vs CPU, per field:", json.dumps(checks), flush=True)

    def cycle(n: int) -> list:
        return [composites[k % len(composites)] for k in range(n)]

    # detect: fields per second by batch size.
    detect = {}
    for dev in devices:
        sizes = BATCH_TILES if dev == "cuda" else (12,)
        n_pass = args.passes if dev == "cuda" else args.cpu_passes
        for bt in sizes:
            per_batch = max(1, bt // 12)
            fields = cycle(max(n_pass, per_batch))
            batches = [fields[i : i + per_batch] for i in range(0, len(fields), per_batch)]
            if dev == "cuda":
                torch.cuda.reset_peak_memory_stats()

            parts = {}

            def run_all(batches=batches, dev=dev, parts=parts):
                parts.clear()
                for b in batches:
                    for t in detect_fields(detector[dev], b, device=ultra_dev[dev], **settings)[1]:
                        for key in ("tile_s", "predict_s", "merge_s"):
                            parts[key] = parts.get(key, 0.0) + t[key] / len(fields)

            seconds = timed(run_all, repeats=3 if dev == "cuda" else 1)
            row = {"fields_per_s": len(fields) / seconds, "s_per_field": seconds / len(fields), **parts}
            if dev == "cuda":
                row["peak_gpu_mem_gib"] = torch.cuda.max_memory_allocated() / 2**30
            detect[f"{dev}_{bt}"] = row
            print(f"detect {dev} batch_tiles {bt}: {row}", flush=True)
    result["detect"] = detect

    # classify: cut-outs per second.
    crops_det = cpu_dets[0]
    classify = {}
    for dev in devices:
        reps = 20 if dev == "cuda" else 3
        seconds = timed(
            lambda dev=dev: classify_detections(*classifier[dev], composites[0], crops_det, batch_size=batch[dev]), reps
        )
        classify[dev] = {"cutouts": len(crops_det), "cutouts_per_s": len(crops_det) / seconds, "s_per_field": seconds}
        print(f"classify {dev}: {classify[dev]}", flush=True)
    result["classify"] = classify

    # block: read + detect + classify, as detect_block / classify_block run a block's fields.
    block = {}
    for dev in devices:
        n_pass = args.passes if dev == "cuda" else args.cpu_passes
        fids = list(range(n_pass))
        bt = batch_tiles("auto", dev)

        def run_block(dev=dev, fids=fids, bt=bt):
            load = lambda k: load_image(paths[k % len(paths)], flip=True)  # noqa: E731
            det = BatchedFieldDetector(detector[dev], fids, load, bt, device=ultra_dev[dev], **settings)
            for k in fids:
                table, _ = det(k)
                classify_detections(*classifier[dev], load(k), table)

        seconds = timed(run_block, repeats=1)
        block[dev] = {"batch_tiles": bt, "fields_per_s": n_pass / seconds, "s_per_field": seconds / n_pass}
        print(f"block {dev}: {block[dev]}", flush=True)
    result["block"] = block

    result["train"] = {dev: classifier_epoch_seconds(dev, args.train_cutouts, work) for dev in devices}
    for dev, row in result["train"].items():
        print(f"train {dev}: {row}", flush=True)

    print(f"\nGPU: {result['gpu'] or 'none'}; {result['machine']}; {len(paths)} simulated fields cycled")
    print(f"{'stage':<28} {'fields/s':>9} {'s/field':>8} {'GPU GiB':>8}")
    for key, row in detect.items():
        mem = f"{row['peak_gpu_mem_gib']:.2f}" if "peak_gpu_mem_gib" in row else "-"
        print(f"{'detect ' + key:<28} {row['fields_per_s']:>9.2f} {row['s_per_field']:>8.3f} {mem:>8}")
    for dev, row in classify.items():
        print(f"{'classify ' + dev:<28} {1 / row['s_per_field']:>9.2f} {row['s_per_field']:>8.3f} {'-':>8}")
        print(f"{'  cut-outs/s ' + dev:<28} {row['cutouts_per_s']:>9.0f}")
    for dev, row in block.items():
        label = f"block {dev} (read+detect+classify)"
        print(f"{label:<36} {row['fields_per_s']:>9.2f} {row['s_per_field']:>8.3f}")
    for dev, row in result["train"].items():
        print(f"{'Conv4Net training, s/epoch ' + dev:<36} {row['s_per_epoch']:>9.1f} ({row['n_train']} cut-outs)")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    write_record(args.out, result)
    print(f"written {args.out}")


if __name__ == "__main__":
    main()
