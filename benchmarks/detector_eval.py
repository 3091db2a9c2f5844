"""Detector quality beyond the workflow's metrics file, from a finished workflow run: the
overlap merges side by side (owned tiles + NMS, plain NMS, SAHI's greedy NMM) on the held-out
simulated fields, against exact truth, and the default merge once more after the flux
verification (`detector.verify` at its defaults: the boxes the workflow's detections hold;
the workflow's own metrics score the network's boxes). (The detector on the real fields,
formerly part 2 of this script, is benchmarks/real_fields.py.)

    python benchmarks/detector_eval.py --weights results/models/detector/yolov8.pt \
        [--merges owned_nms] [--confs 0.15 0.25 0.35]

With ``--confs``, the default merge before and after the verification is also scored at each
of those confidences, with what its unmatched detections lie on in the simulator's truth table
(every simulated source, not only those the truth boxes stop at): a source fainter than the
boxes' r limit (real on the sky), a labelled source whose box it misses, or nothing within
1" (`yl8c4net.detect.evaluate.unmatched_breakdown`): the check of ``detector.conf`` on the
held-out fields of a training run. The boxes under ``--conf`` that the verification rescues
by their S/N (``detector.verify.rescue_snr``) are scored the same way, alone.

Prints tables; writes benchmarks/out/detector_eval.json (``--out``).
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
    ap.add_argument("--merges", nargs="+", default=["owned_nms", "nms", "sahi"], choices=["owned_nms", "nms", "sahi"])
    ap.add_argument("--confs", nargs="+", type=float, default=[], help="also score these confidences (see above)")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "out" / "detector_eval.json")
    args = ap.parse_args()
    prepare_ultralytics(Path(tempfile.mkdtemp(prefix="yl8c4net-eval-")))
    from ultralytics import YOLO

    from yl8c4net.detect.evaluate import detection_metrics, unmatched_breakdown
    from yl8c4net.detect.infer import detect_field
    from yl8c4net.detect.verify import VerifySettings, verify_detections
    from yl8c4net.sdss.fetch import r_frame
    from yl8c4net.images.imageio import load_image
    from yl8c4net.sdss.frames import r_frame_pixel_noise
    from yl8c4net.sdss.fields import FieldId
    from yl8c4net.simulate.mirror import truth_relpath

    model = YOLO(args.weights)
    split = json.loads(Path("results/data/detect_dataset.json").read_text())["split"]
    val = [t for t, s in split.items() if s == "val"]
    report = {"held_out_fields": val, "merge": {}}
    print(f"held-out simulated fields: {val}")
    print("| merge | P | R | F1 | AP50 | AP50:95 | recall r<21 |")
    print("|---|---|---|---|---|---|---|")
    verified, rescued, with_sources = [], [], {"owned_nms": [], "owned_nms + verify": []}
    for merge in args.merges:
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
                if args.confs:
                    sources = pd.read_parquet(
                        Path("resources/sim_mirror") / truth_relpath(FieldId(int(run), int(camcol), int(field), 301))
                    )
                    with_sources["owned_nms"].append((labels, boxes, sources))
                    with_sources["owned_nms + verify"].append((*verified[-1], sources))
                    # The boxes under --conf that the verification keeps by their S/N
                    # (`rescue_snr`), as the workflow's detections file holds them.
                    settings = VerifySettings()
                    drawn = boxes[boxes["conf"] >= settings.detection_conf(args.conf)]  # the detector's floor
                    kept = verify_detections(drawn, frame.image, noise, settings, conf=args.conf)[0]
                    rescued.append((labels, kept[kept["conf"] < args.conf], sources))
        report["merge"][merge] = detection_metrics(pairs, args.conf)
    if verified:
        report["merge"]["owned_nms + verify"] = detection_metrics(verified, args.conf)
    for merge, m in report["merge"].items():
        print(
            f"| {merge} | {m['precision']:.3f} | {m['recall']:.3f} | {m['f1']:.3f} | {m['ap50']:.3f} | "
            f"{m['ap50_95']:.3f} | {m['recall_r_lt_21']:.3f} |"
        )
    if args.confs:
        report["by_conf"] = {name: unmatched_breakdown(rows, args.confs) for name, rows in with_sources.items()}
        # Every rescued box, scored alone (a match may repeat a source a confident box holds).
        report["rescued"] = {**unmatched_breakdown(rescued, [0.0])[0], "conf": args.conf}
        report["rescued"].pop("recall")
        print()
        print(
            '| boxes | conf | detections | P | R | unmatched on a source r > 22.2 | on a labelled source | on nothing within 1" |'
        )
        print("|---|---|---|---|---|---|---|---|")
        for name, rows in report["by_conf"].items():
            for row in rows:
                print(
                    f"| {name} | {row['conf']:.2f} | {row['n']} | {row['precision']:.3f} | {row['recall']:.3f} | "
                    f"{row['on_fainter_source']:.3f} | {row['on_labelled_source']:.3f} | {row['on_nothing']:.3f} |"
                )
        row = report["rescued"]
        print(
            f"| rescued under {row['conf']:g} (S/N >= rescue_snr) | - | {row['n']} | {row['precision']:.3f} | - | "
            f"{row['on_fainter_source']:.3f} | {row['on_labelled_source']:.3f} | {row['on_nothing']:.3f} |"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_record(args.out, report)


if __name__ == "__main__":
    main()
