"""Geometry of the simulated survey: an equatorial stripe scanned like SDSS Stripe 82.

Rows run along the scan (RA increases with row), columns across it (Dec increases with
column), 0.396"/px, so the CD matrix is ``[[0, s], [s, 0]]`` as in real equatorial frames.
Consecutive fields of a camcol advance by 1361 rows, so adjacent fields share 128 rows.
Camcol centres are 25.1' apart; the south strip is offset by half that, so the two strips of
a stripe interleave and overlap by about 1' at each camcol edge, as in SDSS.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from astropy.wcs import WCS

from yl8c4net.sdss.fields import BANDS, FIELD_STEP_ROWS, FRAME_SHAPE_XY, FieldId

PIXEL_SCALE_DEG = 0.396 / 3600.0
CAMCOL_SPACING_DEG = 25.1 / 60.0
#: Per-band offsets (columns, rows) of the frame grid relative to r, in pixels, before the
#: per-field jitter: SDSS's filters sit in different camera rows, so the five frames of a
#: field are not registered to each other.
BAND_OFFSETS_PX = {"u": (1.5, -4.0), "g": (0.8, -2.5), "r": (0.0, 0.0), "i": (-0.7, 2.5), "z": (-1.4, 5.0)}


@dataclass(frozen=True)
class StripeGeometry:
    """Where field 0 of camcol 3.5 of the north strip sits on the sky.

    Attributes
    ----------
    ra0_deg, dec0_deg : float
        Sky position of the reference point (degrees).
    """

    ra0_deg: float = 10.0
    dec0_deg: float = 0.0

    def frame_centre(self, strip: str, camcol: int, field: int) -> tuple[float, float]:
        """(ra, dec) in degrees of the centre pixel of a frame's r-band grid."""
        ra = self.ra0_deg + field * FIELD_STEP_ROWS * PIXEL_SCALE_DEG
        dec = self.dec0_deg + (camcol - 3.5) * CAMCOL_SPACING_DEG
        if strip == "S":
            dec -= CAMCOL_SPACING_DEG / 2
        return ra % 360.0, dec


def frame_wcs(
    geometry: StripeGeometry,
    strip: str,
    camcol: int,
    field: int,
    band: str = "r",
    jitter_px: tuple[float, float] = (0.0, 0.0),
) -> WCS:
    """TAN WCS of one simulated frame (band grids are offset by `BAND_OFFSETS_PX` + jitter)."""
    ra_c, dec_c = geometry.frame_centre(strip, camcol, field)
    dx, dy = BAND_OFFSETS_PX[band]
    dx += jitter_px[0]
    dy += jitter_px[1]
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.cunit = ["deg", "deg"]
    w.wcs.radesys = "ICRS"
    w.wcs.equinox = 2000.0
    # A band grid shifted by (dx, dy) pixels sees the sky point of r pixel (x+dx, y+dy) at
    # its own pixel (x, y): its reference pixel moves by -(dx, dy).
    w.wcs.crpix = [1025.0 - dx, 745.0 - dy]
    w.wcs.crval = [ra_c, dec_c]
    w.wcs.cd = [[0.0, PIXEL_SCALE_DEG], [PIXEL_SCALE_DEG, 0.0]]
    w.pixel_shape = FRAME_SHAPE_XY
    return w


def frame_footprint(wcs: WCS, margin_px: float = 0.0) -> tuple[float, float, float, float]:
    """(ra_min, ra_max, dec_min, dec_max) of a frame, widened by ``margin_px`` pixels."""
    w, h = FRAME_SHAPE_XY
    xs = np.array([-margin_px, w - 1 + margin_px, -margin_px, w - 1 + margin_px])
    ys = np.array([-margin_px, -margin_px, h - 1 + margin_px, h - 1 + margin_px])
    ra, dec = wcs.all_pix2world(xs, ys, 0)
    return float(ra.min()), float(ra.max()), float(dec.min()), float(dec.max())


@dataclass(frozen=True)
class SimRun:
    """One simulated imaging run: a strip of the stripe, some camcols, a field range."""

    run: int
    strip: str
    camcols: tuple[int, ...]
    first_field: int
    last_field: int

    def fields(self, rerun: int = 301) -> list[FieldId]:
        return [
            FieldId(self.run, c, f, rerun) for c in self.camcols for f in range(self.first_field, self.last_field + 1)
        ]


def band_jitter(seed: int, fid: FieldId, band: str) -> tuple[float, float]:
    """Per-field, per-band sub-pixel jitter of the band offsets (deterministic)."""
    if band == "r":
        return (0.0, 0.0)
    rng = np.random.default_rng([seed, fid.run, fid.camcol, fid.field, BANDS.index(band), 7])
    return tuple(rng.uniform(-0.5, 0.5, size=2))
