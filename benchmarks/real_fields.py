"""The detector on the five real SDSS fields of ../shared:

- recovered: the fraction of photutils 10-sigma sources (the reference below) whose centroid
  lies inside a detection box, per field;
- calibObj stars of 4510/4/30 brighter than r = 16 (SDSS's own star catalogue) found, and on
  every field the sources brighter than r = 16 (segments at 5 x the frame's noise, not
  deblended, r from the segment flux; `bright_reference`) inside a box;
- spurious: the fraction of detections whose centre is on no photutils 2-sigma segment (the
  r frame smoothed as below, 2 x its own clipped rms, 3 px); and the same against 2 x the
  frame's own noise above its Background2D (SDSS's recipe from sky, gain and dark variance,
  `yl8c4net.sdss.frames.r_frame_pixel_noise`), with the share of the frame those segments
  cover (a box centre thrown at random lands on a segment that often). On crowded fields
  the clipped rms is 2.2-2.4 x the noise (unresolved stars), so its "2 sigma" is ~5 sigma
  and faint real stars count as spurious; on high-latitude fields the two agree;
- three stages side by side from one run: the network's boxes at ``--conf``; the boxes that
  pass the flux verification, with those under ``--conf`` rescued by an S/N of
  ``--rescue-snr`` (`detector.verify`, on by default: what the workflow's detections hold); and
  those with the bright-source complement (`detector.bright_complement`) added;
- an overlay PNG per field: boxes (green: detector, cyan: complement), missed reference
  sources (red circles).

The reference (our code, independent of the detector): the r frame minus its photutils
``Background2D`` (64-px meshes; ``--reference-background 0``: minus its clipped median only,
a reference that counts the fragments of diffuse features,
like a faint streak on 1035/6/17, as sources and left M2's core stars in its unresolved
light), smoothed with a 3-px-FWHM Gaussian, segmented at 1.5 sigma (5 px), deblended
(photutils ``deblend_sources``, 32 levels, contrast 0.001); a segment is a 10-sigma source
when its flux / (rms sqrt(area)) > 10.

    python benchmarks/real_fields.py [--weights PATH] [--conf 0.25] [--shared ../shared]
        [--background-box 64] [--no-official-jpeg] [--reference-background 64] [--verify-min-snr 3.15]
        [--noise-zero background|median] [--fields 1035/6/17 ...]

Weights default to the shipped detector (`yl8c4net.pipeline.model_files`). Prints a Markdown table;
writes benchmarks/out/real_fields.json and benchmarks/out/real_fields/<field>.png.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from yl8c4net.sdss.magnitudes import pogson_mag
from yl8c4net.images.composite import BACKGROUND_BOX_PX, subtract_background
from yl8c4net.detect.env import prepare_ultralytics
from yl8c4net.detect.verify import VerifySettings, verify_detections
from yl8c4net.config import schema_default
from record import write_record

REAL = [(4510, 4, 30), (1035, 6, 17), (1992, 1, 87), (5405, 6, 99), (2583, 2, 136)]
CROWDED = {(5405, 6, 99), (2583, 2, 136)}
SWEEP = "dr17/eboss/sweeps/dr13_final/301/calibObj-004510-4-star.fits.gz"
TARGET = {"high_latitude": 0.97, "crowded": 0.90, "spurious": 0.05}


def reference_sources(
    image: np.ndarray,
    snr_min: float = 10.0,
    pixel_noise: float | None = None,
    background_box_px: int | None = BACKGROUND_BOX_PX,
    noise_zero: str = "background",
):
    """photutils sources of a sky-subtracted frame with S/N > ``snr_min``, and the 2-sigma
    segmentations that detections are checked against: at 2 x the smoothed frame's clipped
    rms, and (when ``pixel_noise``, the frame's own noise per pixel, is given) at 2 x that
    noise smoothed by the same kernel (None otherwise), counted from the Background2D
    (``noise_zero="background"``) or from the clipped median
    of what the Background2D leaves (``"median"``).

    The frame first loses its photutils ``Background2D`` (``background_box_px`` meshes, the
    composite's `~yl8c4net.images.composite.subtract_background`), as photutils' own segmentation
    recipe does; None: only its clipped median."""
    from astropy.convolution import Gaussian2DKernel, convolve_fft
    from astropy.stats import gaussian_fwhm_to_sigma, sigma_clipped_stats
    from photutils.segmentation import SourceCatalog, deblend_sources, detect_sources

    image = subtract_background(image, background_box_px)
    _, med, rms = sigma_clipped_stats(image, sigma=3.0)
    data = image - med
    kernel = Gaussian2DKernel(3.0 * gaussian_fwhm_to_sigma)
    smooth = convolve_fft(data, kernel, allow_huge=True)
    segm = detect_sources(smooth, 1.5 * rms, n_pixels=5)
    segm = deblend_sources(smooth, segm, n_pixels=5, progress_bar=False)
    cat = SourceCatalog(data, segm, convolved_data=smooth)
    snr = np.asarray(cat.segment_flux) / (rms * np.sqrt(np.asarray(cat.area.value)))
    ok = snr > snr_min
    ref = pd.DataFrame({"x": np.asarray(cat.x_centroid)[ok], "y": np.asarray(cat.y_centroid)[ok], "snr": snr[ok]})
    # The 2-sigma segments: 2 x the rms of the smoothed frame itself (smoothing lowers the
    # noise; the 10-sigma reference above keeps detector_eval's recipe for continuity).
    _, _, rms_smooth = sigma_clipped_stats(smooth, sigma=3.0)
    two_sigma = detect_sources(smooth, 2.0 * rms_smooth, n_pixels=3)
    two_sigma_noise = None
    if pixel_noise is not None:
        smoothed_noise = pixel_noise * float(np.sqrt((kernel.array**2).sum()))
        # A threshold in units of the noise counts from the background, which is the
        # Background2D when there is one. The clipped median of what it leaves is starlight
        # on a crowded field (0.014 nanomaggies on 5405/6/99, 2.4 sigma of the smoothed
        # noise), and taking it out too puts these
        # "2-sigma" segments at ~4.4 sigma there (`--noise-zero median` keeps that).
        if background_box_px and noise_zero == "background":
            smooth = convolve_fft(image, kernel, allow_huge=True)
        two_sigma_noise = detect_sources(smooth, 2.0 * smoothed_noise, n_pixels=3)
    return ref, two_sigma, two_sigma_noise


def bright_reference(image: np.ndarray, pixel_noise: float, r_max: float = 16.0) -> pd.DataFrame:
    """Sources brighter than ``r_max`` on the r frame (its Background2D taken out; segments at
    5 x the noise after 3-px smoothing, 20 px or more, not deblended, so that a saturated
    star with its spikes is one source), with x, y and r from the segment flux."""
    from astropy.convolution import Gaussian2DKernel, convolve_fft
    from astropy.stats import gaussian_fwhm_to_sigma
    from photutils.segmentation import SourceCatalog, detect_sources

    data = subtract_background(image, BACKGROUND_BOX_PX)
    kernel = Gaussian2DKernel(3.0 * gaussian_fwhm_to_sigma)
    smooth = convolve_fft(data, kernel, allow_huge=True)
    segm = detect_sources(smooth, 5.0 * pixel_noise * float(np.sqrt((kernel.array**2).sum())), n_pixels=20)
    cat = SourceCatalog(data, segm, convolved_data=smooth)
    r = pogson_mag(np.asarray(cat.segment_flux), floor_nmgy=1e-6)
    bright = r < r_max
    return pd.DataFrame(
        {"x": np.asarray(cat.x_centroid)[bright], "y": np.asarray(cat.y_centroid)[bright], "r": r[bright]}
    )


def inside_any_box(x, y, det: pd.DataFrame) -> np.ndarray:
    """For each point, whether it lies inside one of the detection boxes (chunked)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    out = np.zeros(len(x), bool)
    bx, by, bw, bh = (det[k].to_numpy(float) for k in ("x", "y", "w", "h"))
    for start in range(0, len(bx), 500):
        sl = slice(start, start + 500)
        dx = np.abs(x[:, None] - bx[None, sl]) <= bw[None, sl] / 2
        dy = np.abs(y[:, None] - by[None, sl]) <= bh[None, sl] / 2
        out |= (dx & dy).any(axis=1)
    return out


def spurious_fraction(det: pd.DataFrame, segm, shape) -> float:
    """Fraction of detections whose centre pixel is on no 2-sigma segment (blank sky). On
    4510/4/30 the segments cover 6 % of the frame: a box centre thrown at random would be
    "on a segment" 6 % of the time."""
    if len(det) == 0:
        return 0.0
    xi = np.clip(np.round(det["x"].to_numpy()).astype(int), 0, shape[1] - 1)
    yi = np.clip(np.round(det["y"].to_numpy()).astype(int), 0, shape[0] - 1)
    seg = segm.data if segm is not None else np.zeros(shape, int)
    return float((seg[yi, xi] == 0).mean())


def overlay(path: Path, composite: np.ndarray, det: pd.DataFrame, ref: pd.DataFrame, found: np.ndarray, title: str):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    fig, ax = plt.subplots(figsize=(20.48, 14.89), dpi=100)
    ax.imshow(composite[..., :3], origin="lower", interpolation="nearest")
    for x, y, w, h, tile in det[["x", "y", "w", "h", "tile"]].itertuples(index=False):
        colour = "cyan" if tile < 0 else "lime"
        ax.add_patch(Rectangle((x - w / 2, y - h / 2), w, h, fill=False, lw=0.6, ec=colour))
    miss = ref[~found]
    ax.scatter(miss["x"], miss["y"], s=60, facecolors="none", edgecolors="red", lw=0.8)
    ax.set_title(title)
    ax.set_axis_off()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", default=None, help="YOLO weights (default: the shipped detector)")
    ap.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared")
    ap.add_argument(
        "--conf", type=float, default=schema_default("detector", "conf"), help="default: the workflow's detector.conf"
    )
    ap.add_argument("--r-max", type=float, default=16.0, help="bright complement: r_max")
    ap.add_argument(
        "--background-box",
        type=int,
        default=BACKGROUND_BOX_PX,
        help="composite.background_box_px for FITS composites (0: none)",
    )
    ap.add_argument(
        "--no-official-jpeg",
        action="store_true",
        help="FITS composites for every field (training_data.use_official_jpeg: false)",
    )
    ap.add_argument(
        "--reference-background",
        type=int,
        default=BACKGROUND_BOX_PX,
        help="mesh (px) of the Background2D taken out of the r frame before the reference segmentation (0: none)",
    )
    ap.add_argument(
        "--verify-min-snr",
        type=float,
        default=VerifySettings().min_snr,
        help="detector.verify.min_snr for the verified column (0: no verification)",
    )
    ap.add_argument(
        "--rescue-snr",
        type=float,
        default=VerifySettings().rescue_snr,
        help="detector.verify.rescue_snr: boxes under --conf (down to rescue_conf) kept at this S/N (0: no rescue)",
    )
    ap.add_argument(
        "--noise-zero",
        choices=("background", "median"),
        default="background",
        help="zero of the segments at 2 x the frame's noise: the Background2D, or also its clipped median",
    )
    ap.add_argument("--fields", nargs="+", metavar="RUN/CAMCOL/FIELD", help="a subset of the five (default: all)")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "out")
    args = ap.parse_args()
    prepare_ultralytics(Path(tempfile.mkdtemp(prefix="yl8c4net-real-")))
    from astropy.table import Table
    from ultralytics import YOLO

    from yl8c4net.images.composite import field_composite
    from yl8c4net.detect.bright import BrightSourceSettings, bright_sources, merge_bright_sources
    from yl8c4net.detect.infer import detect_field
    from yl8c4net.sdss.fetch import fetch_field
    from yl8c4net.images.labels import BoxTable
    from yl8c4net.pipeline.model_files import shipped_detector
    from yl8c4net.sdss.fields import FieldId
    from yl8c4net.sdss.frames import r_frame_pixel_noise, read_frame
    from yl8c4net.sdss.source import MirrorSource

    weights = Path(args.weights) if args.weights else shipped_detector()
    model = YOLO(str(weights), task="detect")
    settings = BrightSourceSettings(enabled=True, r_max=args.r_max)
    sas = args.shared / "data" / "sas"
    report = {
        "weights": str(weights),
        "conf": args.conf,
        "bright_r_max": args.r_max,
        "background_box_px": args.background_box or None,
        "official_jpeg": not args.no_official_jpeg,
        "reference_background_box_px": args.reference_background or None,
        "verify_min_snr": args.verify_min_snr or None,
        "verify_rescue_snr": args.rescue_snr or None,
        "noise_zero": args.noise_zero,
        "fields": [],
    }
    header = (
        "| field | image | 10-sigma sources | recovered: boxes / verified / + complement | target "
        "| detections: boxes / verified (+ complement) | spurious vs the frame's noise: boxes / verified / "
        "+ complement (segments cover) | ... vs the clipped rms | r < 16 sources in a box: boxes / verified / "
        "+ complement (n) | calibObj r < 16 found: verified / + complement |"
    )
    print(header)
    print("|---|---|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        chosen = [f for f in REAL if not args.fields or "/".join(map(str, f)) in args.fields]
        if not chosen:
            raise SystemExit(f"--fields {' '.join(args.fields)}: none of {['/'.join(map(str, f)) for f in REAL]}")
        for run, camcol, field in chosen:
            fid = FieldId(run, camcol, field)
            d = Path(tmp) / fid.tag
            manifest = fetch_field(fid, MirrorSource(sas), "gri", d)
            composite, origin = field_composite(
                d, manifest, use_official_jpeg=not args.no_official_jpeg, background_box_px=args.background_box or None
            )
            frame = read_frame(d / manifest["frames"]["r"]["file"])
            verify = VerifySettings(min_snr=args.verify_min_snr or None, rescue_snr=args.rescue_snr or None)
            t0 = time.perf_counter()
            drawn = detect_field(model, composite, conf=verify.detection_conf(args.conf), device="cpu")
            boxes = drawn[drawn["conf"] >= args.conf].reset_index(drop=True)  # the network at --conf
            t_det = time.perf_counter() - t0
            noise = r_frame_pixel_noise(frame, camcol)
            t0 = time.perf_counter()
            det, n_dropped = verify_detections(drawn, frame.image, noise, verify, args.conf)
            t_verify = time.perf_counter() - t0
            t0 = time.perf_counter()
            bright = bright_sources(frame.image, frame.calib, settings, BoxTable().side)
            combined = merge_bright_sources(det, bright)
            t_bright = time.perf_counter() - t0
            ref, segm2, segm2_noise = reference_sources(
                frame.image,
                pixel_noise=noise,
                background_box_px=args.reference_background or None,
                noise_zero=args.noise_zero,
            )
            chains = {"boxes": boxes, "verified": det, "combined": combined}
            found = {k: inside_any_box(ref["x"], ref["y"], v) for k, v in chains.items()}
            bright_ref = bright_reference(frame.image, noise)
            found_bright = {
                k: int(inside_any_box(bright_ref["x"], bright_ref["y"], v).sum()) for k, v in chains.items()
            }
            found_all = found["combined"]
            row = {
                "field": f"{run}/{camcol}/{field}",
                "image": origin,
                "crowded": (run, camcol, field) in CROWDED,
                "n_reference": int(len(ref)),
                **{f"recovered_{k}": float(v.mean()) if len(ref) else None for k, v in found.items()},
                "n_boxes": int(len(boxes)),
                "n_verified": int(len(det)),
                "n_combined": int(len(combined)),
                "n_bright": int(len(bright)),
                **{f"spurious_{k}": spurious_fraction(v, segm2, frame.image.shape) for k, v in chains.items()},
                "pixel_noise_nmgy": noise,
                **{
                    f"spurious_{k}_frame_noise": spurious_fraction(v, segm2_noise, frame.image.shape)
                    for k, v in chains.items()
                },
                "n_r_lt_16": int(len(bright_ref)),
                **{f"r_lt_16_in_box_{k}": v for k, v in found_bright.items()},
                "n_rescued": int((det["conf"] < args.conf).sum()),
                "segment_cover": float((segm2.data > 0).mean()),
                "segment_cover_frame_noise": float((segm2_noise.data > 0).mean()),
                "detect_s": t_det,
                "verify_s": t_verify,
                "complement_s": t_bright,
            }
            row["target"] = TARGET["crowded"] if row["crowded"] else TARGET["high_latitude"]
            stars_txt = "-"
            if (run, camcol, field) == (4510, 4, 30):
                stars = Table.read(sas / SWEEP)
                stars = stars[stars["FIELD"] == field]
                r = pogson_mag(np.asarray(stars["PSFFLUX"])[:, 2], floor_nmgy=1e-3)
                x, y = frame.wcs.all_world2pix(stars["RA"], stars["DEC"], 0)
                on = (r < 16) & (x >= 0) & (x <= 2047) & (y >= 0) & (y <= 1488)
                n_det = int(inside_any_box(x[on], y[on], det).sum())
                n_all = int(inside_any_box(x[on], y[on], combined).sum())
                row.update(calibobj_r_lt_16=int(on.sum()), calibobj_found_verified=n_det, calibobj_found_combined=n_all)
                stars_txt = f"{n_det} / {n_all} of {int(on.sum())}"
            report["fields"].append(row)
            overlay(
                args.out / "real_fields" / f"{fid.tag}.png",
                composite,
                combined,
                ref,
                found_all,
                f"{row['field']} ({origin}): verified boxes {row['recovered_verified']:.3f}, "
                f"with complement {row['recovered_combined']:.3f} of {len(ref)} 10-sigma sources",
            )
            print(
                f"| {row['field']} | {origin} | {len(ref)} | {row['recovered_boxes']:.3f} / "
                f"{row['recovered_verified']:.3f} / {row['recovered_combined']:.3f} | >= {row['target']:.2f} | "
                f"{len(boxes)} / {len(det)} (+{len(bright)}) | "
                f"{row['spurious_boxes_frame_noise']:.3f} / {row['spurious_verified_frame_noise']:.3f} / "
                f"{row['spurious_combined_frame_noise']:.3f} ({row['segment_cover_frame_noise']:.2f}) | "
                f"{row['spurious_boxes']:.3f} / {row['spurious_verified']:.3f} / {row['spurious_combined']:.3f} "
                f"({row['segment_cover']:.2f}) | {found_bright['boxes']} / {found_bright['verified']} / "
                f"{found_bright['combined']} ({len(bright_ref)}) | {stars_txt} |",
                flush=True,
            )
    out = args.out / "real_fields.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    write_record(out, report)
    print(f"written {out}")


if __name__ == "__main__":
    main()
