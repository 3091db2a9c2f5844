"""Justify the magnitude -> box-side table: the fraction of each star's flux inside its box,
per r-magnitude bin, on the real frame 4510/4/30 (calibObj stars) and on a simulated frame.

    python benchmarks/box_table.py [--shared ../shared]

Flux inside the box / flux inside a 40-pixel (16") box, on the sky-subtracted r frame; the
median per bin. Prints a Markdown table; writes benchmarks/out/box_table.json.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from astropy.io import fits

from yl8c4net.sdss.magnitudes import pogson_mag
from yl8c4net.images.labels import BoxTable
from yl8c4net.sdss.fields import FieldId, frame_relpath
from yl8c4net.sdss.frames import read_frame
from record import write_record

BINS = [(14, 16), (16, 18), (18, 19), (19, 20), (20, 21), (21, 22.2)]
REF_SIDE = 40


def enclosed(image, x, y, side):
    out = []
    for xi, yi, s in zip(x, y, side):
        xc, yc = int(round(xi)), int(round(yi))
        h, H = int(s // 2), REF_SIDE // 2
        if not (H <= xc < image.shape[1] - H and H <= yc < image.shape[0] - H):
            out.append(np.nan)
            continue
        ref = image[yc - H : yc + H, xc - H : xc + H].sum()
        box = image[yc - h : yc + h, xc - h : xc + h].sum()
        out.append(box / ref if ref > 0 else np.nan)
    return np.array(out)


def measure(image, wcs, stars, table):
    x, y = wcs.all_world2pix(stars["ra"], stars["dec"], 0)
    frac = enclosed(image, x, y, table.side(stars["r"]))
    rows = {}
    for lo, hi in BINS:
        sel = (stars["r"].to_numpy() >= lo) & (stars["r"].to_numpy() < hi) & np.isfinite(frac)
        rows[f"{lo}-{hi}"] = {
            "n": int(sel.sum()),
            "median_fraction": float(np.median(frac[sel])) if sel.any() else None,
        }
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared")
    args = ap.parse_args()
    table = BoxTable()
    sas = args.shared / "data" / "sas"
    real = read_frame(sas / frame_relpath(FieldId(4510, 4, 30), "r"))
    with fits.open(sas / "dr17/eboss/sweeps/dr13_final/301/calibObj-004510-4-star.fits.gz") as h:
        s = h[1].data
        s = s[s["FIELD"] == 30]
        stars = pd.DataFrame(
            {
                "ra": s["RA"].astype(float),
                "dec": s["DEC"].astype(float),
                "r": pogson_mag(s["PSFFLUX"][:, 2].astype(float), floor_nmgy=1e-3),
            }
        )
    res = {"real 4510/4/30": measure(real.image, real.wcs, stars, table)}
    from yl8c4net.simulate.mirror import SimConfig, simulate_field, truth_relpath

    with tempfile.TemporaryDirectory() as tmp:
        fid = FieldId(9101, 3, 11)
        simulate_field(
            SimConfig.from_dict({"seed": 3, "runs": [{"run": 9101, "camcols": [3], "fields": [11, 11]}]}), fid, tmp
        )
        sim = read_frame(Path(tmp) / frame_relpath(fid, "r"))
        truth = pd.read_parquet(Path(tmp) / truth_relpath(fid))
        res["simulated 9101/3/11"] = measure(sim.image, sim.wcs, truth[truth["class"] != "GALAXY"], table)
    print("| r bin | box side (px) | " + " | ".join(f"{k}: n, median flux fraction" for k in res) + " |")
    print("|---|---|" + "---|" * len(res))
    for lo, hi in BINS:
        side = int(table.side([(lo + hi) / 2])[0])
        cells = [
            f"{v[f'{lo}-{hi}']['n']}, {v[f'{lo}-{hi}']['median_fraction']:.2f}" if v[f"{lo}-{hi}"]["n"] else "-"
            for v in res.values()
        ]
        print(f"| {lo}-{hi} | {side} | " + " | ".join(cells) + " |")
    out = Path(__file__).resolve().parent / "out" / "box_table.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    write_record(out, res)


if __name__ == "__main__":
    main()
