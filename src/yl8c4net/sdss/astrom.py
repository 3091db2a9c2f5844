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

from yl8c4net.sdss.fields import FRAME_SHAPE_XY

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


def frame_pixel_grid(step_px: int = 64, shape_xy: tuple[int, int] = FRAME_SHAPE_XY) -> tuple[np.ndarray, np.ndarray]:
    """0-based pixel (x, y) of a grid over a frame every ``step_px``, last row and column
    included: the points a WCS or an asTrans is fitted on."""
    xs = np.r_[np.arange(0, shape_xy[0], step_px), shape_xy[0] - 1]
    ys = np.r_[np.arange(0, shape_xy[1], step_px), shape_xy[1] - 1]
    return tuple(g.ravel().astype(float) for g in np.meshgrid(xs, ys))


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

    x, y = frame_pixel_grid(step_px, shape_xy)
    ra, dec = trans.pixel_to_sky(x, y)
    wcs = fit_wcs_from_points((x, y), SkyCoord(ra, dec, unit="deg"), projection="TAN", sip_degree=sip_degree)
    wcs.pixel_shape = shape_xy
    return wcs


#: Columns of a run file's tables (SDSS data model, lower case as the files have them).
RUN_FILE_COLUMNS = (
    "field", "mjd", "a", "b", "c", "d", "e", "f", "dRow0", "dRow1", "dRow2", "dRow3", "dCol0", "dCol1",
    "dCol2", "dCol3", "csRow", "csCol", "ccRow", "ccCol", "riCut", "airmass", "muErr", "nuErr",
)  # fmt: skip


def read_run_astrans(path, camcol: int, field: int, band: str = "r") -> AsTrans:
    """One field's asTrans from a run file ``asTrans-{run}.fit``.

    The primary header names the camcols and bands of the tables (``CAMCOLS``, ``FILTERS``;
    bands vary fastest) and the scan's ``NODE`` and ``INCL``.

    Raises
    ------
    FrameVerificationError
        The file is not a readable asTrans file, or has no row for this camcol, band, field;
        the message names the file and what is missing.
    """
    from astropy.io import fits

    from yl8c4net.errors import FrameVerificationError

    try:
        with fits.open(path) as hdul:
            head = hdul[0].header
            camcols = [int(c) for c in str(head["CAMCOLS"]).split()]
            bands = str(head["FILTERS"]).split()
            node, incl = float(head["NODE"]), float(head["INCL"])
            if camcol not in camcols or band not in bands:
                raise FrameVerificationError(f"{path}: no asTrans table for camcol {camcol} band {band}")
            table = hdul[1 + camcols.index(camcol) * len(bands) + bands.index(band)].data
            rows = np.flatnonzero(np.asarray(table["field"]) == field)
            if len(rows) == 0:
                raise FrameVerificationError(f"{path}: no asTrans row for camcol {camcol} band {band} field {field}")
            return AsTrans.from_row(table[rows[0]], node_deg=node, incl_deg=incl)
    except FrameVerificationError:
        raise
    except Exception as exc:
        raise FrameVerificationError(f"{path}: not a readable asTrans file ({type(exc).__name__}: {exc})") from None


def verify_astrans_file(path) -> None:
    """Check a downloaded run file: FITS, with the primary keys and one table per CCD."""
    from astropy.io import fits

    from yl8c4net.errors import FrameVerificationError

    try:
        with fits.open(path) as hdul:
            head = hdul[0].header
            n_ccd = len(str(head["CAMCOLS"]).split()) * len(str(head["FILTERS"]).split())
            float(head["NODE"]), float(head["INCL"])
            if len(hdul) != 1 + n_ccd:
                raise ValueError(f"{len(hdul) - 1} tables for {n_ccd} CCDs")
    except Exception as exc:
        raise FrameVerificationError(f"{path}: not a valid asTrans file ({exc})") from None


def write_run_astrans(path, node_deg: float, incl_deg: float, tables: dict) -> None:
    """Write a run file: ``tables`` maps (camcol, band) to a dict of the `RUN_FILE_COLUMNS`
    arrays (the simulator's runs; real ones come from the SAS)."""
    from pathlib import Path

    from astropy.io import fits

    camcols = sorted({c for c, _ in tables})
    bands = [b for b in "riuzg" if any(k == (camcols[0], b) for k in tables)]  # SDSS order: r i u z g
    head = fits.Header()
    head["CCDARRAY"] = "photo"
    head["CAMCOLS"] = " ".join(str(c) for c in camcols)
    head["FILTERS"] = " ".join(bands)
    head["NODE"] = (node_deg, "deg, node of the scan's great circle")
    head["INCL"] = (incl_deg, "deg, inclination of the great circle")
    hdus = [fits.PrimaryHDU(header=head)]
    for c in camcols:
        for b in bands:
            cols = tables[(c, b)]
            hdus.append(
                fits.BinTableHDU.from_columns(
                    [
                        fits.Column(name, format="J" if name == "field" else "D", array=np.asarray(cols[name]))
                        for name in RUN_FILE_COLUMNS
                    ]
                )
            )
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(str(path) + ".tmp")
    fits.HDUList(hdus).writeto(tmp, overwrite=True)
    tmp.replace(path)
