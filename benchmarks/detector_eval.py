"""Detector quality beyond the workflow's metrics file, from a finished workflow run:

1. the overlap merges side by side (owned tiles + NMS, plain NMS, SAHI's greedy NMM) on the
   held-out simulated fields, against exact truth;
2. sim-to-real: the detector on the real fields in ../shared/data/sas against photutils
   segmentation of the r frame at S/N > 10 (fraction recovered, spurious detections per field).

    python benchmarks/detector_eval.py --weights results/models/detector/yolov8.pt [--shared ../shared]

Prints tables; writes benchmarks/out/detector_eval.json.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from yl8c4net.detect.env import prepare_ultralytics

REAL = [(4510, 4, 30), (1035, 6, 17), (1992, 1, 87), (5405, 6, 99), (2583, 2, 136)]


def photutils_sources(image: np.ndarray, snr_min: float = 10.0) -> pd.DataFrame:
    """Sources of a sky-subtracted frame with S/N > snr_min (segments at 1.5 sigma, 5 px)."""
    from astropy.convolution import Gaussian2DKernel, convolve
    from astropy.stats import gaussian_fwhm_to_sigma, sigma_clipped_stats
    from photutils.segmentation import SourceCatalog, deblend_sources, detect_sources

    _, med, rms = sigma_clipped_stats(image, sigma=3.0)
    data = image - med
    kernel = Gaussian2DKernel(3.0 * gaussian_fwhm_to_sigma, x_size=9, y_size=9)
    smooth = convolve(data, kernel)
    segm = detect_sources(smooth, 1.5 * rms, n_pixels=5)
    segm = deblend_sources(smooth, segm, n_pixels=5, progress_bar=False)
    cat = SourceCatalog(data, segm, convolved_data=smooth)
    snr = np.asarray(cat.segment_flux) / (rms * np.sqrt(np.asarray(cat.area.value)))
    ok = snr > snr_min
    return pd.DataFrame({"x": np.asarray(cat.xcentroid)[ok], "y": np.asarray(cat.ycentroid)[ok], "snr": snr[ok]}), segm


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", required=True)
    ap.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared")
    ap.add_argument("--conf", type=float, default=0.25)
    args = ap.parse_args()
    prepare_ultralytics(Path(tempfile.mkdtemp(prefix="yl8c4net-eval-")))
    from ultralytics import YOLO

    from yl8c4net.composite import field_composite
    from yl8c4net.detect.evaluate import detection_metrics
    from yl8c4net.detect.infer import detect_field
    from yl8c4net.fetch import fetch_field
    from yl8c4net.imageio import load_image
    from yl8c4net.sdss.fields import FieldId
    from yl8c4net.sdss.frames import read_frame
    from yl8c4net.sdss.source import MirrorSource

    model = YOLO(args.weights)
    split = json.loads(Path("results/data/detect_dataset.json").read_text())["split"]
    val = [t for t, s in split.items() if s == "val"]
    report = {"held_out_fields": val, "merge": {}, "sim_to_real": []}
    print(f"held-out simulated fields: {val}")
    print("| merge | P | R | F1 | AP50 | AP50:95 | recall r<21 |")
    print("|---|---|---|---|---|---|---|")
    for merge in ("owned_nms", "nms", "sahi"):
        pairs = []
        for tag in val:
            run, camcol, field = tag.split("-")
            image = load_image(f"resources/composite/{run}/{camcol}/{field}.png", flip=True)
            labels = pd.read_parquet(f"resources/training/detect/{run}/{camcol}/{field}/labels.parquet")
            pairs.append((labels, detect_field(model, image, conf=0.001, merge=merge, device="cpu")))
        m = detection_metrics(pairs, args.conf)
        report["merge"][merge] = m
        print(
            f"| {merge} | {m['precision']:.3f} | {m['recall']:.3f} | {m['f1']:.3f} | {m['ap50']:.3f} | "
            f"{m['ap50_95']:.3f} | {m['recall_r_lt_21']:.3f} |"
        )
    sas = args.shared / "data" / "sas"
    print("\n| real field | composite | photutils S/N>10 | recovered | detections | spurious |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for run, camcol, field in REAL:
            fid = FieldId(run, camcol, field)
            d = Path(tmp) / fid.tag
            manifest = fetch_field(fid, MirrorSource(sas), "gri", d)
            image, origin = field_composite(d, manifest)
            det = detect_field(model, image, conf=args.conf, device="cpu")
            r = read_frame(d / manifest["frames"]["r"]["file"]).image
            ref, segm = photutils_sources(r)
            # Recovered: a reference source whose centroid lies inside a detection box.
            inside = np.zeros(len(ref), bool)
            for x, y, w, h in det[["x", "y", "w", "h"]].itertuples(index=False):
                inside |= (np.abs(ref["x"] - x) <= w / 2) & (np.abs(ref["y"] - y) <= h / 2)
            # Spurious: a detection whose centre is on no segment at all (blank sky at 1.5 sigma).
            xi = np.clip(np.round(det["x"]).astype(int), 0, r.shape[1] - 1)
            yi = np.clip(np.round(det["y"]).astype(int), 0, r.shape[0] - 1)
            spurious = int((segm.data[yi, xi] == 0).sum())
            row = {
                "field": f"{run}/{camcol}/{field}",
                "composite": origin,
                "n_ref": len(ref),
                "recovered": float(inside.mean()) if len(ref) else None,
                "n_det": len(det),
                "spurious": spurious,
            }
            report["sim_to_real"].append(row)
            print(f"| {row['field']} | {origin} | {len(ref)} | {row['recovered']:.2f} | {len(det)} | {spurious} |")
    out = Path(__file__).resolve().parent / "out" / "detector_eval.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1, default=float))


if __name__ == "__main__":
    main()
