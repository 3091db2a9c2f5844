"""The catalogue's own photometry: a forced circular aperture on the r frame at every row's
centroid, matched or not, so that the "possible new sources" can be cut by significance and
followed up; the same aperture on every other band's frame the field fetched
(`forced_band_photometry`: ``flux_u`` ... ``mag_err_z``, NaN for bands not fetched).

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
  `NO_R_FRAME` (no photometry), `SATURATED` (a
  pixel inside the row's detection box, or the aperture where the box is smaller, is at
  ``detector.bright_complement.saturation_counts`` above the sky: a saturated core, or a
  bleed trail crossing the source), `NEAR_BRIGHT` (the centre lies within
  ``catalog.near_bright_radius_arcsec`` of another row of the field that is saturated or
  brighter than ``catalog.near_bright_mag_r``: its flux and class may carry the bright
  source's wings and diffraction spikes). The catalogue adds `SATURATED` to matched rows
  that PhotoObjAll flags SATURATED (`yl8c4net.catalog.build.crossmatch_photoobj`);
  `NOT_VERIFIED` (a detector box that no flux verification checked: ``detector.verify`` off,
  or a lean-mode field without its r frame; `flag_unverified`).

SDSS's real frames interpolate over a saturated core (the mask that says where is in the
fpM files, which the pipeline does not fetch), so the frame shows a saturated star only
where its bleed trail reaches the level inside its box: on 4510/4/30 none of PHOTO's four
saturated stars does, on 1035/6/17 the brightest does. PhotoObjAll's flag is therefore the
one that counts for matched rows (a saturated star is always in PhotoObjAll); the frame's
serves the unmatched rows. A neighbouring field's bright star is not seen from this field.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from yl8c4net.sdss.frames import R_DARK_VARIANCE, R_GAIN, ccd_dark_variance, ccd_gain
from yl8c4net.sdss.magnitudes import asinh_mag, asinh_mag_err

EDGE, BLENDED, NO_R_FRAME, SATURATED, NEAR_BRIGHT, NOT_VERIFIED = 1, 2, 4, 8, 16, 32
ANNULUS_PX = (12.0, 20.0)
PHOTOMETRY_COLUMNS = ("flux_r", "flux_err_r", "snr_r", "mag_r", "mag_err_r", "phot_flags")
#: Bands measured besides r, where the field fetched their frames (``sdss.bands``).
OTHER_BANDS = ("u", "g", "i", "z")
#: Their columns: NaN for a band the field did not fetch.
BAND_COLUMNS = tuple(f"{q}_{b}" for b in OTHER_BANDS for q in ("flux", "flux_err", "mag", "mag_err"))


def empty_band_photometry(index: pd.Index, band: str) -> pd.DataFrame:
    """``band``'s photometry columns, all NaN, for the rows of ``index``."""
    return pd.DataFrame(
        {f"{q}_{band}": np.full(len(index), np.nan, np.float32) for q in ("flux", "flux_err", "mag", "mag_err")},
        index=index,
    )


