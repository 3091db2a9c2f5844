"""The catalogue's own photometry: a forced circular aperture on the r frame at every row's
centroid, matched or not, so that the "possible new sources" can be cut by significance and
followed up.

Per row (r band, the frame every field fetches; lean-mode fields without it get NaN and the
``NO_R_FRAME`` flag):

- ``flux_r``: the sum of the sky-subtracted frame (nanomaggies) inside a circle of
  ``catalog.aperture_radius_arcsec`` (default 2", about 3.4 sigma of a 1.4" seeing disc: most
  of a point source's light, not aperture-corrected), minus the median of a 12-20 px annulus
  per pixel (photutils);
- ``flux_err_r``: SDSS's noise recipe, sky and dark per pixel plus the source's own photons
  (gain of the camcol's r CCD), and the error of the annulus median;
- ``snr_r = flux_r / flux_err_r``; ``mag_r`` and ``mag_err_r``: SDSS asinh magnitudes
  (`yl8c4net.sdss.magnitudes`), finite at zero and negative flux as PhotoObjAll's are;
- ``phot_flags``: bits `EDGE` (the aperture or annulus leaves the frame), `BLENDED` (the
  position is a joint fit of a blend, or another row's centre lies inside the aperture),
  `NO_R_FRAME`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from yl8c4net.sdss.frames import R_DARK_VARIANCE, R_GAIN
from yl8c4net.sdss.magnitudes import asinh_mag, asinh_mag_err

EDGE, BLENDED, NO_R_FRAME = 1, 2, 4
ANNULUS_PX = (12.0, 20.0)
PHOTOMETRY_COLUMNS = ("flux_r", "flux_err_r", "snr_r", "mag_r", "mag_err_r", "phot_flags")


def forced_r_photometry(
    rows: pd.DataFrame,
    image: np.ndarray,
    calib: np.ndarray,
    sky: np.ndarray,
    camcol: int,
    radius_arcsec: float = 2.0,
    pixel_scale_arcsec: float = 0.396,
    blend_flag: np.ndarray | None = None,
) -> pd.DataFrame:
    """``rows`` (with centroids ``x``, ``y`` on the r frame, pixels) with the photometry columns.

    Parameters
    ----------
    image : numpy.ndarray
        The r frame, sky-subtracted, nanomaggies per pixel.
    calib : numpy.ndarray
        Nanomaggies per count per column (the frame's calibration vector).
    sky : numpy.ndarray
        The sky SDSS subtracted, nanomaggies per pixel (its median sets the sky noise).
    camcol : int
        Camera column (its r CCD's gain and dark variance).
    radius_arcsec : float
        Aperture radius (arcsec).
    blend_flag : numpy.ndarray, optional
        True where the position comes from a joint fit of a blend.
    """
    from photutils.aperture import ApertureStats, CircularAnnulus, CircularAperture, aperture_photometry

    out = rows.copy()
    n = len(rows)
    if n == 0:
        for c in PHOTOMETRY_COLUMNS:
            out[c] = pd.Series(dtype="int16" if c == "phot_flags" else "float32")
        return out
    positions = np.column_stack([rows["x"].to_numpy(float), rows["y"].to_numpy(float)])
    radius = radius_arcsec / pixel_scale_arcsec
    aperture = CircularAperture(positions, radius)
    annulus = CircularAnnulus(positions, *ANNULUS_PX)
    stats = ApertureStats(image, annulus)
    background = np.asarray(stats.median, float)
    n_annulus = np.asarray(stats.sum_aper_area.value, float)
    raw = np.asarray(aperture_photometry(image, aperture)["aperture_sum"], float)
    flux = raw - background * aperture.area

    gain = R_GAIN[camcol - 1]
    nmgy_per_count = float(np.median(calib))
    sky_counts = float(np.median(sky)) / nmgy_per_count
    pixel_var = (sky_counts / gain + R_DARK_VARIANCE[camcol - 1]) * nmgy_per_count**2
    source_var = np.maximum(flux, 0.0) * nmgy_per_count / gain
    background_var = aperture.area**2 * pixel_var * (np.pi / 2) / np.maximum(n_annulus, 1.0)
    flux_err = np.sqrt(aperture.area * pixel_var + source_var + background_var)

    height, width = image.shape
    reach = ANNULUS_PX[1]
    x, y = positions.T
    flags = np.where((x < reach) | (y < reach) | (x > width - 1 - reach) | (y > height - 1 - reach), EDGE, 0)
    if n > 1:
        from scipy.spatial import cKDTree

        pairs = cKDTree(positions).query_pairs(radius, output_type="ndarray")
        crowded = np.zeros(n, bool)
        crowded[pairs.ravel()] = True
        flags |= np.where(crowded, BLENDED, 0)
    if blend_flag is not None:
        flags |= np.where(np.asarray(blend_flag, bool), BLENDED, 0)

    out["flux_r"] = flux.astype(np.float32)
    out["flux_err_r"] = flux_err.astype(np.float32)
    out["snr_r"] = (flux / flux_err).astype(np.float32)
    out["mag_r"] = asinh_mag(flux, "r").astype(np.float32)
    out["mag_err_r"] = asinh_mag_err(flux, flux_err, "r").astype(np.float32)
    out["phot_flags"] = flags.astype(np.int16)
    return out


def without_r_frame(rows: pd.DataFrame) -> pd.DataFrame:
    """``rows`` with the photometry columns empty (NaN) and flagged `NO_R_FRAME` (lean mode)."""
    out = rows.copy()
    for c in PHOTOMETRY_COLUMNS[:-1]:
        out[c] = np.float32(np.nan)
    out["phot_flags"] = np.int16(NO_R_FRAME)
    return out
