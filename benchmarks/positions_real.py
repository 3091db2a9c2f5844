"""Catalogue positions on a real SDSS frame: the detector on 4510/4/30 (official irg JPEG),
positions measured on the r frame as the workflow does (`yl8c4net.catalog.positions`), compared with
SDSS's own positions of the calibObj stars of that field; the box centres side by side, and
lean mode's positions (`sdss.lean`: centroids on the JPEG's r channel, WCS from asTrans, here
the field's asTrans row in the r frame's HDU 3, the same row as the run's asTrans file).

    python benchmarks/positions_real.py --weights results/models/detector/yolov8.pt [--shared ../shared]

Prints a table by r magnitude; writes benchmarks/out/positions_real.json.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from yl8c4net.sdss.magnitudes import pogson_mag
from yl8c4net.detect.env import prepare_ultralytics
from yl8c4net.config import schema_default
from record import write_record

FIELD = (4510, 4, 30)
SWEEP = "dr17/eboss/sweeps/dr13_final/301/calibObj-004510-4-star.fits.gz"
R_BINS = (12.0, 16.0, 18.0, 20.0, 21.0, 22.5)


def astrans_of_frame(path: Path):
    """The asTrans row a corrected frame carries in HDU 3."""
    import bz2
    import io

    from astropy.io import fits

    from yl8c4net.sdss.astrom import AsTrans

    with fits.open(io.BytesIO(bz2.decompress(path.read_bytes()))) as hdul:
        return AsTrans.from_row(hdul[3].data[0])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", required=True)
    ap.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared")
    ap.add_argument(
        "--conf", type=float, default=schema_default("detector", "conf"), help="default: the workflow's detector.conf"
    )
    ap.add_argument("--window-fwhm-arcsec", type=float, default=1.4)
    args = ap.parse_args()
    prepare_ultralytics(Path(tempfile.mkdtemp(prefix="yl8c4net-pos-")))
    from astropy.table import Table
    from ultralytics import YOLO

    from yl8c4net.catalog.sky import pixels_to_sky
    from yl8c4net.images.composite import field_composite
    from yl8c4net.detect.infer import detect_field
    from yl8c4net.sdss.fetch import fetch_field
    from yl8c4net.catalog.positions import refine_positions
    from yl8c4net.sdss.fields import FieldId
    from yl8c4net.sdss.astrom import astrans_wcs
    from yl8c4net.sdss.frames import read_frame
    from yl8c4net.sdss.source import MirrorSource

    sas = args.shared / "data" / "sas"
    fid = FieldId(*FIELD)
    with tempfile.TemporaryDirectory() as tmp:
        manifest = fetch_field(fid, MirrorSource(sas), "gri", Path(tmp))
        image, origin = field_composite(Path(tmp), manifest)
        frame_path = Path(tmp) / manifest["frames"]["r"]["file"]
        frame = read_frame(frame_path)
        trans = astrans_of_frame(frame_path)
    det = detect_field(YOLO(args.weights), image, conf=args.conf, device="cpu")
    measured = pixels_to_sky(refine_positions(det, frame.image, args.window_fwhm_arcsec), frame.wcs)
    boxes = pixels_to_sky(det, frame.wcs)
    lean = pixels_to_sky(
        refine_positions(det, image[..., 1].astype(np.float32), args.window_fwhm_arcsec), astrans_wcs(trans)
    )
    stars = Table.read(sas / SWEEP)
    stars = stars[stars["FIELD"] == FIELD[2]]
    x, y = frame.wcs.all_world2pix(stars["RA"], stars["DEC"], 0)
    on_frame = (x >= 0) & (x <= 2047) & (y >= 0) & (y <= 1488)
    ra, dec = np.asarray(stars["RA"])[on_frame], np.asarray(stars["DEC"])[on_frame]
    r = pogson_mag(np.asarray(stars["PSFFLUX"][:, 2])[on_frame], floor_nmgy=1e-3)

    def offsets(table: pd.DataFrame) -> np.ndarray:
        """Arcsec from each star to the nearest row of ``table`` (inf beyond 2")."""
        scale = np.cos(np.deg2rad(dec))
        tree = cKDTree(np.column_stack([table["ra"] * scale.mean(), table["dec"]]) * 3600)
        d, _ = tree.query(np.column_stack([ra * scale.mean(), dec]) * 3600, distance_upper_bound=2.0)
        return d

    d_meas, d_box, d_lean = offsets(measured), offsets(boxes), offsets(lean)
    report = {
        "field": "/".join(map(str, FIELD)),
        "composite": origin,
        "n_stars": int(len(ra)),
        "n_detections": int(len(det)),
        "by_r": {},
    }
    print(f"field {report['field']} ({origin}): {len(ra)} calibObj stars, {len(det)} detections")
    print('| r | stars | found within 2" | median offset, measured | box centre | lean mode |')
    print("|---|---|---|---|---|---|")
    for lo, hi in zip(R_BINS[:-1], R_BINS[1:]):
        sel = (r >= lo) & (r < hi)
        found = sel & np.isfinite(d_meas)
        found_box = sel & np.isfinite(d_box)
        row = {
            "n": int(sel.sum()),
            "found": int(found.sum()),
            "median_measured_arcsec": float(np.median(d_meas[found])) if found.any() else None,
            "median_box_arcsec": float(np.median(d_box[found_box])) if found_box.any() else None,
            "median_lean_arcsec": float(np.median(d_lean[sel & np.isfinite(d_lean)]))
            if (sel & np.isfinite(d_lean)).any()
            else None,
        }
        report["by_r"][f"{lo:g}-{hi:g}"] = row
        fmt = lambda v: "-" if v is None else f'{v:.3f}"'  # noqa: E731
        print(
            f"| {lo:g}-{hi:g} | {row['n']} | {row['found']} | {fmt(row['median_measured_arcsec'])} | "
            f"{fmt(row['median_box_arcsec'])} | {fmt(row['median_lean_arcsec'])} |"
        )
    bright = (r < 20) & np.isfinite(d_meas)
    report["median_measured_r_lt_20_arcsec"] = float(np.median(d_meas[bright]))
    report["median_box_r_lt_20_arcsec"] = float(np.median(d_box[(r < 20) & np.isfinite(d_box)]))
    report["median_lean_r_lt_20_arcsec"] = float(np.median(d_lean[(r < 20) & np.isfinite(d_lean)]))
    report["n_r_lt_20"] = int(bright.sum())
    print(
        f'r < 20: median offset {report["median_measured_r_lt_20_arcsec"]:.3f}" measured, '
        f'{report["median_box_r_lt_20_arcsec"]:.3f}" box centre, {report["median_lean_r_lt_20_arcsec"]:.3f}" lean mode '
        f"(n = {report['n_r_lt_20']})"
    )
    out = Path(__file__).resolve().parent / "out" / "positions_real.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    write_record(out, report)


if __name__ == "__main__":
    main()
