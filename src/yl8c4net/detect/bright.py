"""A classical complement for the brightest sources: photutils segments of the r frame.

SDSS's own pipeline treats saturated stars apart from the rest, and a detector trained on
tiles where big boxes are rare misses exactly those: saturated cores with bleed trails,
wide PSF wings, large bright galaxies. This module finds them the classical way and adds
them to the detector's boxes (``detector.bright_complement`` in the config; off by default
so that the detector's own recall stays what the catalogue reports).

1. The r frame (sky-subtracted, nanomaggies) is smoothed with a Gaussian of ``smooth_fwhm_px``
   and segmented at ``nsigma`` x its clipped rms (photutils ``detect_sources``).
2. Segments whose total flux is brighter than ``r_max`` are the candidates; those holding
   more than one bright source (crowded fields, pairs) are deblended (photutils
   ``deblend_sources``, only those labels: deblending a whole crowded frame costs minutes).
3. Every deblended segment brighter than ``r_max``, or holding a saturated pixel, becomes a
   box: its bounding box, at least the box table's side for its magnitude, at most
   ``max_side_px``.
4. Merging (`merge_bright_sources`): a detector box that is the same source as a complement
   box by the catalogue's box rule (`yl8c4net.catalog.build.MergeRule`: overlap over the smaller
   box >= 0.7 and centres within 0.15 of its side) gives way to it; detector boxes of
   neighbours inside a bright star's box stay.

Complement rows carry ``conf`` 1 and ``tile`` -1 (``BRIGHT_TILE``), so that the catalogue can
say which rows came from where (``det_method``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from yl8c4net.sdss.magnitudes import pogson_mag

BRIGHT_TILE = -1


@dataclass(frozen=True)
class BrightSourceSettings:
    """The ``detector.bright_complement`` section.

    Attributes
    ----------
    enabled : bool
        Add complement boxes to the detector's.
    r_max : float
        Segments brighter than this total r magnitude (mag) become boxes.
    saturation_counts : float
        A segment with a pixel at or above this many counts above the sky becomes a box
        whatever its measured flux (a saturated core loses flux). SDSS r frames saturate
        near 55,000-60,000 counts; the real corrected frames show cores up to ~60,000.
    nsigma : float
        Segmentation threshold in units of the frame's clipped rms.
    npixels : int
        Smallest segment (pixels).
    smooth_fwhm_px : float
        FWHM (pixels) of the Gaussian that smooths the frame before segmentation.
    max_side_px : float
        Largest box side (pixels).
    """

    enabled: bool = False
    r_max: float = 16.0
    saturation_counts: float = 50000.0
    nsigma: float = 5.0
    npixels: int = 20
    smooth_fwhm_px: float = 3.0
    max_side_px: float = 400.0

    @classmethod
    def from_config(cls, cfg: dict | None) -> "BrightSourceSettings":
        return cls(**(cfg or {}))


def _mag(flux_nmgy: np.ndarray) -> np.ndarray:
    return pogson_mag(flux_nmgy)


def bright_sources(
    image_nmgy: np.ndarray,
    calib: np.ndarray,
    settings: BrightSourceSettings = BrightSourceSettings(),
    box_side=None,
) -> pd.DataFrame:
    """Boxes of the bright and saturated sources of one r frame.

    Parameters
    ----------
    image_nmgy : numpy.ndarray
        Sky-subtracted r frame, nanomaggies per pixel, FITS row order.
    calib : numpy.ndarray
        Nanomaggies per count of each column (the frame's HDU 1); with the frame's sky it
        gives the counts that saturation is judged on.
    settings : BrightSourceSettings
    box_side : callable, optional
        r magnitude -> smallest box side (pixels); `yl8c4net.images.labels.BoxTable.side` in the
        workflow, so that a complement box is never smaller than the label of its magnitude.

    Returns
    -------
    pandas.DataFrame
        Detection columns ``x``, ``y`` (0-based pixel centre, FITS rows), ``w``, ``h`` (pixels),
        ``conf`` (1), ``tile`` (`BRIGHT_TILE`), and ``r_seg`` (segment magnitude, mag) and
        ``saturated`` (bool).
    """
    from astropy.convolution import Gaussian2DKernel, convolve_fft
    from astropy.stats import gaussian_fwhm_to_sigma, sigma_clipped_stats
    from photutils.segmentation import SourceCatalog, deblend_sources, detect_sources

    empty = pd.DataFrame(
        {
            "x": pd.Series(dtype="float64"),
            "y": pd.Series(dtype="float64"),
            "w": pd.Series(dtype="float64"),
            "h": pd.Series(dtype="float64"),
            "conf": pd.Series(dtype="float32"),
            "tile": pd.Series(dtype="int16"),
            "r_seg": pd.Series(dtype="float64"),
            "saturated": pd.Series(dtype="bool"),
        }
    )
    image = np.asarray(image_nmgy, dtype=np.float64)
    _, median, rms = sigma_clipped_stats(image, sigma=3.0, maxiters=5)
    data = image - median
    kernel = Gaussian2DKernel(settings.smooth_fwhm_px * gaussian_fwhm_to_sigma)
    smooth = convolve_fft(data, kernel, allow_huge=True)
    segm = detect_sources(smooth, settings.nsigma * rms, n_pixels=settings.npixels)
    if segm is None:
        return empty
    # Saturation is judged in counts above the sky (the sky, a few hundred counts, is small
    # against the ~55,000-count limit).
    saturated_px = image / np.asarray(calib, dtype=np.float64)[None, :] >= settings.saturation_counts
    flux = np.asarray(SourceCatalog(data, segm).segment_flux)
    sat_label = np.unique(segm.data[saturated_px])
    sat_label = sat_label[sat_label > 0]
    bright = set(segm.labels[_mag(flux) <= settings.r_max].tolist()) | set(sat_label.tolist())
    if not bright:
        return empty
    # Deblend only the bright segments: their neighbours stay the detector's business.
    keep = np.isin(segm.data, list(bright))
    segm_b = segm.copy()
    segm_b.data[~keep] = 0
    segm_b.relabel_consecutive()
    segm_b = deblend_sources(smooth, segm_b, n_pixels=settings.npixels, progress_bar=False)
    cat = SourceCatalog(data, segm_b)
    r_seg = _mag(np.asarray(cat.segment_flux))
    sat = np.array([bool(saturated_px[s].any()) for s in cat.slices]) if len(cat.slices) else np.zeros(0, bool)
    chosen = (r_seg <= settings.r_max) | sat
    if not chosen.any():
        return empty
    bbox = cat.bbox
    x0 = np.array([b.ixmin for b in bbox], float)[chosen]
    x1 = np.array([b.ixmax for b in bbox], float)[chosen]
    y0 = np.array([b.iymin for b in bbox], float)[chosen]
    y1 = np.array([b.iymax for b in bbox], float)[chosen]
    r_chosen = r_seg[chosen]
    # Centre on the flux-weighted centroid (the bright core), then take the box half-size
    # that covers the segment on both sides: a bleed trail or a wing lies on one side only.
    xc = np.asarray(cat.x_centroid)[chosen]
    yc = np.asarray(cat.y_centroid)[chosen]
    w = 2 * np.maximum(xc - x0 + 0.5, x1 - xc + 0.5)
    h = 2 * np.maximum(yc - y0 + 0.5, y1 - yc + 0.5)
    if box_side is not None:
        side = np.asarray(box_side(r_chosen), float)
        w, h = np.maximum(w, side), np.maximum(h, side)
    w, h = np.minimum(w, settings.max_side_px), np.minimum(h, settings.max_side_px)
    return pd.DataFrame(
        {
            "x": xc,
            "y": yc,
            "w": w,
            "h": h,
            "conf": np.ones(len(xc), np.float32),
            "tile": np.full(len(xc), BRIGHT_TILE, np.int16),
            "r_seg": r_chosen,
            "saturated": sat[chosen],
        }
    )


def merge_bright_sources(detections: pd.DataFrame, bright: pd.DataFrame, rule=None) -> pd.DataFrame:
    """The detector's boxes and the complement's, one box per source.

    A detector box that `yl8c4net.catalog.build.MergeRule`'s box rule joins to a complement box is
    dropped (the complement box covers the whole bright source); all others are kept.
    Returns the detection columns of ``detections``, complement rows last.
    """
    from yl8c4net.catalog.build import MergeRule, same_source_boxes

    rule = rule or MergeRule()
    cols = list(detections.columns)
    if len(bright) == 0:
        return detections.reset_index(drop=True)
    add = bright[[c for c in cols if c in bright.columns]]
    if len(detections) == 0:
        return add.reset_index(drop=True)
    both = pd.concat([detections[cols], add], ignore_index=True)
    n = len(detections)
    a, b = np.meshgrid(np.arange(n), np.arange(n, len(both)), indexing="ij")
    arrays = {k: both[k].to_numpy(float) for k in ("x", "y", "w", "h")}
    arrays["key"] = np.zeros(len(both))
    joined = same_source_boxes(a.ravel(), b.ravel(), arrays, rule).reshape(n, -1)
    kept = detections[~joined.any(axis=1)]
    return pd.concat([kept[cols], add], ignore_index=True)