def forced_r_photometry(
    rows: pd.DataFrame,
    image: np.ndarray,
    calib: np.ndarray,
    sky: np.ndarray,
    camcol: int,
    radius_arcsec: float = 2.0,
    pixel_scale_arcsec: float = 0.396,
    blend_flag: np.ndarray | None = None,
    saturation_counts: float = 50000.0,
    near_bright_mag_r: float = 15.0,
    near_bright_radius_arcsec: float = 30.0,
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
    saturation_counts : float
        Counts above the sky at which a pixel is taken as saturated (`SATURATED`).
    near_bright_mag_r : float
        Rows brighter than this ``mag_r`` (mag), and saturated rows, set `NEAR_BRIGHT` on
        their neighbours.
    near_bright_radius_arcsec : float
        Radius (arcsec) of a bright row's neighbourhood.
    """
    out = rows.copy()
    n = len(rows)
    if n == 0:
        for c in PHOTOMETRY_COLUMNS:
            out[c] = pd.Series(dtype="int16" if c == "phot_flags" else "float32")
        return out
    positions = np.column_stack([rows["x"].to_numpy(float), rows["y"].to_numpy(float)])
    radius = radius_arcsec / pixel_scale_arcsec
    flux, flux_err = aperture_flux(
        positions, image, calib, sky, R_GAIN[camcol - 1], R_DARK_VARIANCE[camcol - 1], radius
    )

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
    saturated = saturated_in_box(rows, image, calib, saturation_counts, min_half_side=radius)
    flags |= np.where(saturated, SATURATED, 0)
    mag = asinh_mag(flux, "r")
    flags |= np.where(
        near_bright(positions, saturated | (mag <= near_bright_mag_r), near_bright_radius_arcsec / pixel_scale_arcsec),
        NEAR_BRIGHT,
        0,
    )

    out["flux_r"] = flux.astype(np.float32)
    out["flux_err_r"] = flux_err.astype(np.float32)
    out["snr_r"] = (flux / flux_err).astype(np.float32)
    out["mag_r"] = mag.astype(np.float32)
    out["mag_err_r"] = asinh_mag_err(flux, flux_err, "r").astype(np.float32)
    out["phot_flags"] = flags.astype(np.int16)
    return out


def aperture_flux(
    positions: np.ndarray,
    image: np.ndarray,
    calib: np.ndarray,
    sky: np.ndarray,
    gain: float,
    dark_variance: float,
    radius_px: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Forced circular-aperture fluxes and their errors (nanomaggies) at ``positions``
    (n x 2 pixel ``x``, ``y``) on one frame: the aperture sum minus the median of a 12-20 px
    annulus per pixel; the error from the sky and dark noise per pixel, the source's own
    photons (``gain``, electrons per count) and the annulus median's error."""
    from photutils.aperture import ApertureStats, CircularAnnulus, CircularAperture, aperture_photometry

    aperture = CircularAperture(positions, radius_px)
    annulus = CircularAnnulus(positions, *ANNULUS_PX)
    stats = ApertureStats(image, annulus)
    background = np.asarray(stats.median, float)
    n_annulus = np.asarray(stats.sum_aper_area.value, float)
    raw = np.asarray(aperture_photometry(image, aperture)["aperture_sum"], float)
    flux = raw - background * aperture.area

    nmgy_per_count = float(np.median(calib))
    sky_counts = float(np.median(sky)) / nmgy_per_count
    pixel_var = (sky_counts / gain + dark_variance) * nmgy_per_count**2
    source_var = np.maximum(flux, 0.0) * nmgy_per_count / gain
    background_var = aperture.area**2 * pixel_var * (np.pi / 2) / np.maximum(n_annulus, 1.0)
    flux_err = np.sqrt(aperture.area * pixel_var + source_var + background_var)
    return flux, flux_err


def forced_band_photometry(
    rows: pd.DataFrame,
    frame,
    r_wcs,
    band: str,
    camcol: int,
    run: int,
    radius_arcsec: float = 2.0,
    pixel_scale_arcsec: float = 0.396,
) -> pd.DataFrame:
    """The columns ``flux_<band>``, ``flux_err_<band>`` (nanomaggies), ``mag_<band>`` and
    ``mag_err_<band>`` (asinh mag) of ``rows`` (r-frame pixel centroids ``x``, ``y``) measured
    in the same aperture on another band's ``frame`` (a `~yl8c4net.sdss.frames.Frame`): each
    centroid goes through the r frame's WCS ``r_wcs`` to the sky and back through the band's
    (SDSS's bands see a source tens of pixels apart). NaN where the centre falls off that
    frame."""
    cols = empty_band_photometry(rows.index, band)
    if not len(rows):
        return cols
    ra, dec = r_wcs.all_pix2world(rows["x"].to_numpy(float), rows["y"].to_numpy(float), 0)
    x, y = frame.wcs.all_world2pix(ra, dec, 0)
    height, width = frame.image.shape
    inside = (x >= 0) & (y >= 0) & (x <= width - 1) & (y <= height - 1)
    if inside.any():
        flux, err = aperture_flux(
            np.column_stack([x[inside], y[inside]]),
            frame.image,
            frame.calib,
            frame.sky,
            ccd_gain(band, camcol, run),
            ccd_dark_variance(band, camcol, run),
            radius_arcsec / pixel_scale_arcsec,
        )
        measured = {
            "flux": flux,
            "flux_err": err,
            "mag": asinh_mag(flux, band),
            "mag_err": asinh_mag_err(flux, err, band),
        }
        for q, values in measured.items():
            cols.loc[inside, f"{q}_{band}"] = values.astype(np.float32)
    return cols


def saturated_in_box(
    rows: pd.DataFrame, image: np.ndarray, calib: np.ndarray, saturation_counts: float, min_half_side: float
) -> np.ndarray:
    """True for rows whose detection box (``x``, ``y`` centre; side ``box``, or ``w`` and ``h``,
    pixels; at least ``min_half_side`` each way, which is all of it for rows without a box)
    holds a pixel at ``saturation_counts`` or more counts above the sky (``image`` /
    ``calib``, the frame in nanomaggies over its calibration vector)."""
    saturated_px = image >= saturation_counts * np.asarray(calib, image.dtype)[None, :]
    if not len(rows) or not saturated_px.any():
        return np.zeros(len(rows), bool)
    if "box" in rows:
        half_w = half_h = rows["box"].to_numpy(float) / 2
    elif "w" in rows:
        half_w, half_h = rows["w"].to_numpy(float) / 2, rows["h"].to_numpy(float) / 2
    else:
        half_w = half_h = np.zeros(len(rows))
    half_w, half_h = np.maximum(half_w, min_half_side), np.maximum(half_h, min_half_side)
    height, width = saturated_px.shape
    x, y = rows["x"].to_numpy(float), rows["y"].to_numpy(float)
    x0 = np.clip(np.floor(x - half_w).astype(int), 0, width)
    x1 = np.clip(np.ceil(x + half_w).astype(int) + 1, 0, width)
    y0 = np.clip(np.floor(y - half_h).astype(int), 0, height)
    y1 = np.clip(np.ceil(y + half_h).astype(int) + 1, 0, height)
    sat_y, sat_x = np.nonzero(saturated_px)
    if len(sat_x) * len(rows) <= 5_000_000:
        # Few saturated pixels (the usual case): test every box against each of them.
        inside = (sat_x[None, :] >= x0[:, None]) & (sat_x[None, :] < x1[:, None])
        return (inside & (sat_y[None, :] >= y0[:, None]) & (sat_y[None, :] < y1[:, None])).any(axis=1)
    # Many: a summed-area table answers "any saturated pixel in this box?" in four lookups.
    table = np.zeros((height + 1, width + 1), np.int64)
    table[1:, 1:] = saturated_px.cumsum(0).cumsum(1)
    return (table[y1, x1] - table[y0, x1] - table[y1, x0] + table[y0, x0]) > 0


def near_bright(positions: np.ndarray, bright: np.ndarray, radius_px: float) -> np.ndarray:
    """True for positions (n x 2, pixels) within ``radius_px`` of another position that is
    ``bright``."""
    n = len(positions)
    out = np.zeros(n, bool)
    if n < 2 or not bright.any():
        return out
    from scipy.spatial import cKDTree

    bright_idx = np.flatnonzero(bright)
    neighbours = cKDTree(positions).query_ball_point(positions[bright_idx], radius_px)
    for source, near in zip(bright_idx, neighbours):
        near = np.asarray(near, int)
        out[near[near != source]] = True
    return out


def flag_unverified(rows: pd.DataFrame, verified: bool) -> pd.DataFrame:
    """``rows`` with `NOT_VERIFIED` set on the detector's rows (``tile`` >= 0) unless the field's
    detections were flux-verified; rows of the bright-source complement (``tile`` -1) are
    segments of the r frame, significant by construction, and never carry it."""
    if verified or not len(rows):
        return rows
    out = rows.copy()
    detector_row = out["tile"].to_numpy() >= 0 if "tile" in out else np.ones(len(out), bool)
    out["phot_flags"] = (out["phot_flags"].to_numpy() | np.where(detector_row, NOT_VERIFIED, 0)).astype(np.int16)
    return out


def without_r_frame(rows: pd.DataFrame) -> pd.DataFrame:
    """``rows`` with the photometry columns empty (NaN) and flagged `NO_R_FRAME` (lean mode)."""
    out = rows.copy()
    for c in (*PHOTOMETRY_COLUMNS[:-1], *BAND_COLUMNS):
        out[c] = np.float32(np.nan)
    out["phot_flags"] = np.int16(NO_R_FRAME)
    return out
