"""Detector quality beyond the workflow's metrics file, from a finished workflow run: the
overlap merges side by side (owned tiles + NMS, plain NMS, SAHI's greedy NMM) on the held-out
simulated fields, against exact truth, and the default merge once more after the flux
verification (`detector.verify` at its defaults: the boxes the workflow's detections hold;
the workflow's own metrics score the network's boxes). (The detector on the real fields,
formerly part 2 of this script, is benchmarks/real_fields.py.)

    python benchmarks/detector_eval.py --weights results/models/detector/yolov8.pt

Prints tables; writes benchmarks/out/detector_eval.json.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import pandas as pd

from yl8c4net.detect.env import prepare_ultralytics
from yl8c4net.config import schema_default
from record import write_record


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", required=True)
    ap.add_argument(
        "--conf", type=float, default=schema_default("detector", "conf"), help="default: the workflow's detector.conf"
    )
    args = ap.parse_args()
    prepare_ultralytics(Path(tempfile.mkdtemp(prefix="yl8c4net-eval-")))
    from ultralytics import YOLO

    from yl8c4net.detect.evaluate import detection_metrics
    from yl8c4net.detect.infer import detect_field
    from yl8c4net.detect.verify import VerifySettings, verify_detections
    from yl8c4net.sdss.fetch import r_frame
    from yl8c4net.images.imageio import load_image
    from yl8c4net.sdss.frames import r_frame_pixel_noise

    model = YOLO(args.weights)
    split = json.loads(Path("results/data/detect_dataset.json").read_text())["split"]
    val = [t for t, s in split.items() if s == "val"]
    report = {"held_out_fields": val, "merge": {}}
    print(f"held-out simulated fields: {val}")
    print("| merge | P | R | F1 | AP50 | AP50:95 | recall r<21 |")
    print("|---|---|---|---|---|---|---|")
    verified = []
    for merge in ("owned_nms", "nms", "sahi"):
        pairs = []
        for tag in val:
            run, camcol, field = tag.split("-")
            image = load_image(f"resources/composite/{run}/{camcol}/{field}.png", flip=True)
            labels = pd.read_parquet(f"resources/training/detect/{run}/{camcol}/{field}/labels.parquet")
            boxes = detect_field(model, image, conf=0.001, merge=merge, device="cpu")
            pairs.append((labels, boxes))
            if merge == "owned_nms":
                frame = r_frame(f"resources/frames/{run}/{camcol}/{field}/manifest.json")
                noise = r_frame_pixel_noise(frame, int(camcol))
                verified.append((labels, verify_detections(boxes, frame.image, noise, VerifySettings())[0]))
        report["merge"][merge] = detection_metrics(pairs, args.conf)
    report["merge"]["owned_nms + verify"] = detection_metrics(verified, args.conf)
    for merge, m in report["merge"].items():
        print(
            f"| {merge} | {m['precision']:.3f} | {m['recall']:.3f} | {m['f1']:.3f} | {m['ap50']:.3f} | "
            f"{m['ap50_95']:.3f} | {m['recall_r_lt_21']:.3f} |"
        )
    out = Path(__file__).resolve().parent / "out" / "detector_eval.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    write_record(out, report)


if __name__ == "__main__":
    main()
