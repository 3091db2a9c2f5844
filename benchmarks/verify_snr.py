"""The flux verification's S/N, side by side: full-size maps read at the boxes' pixels
(`yl8c4net.detect.verify.smoothed_snr_maps`) against the same values computed at those
pixels only (`yl8c4net.detect.verify.snr_at_pixels`, what the verification runs), on the
real r frames of ../shared.

Positions per frame: the peaks of the background-subtracted frame above 5 times its noise
(photutils `find_peaks`, at most ``--peaks``; about what the detector boxes there) and
``--blank`` uniform random positions (boxes on nothing). Each way is timed ``--repeat``
times in turn on one core's worth of work (the median is reported), and the two are
compared: the largest relative difference of the S/N, the share of values equal to the bit,
and how many keep-or-drop decisions at the default ``min_snr`` differ.

    python benchmarks/verify_snr.py [--shared ../shared] [--repeat 3]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from record import write_record

from yl8c4net.detect.verify import VerifySettings, smoothed_snr_maps, snr_at_centres, snr_at_pixels


def frame_positions(image: np.ndarray, noise: float, n_peaks: int, n_blank: int, seed: int = 0):
    """x, y of up to ``n_peaks`` peaks above 5 x ``noise`` and of ``n_blank`` random pixels."""
    from photutils.detection import find_peaks

    from yl8c4net.images.composite import subtract_background

    data = subtract_background(np.asarray(image, np.float32), 64)
    peaks = find_peaks(data, 5.0 * noise, box_size=5, n_peaks=n_peaks)
    rng = np.random.default_rng(seed)
    rows, cols = image.shape
    x = np.concatenate([np.asarray(peaks["x_peak"], float), rng.uniform(0, cols - 1, n_blank)])
    y = np.concatenate([np.asarray(peaks["y_peak"], float), rng.uniform(0, rows - 1, n_blank)])
    return x, y, len(peaks)


def timed(fn, repeat: int):
    """The median wall time (s) of ``repeat`` calls and the last result."""
    times, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times)), result


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared")
    ap.add_argument("--peaks", type=int, default=700)
    ap.add_argument("--blank", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "out" / "verify_snr.json")
    args = ap.parse_args(argv)
    from yl8c4net.sdss.frames import r_frame_pixel_noise, read_frame

    frames = sorted(args.shared.glob("data/sas/**/frame-r-*.fits.bz2"))
    if not frames:
        raise SystemExit(f"ERROR {args.shared}: no real r frames (data/sas/**/frame-r-*.fits.bz2)")
    settings = VerifySettings()
    fwhms, box = settings.smooth_fwhm_px, settings.background_box_px
    print(
        "| frame | positions (peaks) | full maps, s | at the pixels, s | ratio | max relative difference | equal to the bit | decisions that differ |"
    )
    print("|---|---|---|---|---|---|---|---|")
    rows = []
    for path in frames:
        frame = read_frame(path)
        camcol = int(path.name.split("-")[3])
        noise = r_frame_pixel_noise(frame, camcol)
        image = np.asarray(frame.image, np.float32)
        x, y, n_peaks = frame_positions(image, noise, args.peaks, args.blank)

        def full_maps():
            return [snr_at_centres(m, x, y) for m in smoothed_snr_maps(image, noise, fwhms, box)]

        def at_pixels():
            return snr_at_pixels(image, noise, x, y, fwhms, box)

        t_full, reference = timed(full_maps, args.repeat)
        t_pixels, values = timed(at_pixels, args.repeat)
        reference, values = np.array(reference, float), np.array(values, float)
        rel = np.abs(values - reference) / np.maximum(np.abs(reference), 1.0)
        keep_ref = reference.max(axis=0) >= settings.min_snr
        keep_new = values.max(axis=0) >= settings.min_snr
        row = {
            "frame": path.name,
            "positions": int(len(x)),
            "peaks": n_peaks,
            "full_maps_s": t_full,
            "at_pixels_s": t_pixels,
            "ratio": t_full / t_pixels,
            "max_relative_difference": float(rel.max()),
            "share_equal": float((values == reference).mean()),
            "decisions_differ": int((keep_ref != keep_new).sum()),
        }
        rows.append(row)
        print(
            f"| {path.name} | {row['positions']} ({n_peaks}) | {t_full:.3f} | {t_pixels:.3f} | {row['ratio']:.1f} | "
            f"{row['max_relative_difference']:.1e} | {row['share_equal']:.3f} | {row['decisions_differ']} |"
        )
    summary = {
        "full_maps_s_median": float(np.median([r["full_maps_s"] for r in rows])),
        "at_pixels_s_median": float(np.median([r["at_pixels_s"] for r in rows])),
        "decisions_differ": int(sum(r["decisions_differ"] for r in rows)),
        "positions": int(sum(r["positions"] for r in rows)),
    }
    print(
        f"\nmedian per frame: {summary['full_maps_s_median']:.3f} s full maps, {summary['at_pixels_s_median']:.3f} s at the "
        f"pixels; decisions that differ: {summary['decisions_differ']} of {summary['positions']}"
    )
    write_record(
        args.out, {"settings": {"smooth_fwhm_px": list(fwhms), "background_box_px": box}, "frames": rows, **summary}
    )
    return summary


if __name__ == "__main__":
    main()
