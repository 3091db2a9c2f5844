"""How the cut-out's side in the classify step moves Conv4Net's answer on a simulated survey:
each detection cropped with the detector's box, with the box table's side for its forced r
magnitude (``classifier.crop_side: magnitude``, the workflow's default) and with the side for
its true r, against exact truth, by r.

    python benchmarks/crop_side.py --workdir DIR --configfile DIR/config.yaml [OVERLAY.yaml ...]

DIR is a finished workflow run on a simulated survey (its mirror, composites, r frames and
classified files). Each classified row is matched to the truth source within 1.5 px of its
box centre; the three crops are made at that centre, times the field's seeing scale as the
classify step makes them, and scored point source (STAR or QSO) against GALAXY, which is
what the image can tell. Also prints how much larger than its magnitude's box the detector
draws the boxes of galaxies and point sources brighter than r = 19. Writes
benchmarks/out/crop_side.json.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
from catalog_quality import catalogued_fields, merged_config
from record import write_record

R_BINS = [(10.0, 19.0), (19.0, 20.0), (20.0, 21.0), (21.0, 22.2), (10.0, 21.0), (10.0, 22.2)]
CROPS = ("detector_box", "magnitude", "true_r")
MATCH_PX = 1.5


def field_rows(workdir: Path, cfg: dict, fid, model, norm, box_table) -> pd.DataFrame:
    """One field's classified rows matched to its truth, with the point / galaxy answer of
    each crop."""
    from scipy.spatial import cKDTree

    from yl8c4net.catalog.photometry import SATURATED
    from yl8c4net.classify.infer import classify_detections, magnitude_crop_sides
    from yl8c4net.images.imageio import load_image
    from yl8c4net.images.seeing import crop_scale, field_fwhm_arcsec
    from yl8c4net.pipeline.blocks import field_path
    from yl8c4net.sdss.fetch import r_frame
    from yl8c4net.simulate.mirror import truth_relpath

    classified = pd.read_parquet(field_path(str(workdir / "results/classified/{run}/{camcol}/{field}.parquet"), fid))
    truth = pd.read_parquet(workdir / cfg["sdss"]["mirror_root"] / truth_relpath(fid))
    frame = r_frame(field_path(str(workdir / "resources/frames/{run}/{camcol}/{field}/manifest.json"), fid))
    composite = load_image(field_path(str(workdir / "resources/composite/{run}/{camcol}/{field}.png"), fid), flip=True)
    boxes = classified[["x_box", "y_box", "w", "h"]].rename(columns={"x_box": "x", "y_box": "y"})
    distance, nearest = cKDTree(truth[["x", "y"]].to_numpy()).query(boxes[["x", "y"]].to_numpy())
    matched = truth.iloc[nearest].reset_index(drop=True)
    scale = crop_scale(
        field_fwhm_arcsec(frame.image, boxes["x"], boxes["y"]), cfg["classify_data"]["seeing_reference_arcsec"]
    )
    usable = (classified["phot_flags"].to_numpy() & SATURATED) == 0
    sides = {
        "detector_box": np.maximum(boxes["w"], boxes["h"]).to_numpy(float),
        "magnitude": magnitude_crop_sides(boxes, classified["mag_r"].to_numpy(float), usable, box_table),
        "true_r": box_table.side(matched["r"].to_numpy(float)),
    }
    out = pd.DataFrame(
        {
            "field": str(fid),
            "r": matched["r"].to_numpy(float),
            "true_point": matched["class"].astype(str).to_numpy() != "GALAXY",
            "box_over_magnitude": sides["detector_box"] / box_table.side(matched["r"].to_numpy(float)),
        }
    )
    for crop, side in sides.items():
        answer = classify_detections(model, norm, composite, boxes, crop_scale=scale, sides_px=side)["class"]
        out[crop] = answer.astype(str).to_numpy() != "GALAXY"
    return out[distance < MATCH_PX].reset_index(drop=True)


def scores(rows: pd.DataFrame) -> list[dict]:
    """Point / galaxy agreement of each crop by true r, overall and per true class."""
    table = []
    for lo, hi in R_BINS:
        sel = rows[(rows["r"] >= lo) & (rows["r"] < hi)]
        entry = {"r": f"{lo:g}-{hi:g}", "n": int(len(sel)), "n_point": int(sel["true_point"].sum())}
        for crop in CROPS:
            right = sel[crop] == sel["true_point"]
            entry[crop] = {
                "agreement": float(right.mean()) if len(sel) else None,
                "galaxy_recall": float(right[~sel["true_point"]].mean()) if (~sel["true_point"]).any() else None,
                "point_recall": float(right[sel["true_point"]].mean()) if sel["true_point"].any() else None,
            }
        table.append(entry)
    return table


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workdir", type=Path, default=Path("."))
    ap.add_argument("--configfile", type=Path, nargs="+", default=[Path("config.yaml")])
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "out" / "crop_side.json")
    args = ap.parse_args(argv)

    from yl8c4net.classify.train import load_classifier
    from yl8c4net.images.labels import BoxTable
    from yl8c4net.pipeline.model_files import shipped_model

    cfg = merged_config(args.configfile)
    weights = cfg["classifier"]["weights"]
    weights = shipped_model("classifier") if weights == "shipped" else args.workdir / weights
    model, norm, _ = load_classifier(weights, device="cpu")
    box_table = BoxTable.from_config(cfg["training_data"]["box_table"])
    parts = []
    for fid in catalogued_fields(cfg):
        parts.append(field_rows(args.workdir, cfg, fid, model, norm, box_table))
        print(f"{fid}: {len(parts[-1])} rows matched", flush=True)
    rows = pd.concat(parts, ignore_index=True)
    bright = rows[rows["r"] < 19.0]
    ratio = {
        kind: [float(q) for q in np.percentile(bright.loc[sel, "box_over_magnitude"], [25, 50, 75])]
        for kind, sel in (("galaxies", ~bright["true_point"]), ("point sources", bright["true_point"]))
    }
    result = {"classifier": str(weights), "n_rows": int(len(rows)), "by_r": scores(rows), "bright_box_ratio": ratio}
    print("\n| r | n (point) | " + " | ".join(CROPS) + " |")
    print("|---|---|" + "---|" * len(CROPS))
    for entry in result["by_r"]:
        cells = [
            f"{entry[c]['agreement']:.3f} (gal {entry[c]['galaxy_recall']:.3f}, point {entry[c]['point_recall']:.3f})"
            for c in CROPS
        ]
        print(f"| {entry['r']} | {entry['n']} ({entry['n_point']}) | " + " | ".join(cells) + " |")
    for kind, q in ratio.items():
        print(f"detector box / magnitude box, {kind} r < 19: median {q[1]:.2f} (quartiles {q[0]:.2f}-{q[2]:.2f})")
    write_record(args.out, result)
    return result


if __name__ == "__main__":
    main()
