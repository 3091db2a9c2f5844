"""How closely the composite's stretch reproduces SDSS's official ``frame-irg`` JPEGs.

For every real field of ../shared with an official JPEG, the i, r, g frames are resampled
onto the r grid, stretched (`yl8c4net.images.composite.lupton_rgb`) and JPEG-coded at
quality 90 (the official files' quantisation tables are those of quality 90), then compared
with the official JPEG pixel by pixel: the mean absolute difference over the frame (100 px
from its edges), the same on source pixels (a 5-sigma photutils segmentation of the r frame,
at least 5 pixels), and per channel the ratio of the mean source pixel value, ours over
SDSS's. The simulator renders its JPEGs and cut-outs with the same stretch, so a source of a
given flux must look as bright in the simulation as on the sky.

    python benchmarks/jpeg_stretch.py [--shared ../shared] [--stretch default|previous]
"""

from __future__ import annotations

import argparse
import io
import tempfile
from pathlib import Path

import numpy as np
from record import write_record

FIELDS = [(3918, 3, 213), (4510, 4, 30), (1035, 6, 17), (1992, 1, 87), (5405, 6, 99)]
EDGE_PX = 100
SOURCE_SIGMA = 5.0

#: The stretch the simulator used before SDSS's own mapping, fitted to two JPEGs by the mean
#: absolute difference over all pixels (which sky noise dominates): kept to show the change.
PREVIOUS = {
    "scales": (1.0, 1.5, 1.2),
    "q": 3.0,
    "stretch": 1.2,
    "minimum": -0.02,
    "clip_negative": False,
    "saturation_nmgy": None,
}


def jpeg_round_trip(rgb: np.ndarray, quality: int = 90) -> np.ndarray:
    """``rgb`` (FITS row order) after JPEG coding, as the simulator writes its mirror."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(rgb[::-1]).save(buf, format="JPEG", quality=quality)
    buf.seek(0)
    with Image.open(buf) as img:
        return np.asarray(img.convert("RGB"))[::-1]


def field_planes(shared: Path, fid_tuple):
    """The (i, r, g) frames on the r grid, the official JPEG and the source-pixel mask."""
    from astropy.stats import sigma_clipped_stats
    from photutils.segmentation import detect_sources

    from yl8c4net.images.composite import resample_to
    from yl8c4net.sdss.fetch import fetch_field
    from yl8c4net.sdss.fields import FieldId
    from yl8c4net.sdss.frames import read_frame, read_irg_jpeg
    from yl8c4net.sdss.source import MirrorSource

    with tempfile.TemporaryDirectory() as tmp:
        manifest = fetch_field(FieldId(*fid_tuple), MirrorSource(shared / "data" / "sas"), "irg", Path(tmp))
        frames = {b: read_frame(Path(tmp) / manifest["frames"][b]["file"]) for b in "irg"}
        official = read_irg_jpeg(Path(tmp) / manifest["irg_jpeg"])
    ref = frames["r"]
    planes = []
    for band in "irg":
        image = np.nan_to_num(frames[band].image)
        planes.append(image if band == "r" else resample_to(image, frames[band].wcs, ref.wcs, image.shape))
    _, _, rms = sigma_clipped_stats(planes[1], sigma=3.0)
    sources = detect_sources(planes[1], SOURCE_SIGMA * rms, npixels=5)
    return planes, official, sources.data > 0


def compare(planes, official, sources, stretch) -> dict:
    from yl8c4net.images.composite import lupton_rgb

    ours = jpeg_round_trip(lupton_rgb(*planes, stretch=stretch)).astype(float)
    off = official.astype(float)
    diff = np.abs(ours - off)
    inner = diff[EDGE_PX:-EDGE_PX, EDGE_PX:-EDGE_PX]
    return {
        "source_pixels": int(sources.sum()),
        "mad_dn": float(inner.mean()),
        "mad_source_dn": float(diff[sources].mean()),
        "source_ratio_irg": [float(ours[sources][:, k].mean() / off[sources][:, k].mean()) for k in range(3)],
    }


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared")
    ap.add_argument("--fields", type=int, default=len(FIELDS), help="the first N fields only (a quick look)")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "out" / "jpeg_stretch.json")
    args = ap.parse_args(argv)
    from dataclasses import asdict

    from yl8c4net.images.composite import LuptonStretch

    stretches = {"default": LuptonStretch(), "previous": LuptonStretch(**PREVIOUS)}
    result = {"stretches": {k: asdict(v) for k, v in stretches.items()}, "jpeg_quality": 90, "fields": {}}
    print("| field | stretch | MAD (DN) | MAD on sources (DN) | source brightness ours / SDSS (i, r, g) |")
    print("|---|---|---|---|---|")
    for fid in FIELDS[: args.fields]:
        name = "/".join(map(str, fid))
        planes, official, sources = field_planes(args.shared, fid)
        result["fields"][name] = {}
        for key, stretch in stretches.items():
            row = compare(planes, official, sources, stretch)
            result["fields"][name][key] = row
            ratio = ", ".join(f"{v:.3f}" for v in row["source_ratio_irg"])
            print(f"| {name} | {key} | {row['mad_dn']:.2f} | {row['mad_source_dn']:.2f} | {ratio} |")
    write_record(args.out, result)
    return result


if __name__ == "__main__":
    main()
