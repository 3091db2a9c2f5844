"""SDSS's astrometric transformation (asTrans) of a frame, and a WCS from it.

Every corrected frame carries its field's asTrans row in HDU 3, and each run has one
``asTrans-{run}.fit`` with the rows of all its fields and CCDs. The transformation takes frame
(row, col) to great-circle coordinates (mu, nu) of the run's scan (node, inclination), with
the camera's optical distortion as a cubic in col:

    rowm = row + dRow0 + dRow1 col + dRow2 col^2 + dRow3 col^3 (+ DCR colour term)
    colm = col + dCol0 + dCol1 col + dCol2 col^2 + dCol3 col^3 (+ DCR colour term)
    mu = a + b rowm + c colm,   nu = d + e rowm + f colm

(SDSS data model, ``PHOTO_REDUX/RERUN/RUN/astrom/asTrans.html``). asTrans pixel centres sit
at half-integers: numpy pixel (y, x) is asTrans (row, col) = (y + 0.5, x + 0.5), which makes
the transformation agree with the frame's own TAN WCS to ~0.03" (median) on the real fields.

This is the first part of issue 16's lean mode (the WCS of a field without its r frame): no
library reads asTrans, so it is written here; astropy fits the WCS to it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .fields import FRAME_SHAPE_XY

#: Half a pixel: asTrans coordinates of numpy pixel centres (see the module docstring).
PIXEL_CENTRE = 0.5


@dataclass(frozen=True)
class AsTrans:
    """One CCD's asTrans row: affine (a..f, degrees), distortion (rows, cols), scan geometry."""

    node_deg: float
    incl_deg: float
    a: float
    b: float
    c: float
    d: float
    e: float
    f: float
    drow: tuple[float, float, float, float]
    dcol: tuple[float, float, float, float]

    @classmethod
    def from_row(cls, row, node_deg: float | None = None, incl_deg: float | None = None) -> "AsTrans":
        """From a table row with asTrans columns (any case); ``node``/``incl`` from the row
        (a frame's HDU 3) or given (a run file keeps them in its primary header)."""
        names = {n.lower(): n for n in row.array.names} if hasattr(row, "array") else {k.lower(): k for k in row}

        def value(key):
            return float(np.ravel(row[names[key]])[0])

        node = value("node") if node_deg is None else node_deg
        incl = value("incl") if incl_deg is None else incl_deg
        return cls(
            node,
            incl,
            *(value(k) for k in "abcdef"),
            drow=tuple(value(f"drow{k}") for k in range(4)),
            dcol=tuple(value(f"dcol{k}") for k in range(4)),
        )

    def pixel_to_sky(self, x, y) -> tuple[np.ndarray, np.ndarray]:
        """ICRS (ra, dec) in degrees of 0-based frame pixels (x along a row, y along the scan),
        without the colour (DCR) term, as the frame's WCS."""
        col = np.asarray(x, float) + PIXEL_CENTRE
        row = np.asarray(y, float) + PIXEL_CENTRE
        rowm = row + self.drow[0] + col * (self.drow[1] + col * (self.drow[2] + col * self.drow[3]))
        colm = col + self.dcol[0] + col * (self.dcol[1] + col * (self.dcol[2] + col * self.dcol[3]))
        mu = np.radians(self.a + self.b * rowm + self.c * colm)
        nu = np.radians(self.d + self.e * rowm + self.f * colm)
        node, incl = np.radians(self.node_deg), np.radians(self.incl_deg)
        # Great circle (mu, nu) -> equatorial: rotate by the inclination about the node.
        x2 = np.cos(mu - node) * np.cos(nu)
        y2 = np.sin(mu - node) * np.cos(nu)
        z2 = np.sin(nu)
        y1 = y2 * np.cos(incl) - z2 * np.sin(incl)
        z1 = y2 * np.sin(incl) + z2 * np.cos(incl)
        ra = (np.degrees(np.arctan2(y1, x2)) + self.node_deg) % 360.0
        return ra, np.degrees(np.arcsin(np.clip(z1, -1.0, 1.0)))


def astrans_wcs(trans: AsTrans, shape_xy: tuple[int, int] = FRAME_SHAPE_XY, step_px: int = 64, sip_degree: int = 3):
    """An astropy TAN-SIP WCS fitted to ``trans`` on a grid over the frame.

    Parameters
    ----------
    trans : AsTrans
    shape_xy : (int, int)
        Frame size in pixels (columns, rows).
    step_px : int
        Grid spacing of the fit, pixels.
    sip_degree : int
        SIP polynomial degree (the camera distortion is cubic in col).

    Returns
    -------
    astropy.wcs.WCS
    """
    from astropy.coordinates import SkyCoord
    from astropy.wcs.utils import fit_wcs_from_points

    xs = np.r_[np.arange(0, shape_xy[0], step_px), shape_xy[0] - 1]
    ys = np.r_[np.arange(0, shape_xy[1], step_px), shape_xy[1] - 1]
    x, y = (g.ravel().astype(float) for g in np.meshgrid(xs, ys))
    ra, dec = trans.pixel_to_sky(x, y)
    wcs = fit_wcs_from_points((x, y), SkyCoord(ra, dec, unit="deg"), projection="TAN", sip_degree=sip_degree)
    wcs.pixel_shape = shape_xy
    return wcs
