"""Source pasting (paper section 2.1.4): an image in which every visible source has a label.

photutils estimates the background and segments the image at a low threshold (2 sigma, at
least 3 connected pixels) so that every source is found; all detected pixels are masked and
filled with the mean background; then only the catalogued sources, the ones that got labels,
are pasted back from the original image at their own positions (the pixels of their boxes).
Uncatalogued and too-faint sources therefore vanish from the training image.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from photutils.background import Background2D, MedianBackground
from photutils.segmentation import detect_sources
from scipy import ndimage


@dataclass(frozen=True)
class PastingParams:
    """Parameters of the background mask (paper: 2 sigma, 3 pixels)."""

    nsigma: float = 2.0
    npixels: int = 3
    box_size: int = 64  # photutils background mesh, pixels
    filter_size: int = 3
    dilate_px: int = 1  # grow the mask to catch the faint wings below the threshold


@dataclass
class PastingResult:
    """Every stage of the pasting, as arrays of the image's shape.

    Attributes
    ----------
    mask : numpy.ndarray of bool
        Pixels of detected sources.
    background : numpy.ndarray
        The image with masked pixels replaced by the mean background (per channel).
    pasted : numpy.ndarray
        ``background`` with the labelled boxes copied back from the original.
    """

    mask: np.ndarray
    background: np.ndarray
    pasted: np.ndarray


def detection_image(image: np.ndarray) -> np.ndarray:
    """Single-plane float image to segment: the channel mean of an RGB composite."""
    image = np.asarray(image, dtype=np.float64)
    return image.mean(axis=2) if image.ndim == 3 else image


def source_mask(image: np.ndarray, params: PastingParams = PastingParams()) -> np.ndarray:
    """Boolean mask of every source photutils detects at ``nsigma`` above the background."""
    plane = detection_image(image)
    bkg = Background2D(plane, params.box_size, filter_size=params.filter_size, bkg_estimator=MedianBackground())
    segm = detect_sources(plane - bkg.background, params.nsigma * bkg.background_rms, n_pixels=params.npixels)
    if segm is None:
        return np.zeros(plane.shape, dtype=bool)
    mask = segm.data > 0
    if params.dilate_px > 0:
        mask = ndimage.binary_dilation(mask, iterations=params.dilate_px)
    return mask


def box_mask(labels: pd.DataFrame, shape: tuple[int, int]) -> np.ndarray:
    """Boolean mask of the pixels inside the label boxes (pixel centres inside the box)."""
    out = np.zeros(shape, dtype=bool)
    height, width = shape
    for x, y, w, h in labels[["x", "y", "w", "h"]].itertuples(index=False):
        xa, xb = int(np.ceil(x - w / 2)), int(np.floor(x + w / 2))
        ya, yb = int(np.ceil(y - h / 2)), int(np.floor(y + h / 2))
        out[max(ya, 0) : min(yb + 1, height), max(xa, 0) : min(xb + 1, width)] = True
    return out


def paste_sources(image: np.ndarray, labels: pd.DataFrame, params: PastingParams = PastingParams()) -> PastingResult:
    """Mask all sources, fill with the mean background, paste back the labelled boxes.

    Parameters
    ----------
    image : numpy.ndarray
        (rows, cols) or (rows, cols, channels) image, e.g. the irg composite (uint8).
    labels : pandas.DataFrame
        Boxes with x, y, w, h in frame pixels (see `yl8c4net.images.labels.make_labels`).
    """
    mask = source_mask(image, params)
    background = image.copy()
    unmasked = ~mask
    if image.ndim == 3:
        for c in range(image.shape[2]):
            fill = image[..., c][unmasked].mean() if unmasked.any() else 0
            background[..., c][mask] = np.asarray(np.round(fill) if image.dtype.kind in "ui" else fill, image.dtype)
    else:
        fill = image[unmasked].mean() if unmasked.any() else 0
        background[mask] = np.asarray(np.round(fill) if image.dtype.kind in "ui" else fill, image.dtype)
    boxes = box_mask(labels, image.shape[:2])
    pasted = background.copy()
    pasted[boxes] = image[boxes]
    return PastingResult(mask=mask, background=background, pasted=pasted)


def densest_window(labels: pd.DataFrame, shape: tuple[int, int], size: int = 400) -> tuple[int, int]:
    """Origin (x0, y0) of a ``size`` x ``size`` window on an image of ``shape`` (rows,
    columns) centred on the most crowded of 3 x 5 cells: the part of a field that shows the
    pasting best."""
    height, width = shape[:2]
    counts, ye, xe = np.histogram2d(labels["y"], labels["x"], bins=(3, 5), range=[[0, height], [0, width]])
    iy, ix = np.unravel_index(np.argmax(counts), counts.shape) if len(labels) else (0, 0)
    x0 = int(min(max(xe[ix] + (xe[1] - xe[0]) / 2 - size / 2, 0), width - size))
    y0 = int(min(max(ye[iy] + (ye[1] - ye[0]) / 2 - size / 2, 0), height - size))
    return x0, y0
