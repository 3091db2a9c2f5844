"""Frame statistics used to calibrate the simulator against real SDSS frames.

The recipe is the one of ``../shared/notes/real-frame-stats.md``: sigma-clipped sky median
and rms; segments above 5 sigma after a 3-pixel Gaussian smoothing with at least 5 pixels;
PSF FWHM as the median circularised FWHM of the brightest 20% compact segments (elongation
below 1.2).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from astropy.convolution import Gaussian2DKernel, convolve
from astropy.stats import gaussian_fwhm_to_sigma, sigma_clipped_stats
from photutils.segmentation import SourceCatalog, detect_sources

PIXEL_ARCSEC = 0.396


@dataclass
class FrameStats:
    sky_median: float  # nanomaggies per pixel
    sky_rms: float  # nanomaggies per pixel
    n_above_5sigma: int
    psf_fwhm_arcsec: float

    def as_dict(self) -> dict:
        return asdict(self)


def frame_statistics(image: np.ndarray) -> FrameStats:
    """Sky, noise, source count and seeing of one sky-subtracted frame (nanomaggies)."""
    _, median, rms = sigma_clipped_stats(image, sigma=3.0, maxiters=5)
    kernel = Gaussian2DKernel(3.0 * gaussian_fwhm_to_sigma, x_size=9, y_size=9)
    kernel.normalize()
    smoothed = convolve(image - median, kernel, normalize_kernel=True)
    # The smoothed map's noise is lower than the pixel noise: threshold in its own sigma.
    _, _, rms_s = sigma_clipped_stats(smoothed, sigma=3.0, maxiters=5)
    segm = detect_sources(smoothed, 5.0 * rms, n_pixels=5)
    if segm is None:
        return FrameStats(float(median), float(rms), 0, float("nan"))
    cat = SourceCatalog(image - median, segm)
    flux = np.asarray(cat.segment_flux)
    elong = np.asarray(cat.elongation)
    fwhm = np.asarray(cat.fwhm.value) * PIXEL_ARCSEC
    compact = np.isfinite(fwhm) & (elong < 1.2) & (fwhm > 0)
    fwhm_med = float("nan")
    if compact.sum() >= 5:
        bright = flux[compact] >= np.percentile(flux[compact], 80)
        fwhm_med = float(np.median(fwhm[compact][bright]))
    return FrameStats(float(median), float(rms), int(segm.n_labels), fwhm_med)
