"""Cut-outs at a common seeing: the crop side scaled by the field's PSF FWHM.

Why. Conv4Net tells a point source from a galaxy by its size in the 48-px cut-out, and a
crop of fixed side (the magnitude box) makes a star in 1.5" seeing as large as a compact
galaxy in 1.0" seeing. Scaling the crop side by ``fwhm / reference`` draws every field's
PSF at the same size in the cut-out, so the network compares a source with the PSF rather
than with a pixel count (BLISS feeds the PSF to its network for the same reason). The
size is the same in flux: the composite's asinh stretch, applied before the crop, still
shows a sharp field's star as a brighter, and so broader-cored, one. The reference travels
with the checkpoint that was trained so (`crop_settings`).

The FWHM is the one photutils' `~photutils.psf.fit_fwhm` (a circular Gaussian) gives on
the field's isolated sources (`yl8c4net.catalog.positions.estimate_fwhm_px`), on real
frames and simulated ones alike.
"""

from __future__ import annotations

import numpy as np

from yl8c4net.images.labels import PIXEL_ARCSEC

#: The scale is clipped here: a FWHM far outside the training range is more likely a bad
#: measurement than a night the simulator never drew.
CROP_SCALE_LIMITS = (0.6, 1.6)


def field_fwhm_arcsec(r_image: np.ndarray, x, y) -> float:
    """The field's PSF FWHM (arcsec) from the isolated sources at (x, y) on its r frame;
    NaN when fewer than five give a sane fit."""
    from yl8c4net.catalog.positions import estimate_fwhm_px

    return float(estimate_fwhm_px(r_image, x, y, fallback_px=np.nan)) * PIXEL_ARCSEC


def crop_scale(fwhm_arcsec: float, reference_arcsec: float | None) -> float:
    """The factor on a field's crop sides: ``fwhm / reference``, clipped to
    `CROP_SCALE_LIMITS`; 1 without a reference (the paper's magnitude boxes) or without a
    measured FWHM."""
    if reference_arcsec is None or not np.isfinite(fwhm_arcsec):
        return 1.0
    return float(np.clip(fwhm_arcsec / float(reference_arcsec), *CROP_SCALE_LIMITS))


def crop_settings(checkpoint_meta: dict) -> float | None:
    """The seeing reference (arcsec) a classifier checkpoint was trained with; None for one
    trained on the magnitude boxes alone."""
    value = checkpoint_meta.get("seeing_reference_arcsec")
    return None if value is None else float(value)
