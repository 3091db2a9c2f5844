"""Magnitude-based labels (paper section 2.1.3): PhotoObjAll positions through the r-band
WCS, one square box per source whose side is chosen from its r magnitude.

The paper's Table 1 (box side per magnitude) is lost. `BoxTable` is our monotone
reconstruction (brighter = larger), chosen from the fraction of a point source's flux that
each box encloses, measured on the real frame 4510/4/30 and on simulated frames by
``benchmarks/box_table.py`` (recorded in docs/reference/box-table.md). Resolved galaxies grow their box
with their catalogue size (``petroR90_r``), which is what the paper fixed by hand in LabelImg.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from astropy.wcs import WCS

from yl8c4net.errors import CatalogValidationError
from yl8c4net.sdss.fields import FRAME_SHAPE_XY

PIXEL_ARCSEC = 0.396


@dataclass(frozen=True)
class BoxTable:
    """Box side (pixels) by r magnitude: ``sides[k]`` applies to ``edges[k] <= r < edges[k+1]``;
    sources brighter than ``edges[0]`` get ``sides[0]``.

    Attributes
    ----------
    edges : tuple of float
        Upper bin edges in r (mag), increasing; the last is the label limit.
    sides : tuple of int
        Box sides in pixels, non-increasing (brighter = larger).
    """

    edges: tuple[float, ...] = (10.0, 11.0, 12.0, 13.0, 14.0, 15.0, 16.0, 17.0, 18.0, 19.0, 20.0, 21.0, 22.2)
    sides: tuple[int, ...] = (160, 112, 80, 60, 48, 40, 32, 26, 22, 18, 16, 14, 12)

    def __post_init__(self):
        if len(self.edges) != len(self.sides):
            raise ValueError("box table: edges and sides must have the same length")
        if any(b <= a for a, b in zip(self.edges, self.edges[1:])):
            raise ValueError("box table: magnitude edges must increase")
        if any(b > a for a, b in zip(self.sides, self.sides[1:])):
            raise ValueError("box table: sides must not grow with magnitude (brighter = larger)")

    def side(self, r_mag) -> np.ndarray:
        """Box side in pixels for each r magnitude (faintest bin beyond the last edge)."""
        idx = np.searchsorted(np.asarray(self.edges), np.asarray(r_mag, float), side="right")
        idx = np.clip(idx, 0, len(self.sides) - 1)
        return np.asarray(self.sides, dtype=float)[idx]

    @classmethod
    def from_config(cls, cfg: dict) -> "BoxTable":
        return cls(tuple(float(e) for e in cfg["r_edges"]), tuple(int(s) for s in cfg["sides_px"]))


LABEL_COLUMNS = ["objid", "ra", "dec", "r", "type", "x", "y", "w", "h", "x_src", "y_src"]


def make_labels(
    photo: pd.DataFrame,
    wcs: WCS,
    table: BoxTable = BoxTable(),
    r_limit: float = 22.2,
    petro_scale: float = 2.0,
    max_side_px: float = 160.0,
    shape_xy: tuple[int, int] = FRAME_SHAPE_XY,
) -> pd.DataFrame:
    """Boxes of the catalogued sources of one frame.

    Parameters
    ----------
    photo : pandas.DataFrame
        PhotoObjAll rows (objid, ra, dec, r, type, and optionally petror90_r in arcsec).
    wcs : astropy.wcs.WCS
        The r-band frame's WCS; pixel coordinates are 0-based (pixel centres at integers).
    r_limit : float
        Faintest r (mag) labelled: the paper drops r > 22.2.
    petro_scale : float
        A resolved galaxy's (type 3) box side is at least ``petro_scale * petroR90_r`` (in
        pixels), up to ``max_side_px``.

    Returns
    -------
    pandas.DataFrame
        One row per label: objid, ra, dec, r, type, box centre x, y and size w, h in frame
        pixels, after clipping to the image (a clipped box is re-centred on what is left).
    """
    for col in ("objid", "ra", "dec", "r", "type"):
        if col not in photo.columns:
            raise CatalogValidationError(f"PhotoObjAll table lacks column {col!r}")
    width, height = shape_xy
    keep = photo["r"].notna() & (photo["r"] <= r_limit)
    p = photo[keep]
    if len(p) == 0:
        return pd.DataFrame({c: pd.Series([], dtype=float) for c in LABEL_COLUMNS}).astype({"objid": "int64"})
    x, y = wcs.all_world2pix(p["ra"].to_numpy(), p["dec"].to_numpy(), 0)
    side = table.side(p["r"].to_numpy())
    if "petror90_r" in p.columns:
        petro_px = np.nan_to_num(p["petror90_r"].to_numpy(float)) / PIXEL_ARCSEC
        grown = np.minimum(petro_scale * petro_px, max_side_px)
        side = np.where(p["type"].to_numpy() == 3, np.maximum(side, grown), side)
    # Pixel i covers [i - 0.5, i + 0.5]: the image spans [-0.5, width - 0.5].
    x0 = np.clip(x - side / 2, -0.5, width - 0.5)
    x1 = np.clip(x + side / 2, -0.5, width - 0.5)
    y0 = np.clip(y - side / 2, -0.5, height - 0.5)
    y1 = np.clip(y + side / 2, -0.5, height - 0.5)
    out = pd.DataFrame(
        {
            "objid": p["objid"].to_numpy(),
            "ra": p["ra"].to_numpy(),
            "dec": p["dec"].to_numpy(),
            "r": p["r"].to_numpy(),
            "type": p["type"].to_numpy(),
            "x": (x0 + x1) / 2,
            "y": (y0 + y1) / 2,
            "w": x1 - x0,
            "h": y1 - y0,
            "x_src": x,
            "y_src": y,
        }
    )
    # Sources whose centre is off the frame belong to a neighbouring frame.
    on = (x >= -0.5) & (x < width - 0.5) & (y >= -0.5) & (y < height - 0.5)
    return out[on].reset_index(drop=True)
