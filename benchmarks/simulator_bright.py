"""Simulated versus real r frames where detectors fail: bright and saturated
sources, their sizes, crowding, pixel statistics, and the composites side by side.

Real: the five fields of ../shared/data/sas. Simulated: ``--n-sim`` high-latitude fields of
the default population (no boost) and one crowded field per crowding factor in
``--crowding`` (the crowding wave's peak), all from seed 99 at RA 60 deg (no training set
uses them). On each r frame (the recipe of yl8c4net.detect.bright's segmentation: 3-px
smoothing, 5 sigma, 20 px, no deblending):

- segments per frame by total r magnitude (counts vs magnitude);
- median segment area (pixels) of round segments by magnitude (size vs magnitude of stars,
  saturated ones included: their area grows with the wings and the bleed trail);
- pixels at >= 50,000 counts above the sky (saturated), and the brightest pixel (counts);
- pixel percentiles in units of the clipped rms.

    python benchmarks/simulator_bright.py [--shared ../shared] [--n-sim 3] [--crowding 25]

Prints Markdown tables; writes benchmarks/out/simulator_bright.json and the figure
docs/figures/simulator_bright.png (real and simulated composites around bright stars and
in crowded fields).
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
from pathlib import Path

import numpy as np

from yl8c4net.sdss.magnitudes import pogson_mag
from yl8c4net.sdss.fields import FieldId, frame_relpath, irg_jpeg_relpath
from yl8c4net.sdss.frames import read_frame
from yl8c4net.simulate.mirror import SimConfig, simulate_field
from yl8c4net.simulate.survey import FIELD_STEP_ROWS, PIXEL_SCALE_DEG
from record import write_record

REAL = [(4510, 4, 30), (1035, 6, 17), (1992, 1, 87), (5405, 6, 99), (2583, 2, 136)]
MAG_BINS = [(5.0, 14.0), (14.0, 16.0), (16.0, 18.0), (18.0, 20.0), (20.0, 22.0)]
SAT_COUNTS = 50_000.0


def frame_measures(image: np.ndarray, calib: np.ndarray) -> dict:
    from astropy.convolution import Gaussian2DKernel, convolve_fft
    from astropy.stats import gaussian_fwhm_to_sigma, sigma_clipped_stats
    from photutils.segmentation import SourceCatalog, detect_sources

    _, med, rms = sigma_clipped_stats(image, sigma=3.0, maxiters=5)
    data = image - med
    smooth = convolve_fft(data, Gaussian2DKernel(3.0 * gaussian_fwhm_to_sigma), allow_huge=True)
    segm = detect_sources(smooth, 5.0 * rms, n_pixels=20)
    cat = SourceCatalog(data, segm)
    flux = np.asarray(cat.segment_flux)
    mag = pogson_mag(flux)
    area = np.asarray(cat.area.value)
    round_ = np.asarray(cat.elongation.value) < 1.5
    counts = image / calib[None, :]
    out = {
        "sky_rms": float(rms),
        "n_saturated_px": int((counts >= SAT_COUNTS).sum()),
        "max_counts": float(counts.max()),
        "pixel_pct_rms": {str(p): float(np.percentile(data, p) / rms) for p in (50, 90, 99, 99.9)},
        "counts": {},
        "area": {},
    }
    for lo, hi in MAG_BINS:
        sel = (mag >= lo) & (mag < hi)
        out["counts"][f"{lo:g}-{hi:g}"] = int(sel.sum())
        s = sel & round_
        out["area"][f"{lo:g}-{hi:g}"] = float(np.median(area[s])) if s.any() else None
    return out


def _crop_around_brightest(image_rgb, counts, size=300):
    """A square crop of a composite (display orientation) around the frame's brightest pixel."""
    y, x = np.unravel_index(np.argmax(counts), counts.shape)
    h = image_rgb.shape[0]
    yd = h - 1 - y
    x0 = int(np.clip(x - size // 2, 0, image_rgb.shape[1] - size))
    y0 = int(np.clip(yd - size // 2, 0, h - size))
    return image_rgb[y0 : y0 + size, x0 : x0 + size]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared")
    ap.add_argument("--n-sim", type=int, default=3)
    ap.add_argument("--crowding", type=float, nargs="*", default=[25.0])
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "out" / "simulator_bright.json")
    ap.add_argument(
        "--figure", type=Path, default=Path(__file__).resolve().parents[1] / "docs" / "figures" / "simulator_bright.png"
    )
    args = ap.parse_args()
    from PIL import Image

    sas = args.shared / "data" / "sas"
    rows, crops = [], {}
    for run, camcol, field in REAL:
        fid = FieldId(run, camcol, field)
        fr = read_frame(sas / frame_relpath(fid, "r"))
        rows.append({"frame": f"real {run}/{camcol}/{field}", **frame_measures(fr.image, fr.calib)})
        jpeg = sas / irg_jpeg_relpath(fid)
        if jpeg.is_file() and (run, camcol, field) in {(1035, 6, 17), (5405, 6, 99)}:
            crops[f"real {run}/{camcol}/{field}"] = _crop_around_brightest(
                np.asarray(Image.open(jpeg)), fr.image / fr.calib[None, :]
            )
    base = {"seed": 99, "ra0_deg": 60.0, "runs": [{"run": 9901, "camcols": [3], "fields": [11, 20]}]}
    with tempfile.TemporaryDirectory() as tmp:
        sims = [("high latitude", SimConfig.from_dict(base), 11 + k) for k in range(args.n_sim)]
        for scale in args.crowding:
            # The wave's peak: half a period after RA 0 of the wave; put field 15 there.
            sim = SimConfig.from_dict({**base, "crowding": {"max_scale": scale, "period_deg": 6.0}})
            centre = 3.0 + 6.0 * np.ceil(60.0 / 6.0)
            sim = dataclasses.replace(
                sim, geometry=dataclasses.replace(sim.geometry, ra0_deg=centre - 15 * FIELD_STEP_ROWS * PIXEL_SCALE_DEG)
            )
            sims.append((f"crowded x{scale:g}", sim, 15))
        for k, (kind, sim, field) in enumerate(sims):
            fid = FieldId(9901, 3, field)
            root = Path(tmp) / f"m{k}"
            simulate_field(sim, fid, root)
            fr = read_frame(root / Path(*frame_relpath(fid, "r").parts))
            name = f"sim {kind} field {field}"
            rows.append({"frame": name, **frame_measures(fr.image, fr.calib)})
            if k == 0 or kind.startswith("crowded"):
                img = np.asarray(Image.open(root / Path(*irg_jpeg_relpath(fid).parts)))
                crops[name] = _crop_around_brightest(img, fr.image / fr.calib[None, :])
    bins = [f"{lo:g}-{hi:g}" for lo, hi in MAG_BINS]
    print("| frame | segments r " + " | ".join(bins) + " | saturated px | brightest (counts) |")
    print("|---|" + "---|" * (len(bins) + 2))
    for r in rows:
        print(
            f"| {r['frame']} | "
            + " | ".join(str(r["counts"][b]) for b in bins)
            + f" | {r['n_saturated_px']} | {r['max_counts']:.0f} |"
        )
    print(
        "\n| frame | median area of round segments (px), r "
        + " | ".join(bins)
        + " | pixel p50 / p90 / p99 / p99.9 (rms) |"
    )
    print("|---|" + "---|" * (len(bins) + 1))
    for r in rows:
        area = " | ".join("-" if r["area"][b] is None else f"{r['area'][b]:.0f}" for b in bins)
        pct = " / ".join(f"{v:.2f}" for v in r["pixel_pct_rms"].values())
        print(f"| {r['frame']} | {area} | {pct} |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_record(args.out, rows)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(crops), figsize=(3.2 * len(crops), 3.4), dpi=100)
    for ax, (name, crop) in zip(np.atleast_1d(axes), crops.items()):
        ax.imshow(crop)
        ax.set_title(name, fontsize=8)
        ax.set_axis_off()
    fig.tight_layout()
    args.figure.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.figure)
    print(f"written {args.out} and {args.figure}")


if __name__ == "__main__":
    main()
