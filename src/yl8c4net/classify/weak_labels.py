"""Star / galaxy labels from a real frame's own light: the weak labels that let Conv4Net
learn from real pixels (issue 30, item 3).

Per source of the r frame (photutils segmentation, deblended): its r in a 7-px aperture and
its concentration ``c = m(1.5 px) - m(4 px)``, each minus the median of a 12-20 px annulus.
Point sources share one ``c`` (the PSF's: the field's *stellar locus*, the median ``c`` of
the most concentrated third of its sources with r < 19), resolved galaxies lie above it. The
cut is ``locus + 0.1`` mag (`CONCENTRATION_CUT_MAG`). A weak label is given only outside a
band of ``margin_mag`` either side of the cut: POINT below it (a star or a quasar: the light
cannot tell them apart), GALAXY above it; sources inside the band are left unlabelled.

Everything is set from the field's own light, never from a catalogue's labels; the same
measure is PHOTO's idea of star / galaxy (PSF minus model magnitude), so on a real run the
PhotoObjAll ``type`` of bright sources would serve as well.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from yl8c4net.catalog.photometry import ANNULUS_PX
from yl8c4net.sdss.magnitudes import pogson_mag

CONCENTRATION_CUT_MAG = 0.1
LOCUS_R_MAX = 19.0
APERTURE_RADII_PX = (1.5, 4.0, 7.0)
EDGE_PX = 25
GALAXY, POINT = "GALAXY", "POINT"


def detected_sources(image: np.ndarray) -> pd.DataFrame:
    """Centroids (x, y; pixels, 0-based) of a sky-subtracted frame's sources, away from its edges.

    photutils segmentation: segments of at least 5 pixels 5 sigma above the sky of the frame
    smoothed by a 3-px FWHM Gaussian, deblended.
    """
    from astropy.convolution import Gaussian2DKernel, convolve
    from astropy.stats import gaussian_fwhm_to_sigma, sigma_clipped_stats
    from photutils.segmentation import SourceCatalog, deblend_sources, detect_sources

    smooth = convolve(image, Gaussian2DKernel(3.0 * gaussian_fwhm_to_sigma))
    _, _, rms = sigma_clipped_stats(smooth, sigma=3.0)
    segments = detect_sources(smooth, 5.0 * rms, n_pixels=5)
    if segments is None:
        return pd.DataFrame({"x": np.zeros(0), "y": np.zeros(0)})
    segments = deblend_sources(smooth, segments, n_pixels=5, progress_bar=False)
    cat = SourceCatalog(image, segments, convolved_data=smooth)
    t = pd.DataFrame({"x": cat.x_centroid, "y": cat.y_centroid})
    inside = t["x"].between(EDGE_PX, image.shape[1] - 1 - EDGE_PX) & t["y"].between(
        EDGE_PX, image.shape[0] - 1 - EDGE_PX
    )
    return t[inside & np.isfinite(t["x"])].reset_index(drop=True)


def local_sky(image: np.ndarray, x, y) -> np.ndarray:
    """The median of each source's 12-20 px annulus around (x, y) (photutils; the catalogue's
    forced photometry uses the same, `yl8c4net.catalog.photometry.ANNULUS_PX`), in the
    image's units: the local sky that `aperture_mags` subtracts."""
    from photutils.aperture import ApertureStats, CircularAnnulus

    positions = np.column_stack([np.asarray(x, float), np.asarray(y, float)])
    return ApertureStats(image, CircularAnnulus(positions, *ANNULUS_PX)).median


def aperture_mags(image: np.ndarray, x, y, radii=APERTURE_RADII_PX) -> dict:
    """Pogson magnitudes in circular apertures of ``radii`` (pixels) around (x, y), each
    minus the local sky (`local_sky`); ``image`` in nanomaggies per pixel."""
    from photutils.aperture import CircularAperture, aperture_photometry

    positions = np.column_stack([np.asarray(x, float), np.asarray(y, float)])
    sky = local_sky(image, x, y)
    out = {}
    for radius in radii:
        aperture = CircularAperture(positions, radius)
        flux = np.asarray(aperture_photometry(image, aperture)["aperture_sum"]) - sky * aperture.area
        out[radius] = pogson_mag(flux, floor_nmgy=1e-4)
    return out


def stellar_locus(c: np.ndarray, r: np.ndarray) -> float:
    """The concentration of a point source on this field (mag): the median ``c`` of the most
    concentrated third of the sources brighter than r = 19."""
    bright = np.sort(c[(np.asarray(r) < LOCUS_R_MAX) & np.isfinite(c)])
    if len(bright) == 0:
        raise ValueError(f"no source brighter than r = {LOCUS_R_MAX:g} to set the stellar locus")
    return float(np.median(bright[: max(len(bright) // 3, 1)]))


def concentration_classes(c: np.ndarray, r: np.ndarray) -> tuple[np.ndarray, float]:
    """STAR / GALAXY by the concentration cut (``locus + CONCENTRATION_CUT_MAG``), and the cut (mag)."""
    cut = stellar_locus(np.asarray(c, float), r) + CONCENTRATION_CUT_MAG
    return np.where(np.asarray(c) > cut, "GALAXY", "STAR"), cut


def concentration_table(image: np.ndarray, sources: pd.DataFrame | None = None) -> tuple[pd.DataFrame, float]:
    """Sources (detected on ``image`` unless given, with x, y) with their ``r``, ``c`` and
    ``dc = c - locus`` (mag), and the field's stellar locus (mag)."""
    t = detected_sources(image) if sources is None else sources.reset_index(drop=True).copy()
    mags = aperture_mags(image, t["x"], t["y"])
    t["r"] = mags[7.0]
    t["c"] = mags[1.5] - mags[4.0]
    locus = stellar_locus(t["c"].to_numpy(), t["r"].to_numpy())
    t["dc"] = t["c"] - locus
    return t, locus


def weak_labels(dc: np.ndarray, r: np.ndarray, margin_mag: float, r_max: float, r_min: float = -np.inf) -> np.ndarray:
    """POINT / GALAXY / "" (no label) per source, from its ``dc`` (mag above the stellar locus).

    Parameters
    ----------
    dc : array
        Concentration above the field's stellar locus (mag).
    r : array
        r magnitudes; sources at ``r >= r_max`` or ``r < r_min``, or with a non-finite
        ``dc``, get no label.
    margin_mag : float
        Half-width of the unlabelled band around the cut (mag).
    r_min : float
        The bright limit (mag): a saturated star's flattened core reads as extended, so the
        cut calls bright stars GALAXY (on the real 3918/3/213 and 4510/4/30, 7 of the 20
        calibObj stars at r < 16).
    """
    dc, r = np.asarray(dc, float), np.asarray(r, float)
    usable = np.isfinite(dc) & (r < r_max) & (r >= r_min)
    out = np.full(len(dc), "", dtype=object)
    out[usable & (dc < CONCENTRATION_CUT_MAG - margin_mag)] = POINT
    out[usable & (dc > CONCENTRATION_CUT_MAG + margin_mag)] = GALAXY
    return out
