"""Tiled detection throughput per stage: load + tile, predict (12 tiles in one batch), merge.

    python benchmarks/detector_throughput.py [--weights W.pt] [--composite F.png] [--device cpu|cuda] [--repeats 5]

Without weights an untrained YOLOv8n is built from its YAML (speed does not depend on the
weights, apart from the number of boxes to merge). Without a composite a simulated field is
rendered. Prints a table and writes benchmarks/out/detector_throughput_{device}.json.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from yl8c4net.detect.env import prepare_ultralytics
from record import write_record


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights")
    ap.add_argument("--composite")
    ap.add_argument("--device", default=None)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="yl8c4net-bench-"))
    prepare_ultralytics(tmp)
    import torch
    from ultralytics import YOLO

    from yl8c4net.detect.infer import cut_tiles, merge_tile_boxes, predict_tiles, to_frame_table
    from yl8c4net.images.imageio import load_image

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    model = YOLO(args.weights) if args.weights else YOLO("yolov8n.yaml", task="detect")
    if args.composite:
        path = Path(args.composite)
    else:
        from yl8c4net.images.composite import field_composite
        from yl8c4net.sdss.fetch import fetch_field
        from yl8c4net.images.imageio import save_image
        from yl8c4net.sdss.fields import FieldId
        from yl8c4net.sdss.source import MirrorSource
        from yl8c4net.simulate.mirror import SimConfig, simulate_field

        fid = FieldId(9101, 3, 11)
        sim = SimConfig.from_dict({"seed": 1, "runs": [{"run": 9101, "camcols": [3], "fields": [11, 11]}]})
        simulate_field(sim, fid, tmp / "mirror")
        manifest = fetch_field(fid, MirrorSource(tmp / "mirror"), "gri", tmp / "field")
        path = save_image(field_composite(tmp / "field", manifest)[0], tmp / "composite.png", flip=True)
    rows = []
    for k in range(args.repeats + 1):  # the first round warms up
        t0 = time.perf_counter()
        image = load_image(path, flip=True)
        tiles, origins = cut_tiles(image[::-1])
        t1 = time.perf_counter()
        boxes = predict_tiles(model, tiles, origins, conf=0.001, device=device)
        if device == "cuda":
            torch.cuda.synchronize()
        t2 = time.perf_counter()
        kept = merge_tile_boxes(boxes, origins)
        to_frame_table(boxes, kept, image.shape[0])
        t3 = time.perf_counter()
        if k:
            rows.append(
                {"load_tile_s": t1 - t0, "predict_s": t2 - t1, "merge_s": t3 - t2, "n_boxes": int(len(boxes.conf))}
            )
    med = {key: float(np.median([r[key] for r in rows])) for key in rows[0]}
    total = med["load_tile_s"] + med["predict_s"] + med["merge_s"]
    name = torch.cuda.get_device_name() if device == "cuda" else "CPU"
    print(f"device {device} ({name}), torch threads {torch.get_num_threads()}, {args.repeats} repeats (median)")
    print("| stage | seconds per field | share |")
    print("|---|---|---|")
    for key in ("load_tile_s", "predict_s", "merge_s"):
        print(f"| {key[:-2]} | {med[key]:.3f} | {med[key] / total:.0%} |")
    print(f"| total | {total:.3f} | tiles/s {12 / total:.1f}, predict-only tiles/s {12 / med['predict_s']:.1f} |")
    out = Path(__file__).resolve().parent / "out" / f"detector_throughput_{device}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    write_record(out, {"device": device, "median": med, "rows": rows, "tiles_per_s": 12 / total})


if __name__ == "__main__":
    main()
