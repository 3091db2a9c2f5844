"""Lossless image files for composites and tiles: PNG for 3 channels, TIFF for more.

Arrays are in FITS row order (row 0 = first FITS row); files are written top row first,
as image viewers and ultralytics expect, so the array is flipped on the way in and out.
Tiles are written as they are cut (no flip): their own row 0 is their top row.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from yl8c4net.io import atomic_output

from yl8c4net.errors import FrameVerificationError


def image_suffix(channels: int) -> str:
    return ".png" if channels in (1, 3) else ".tif"


def save_image(array: np.ndarray, path: str | Path, flip: bool = False) -> Path:
    """Write a uint8 image atomically; ``flip`` stores a FITS-order array top row first."""
    path = Path(path)
    data = np.ascontiguousarray(array[::-1] if flip else array)
    with atomic_output(path) as tmp:
        if path.suffix == ".png":
            Image.fromarray(data).save(tmp, format="PNG", compress_level=3)
        else:
            import tifffile

            tifffile.imwrite(tmp, data, photometric="minisblack", planarconfig="contig")
    return path


def load_image(path: str | Path, flip: bool = False) -> np.ndarray:
    """Read an image written by `save_image` (same ``flip``)."""
    path = Path(path)
    try:
        if path.suffix == ".png":
            with Image.open(path) as img:
                data = np.asarray(img)
        else:
            import tifffile

            data = tifffile.imread(path)
    except Exception as exc:
        raise FrameVerificationError(f"{path}: not a readable image ({exc})") from None
    return np.ascontiguousarray(data[::-1] if flip else data)
