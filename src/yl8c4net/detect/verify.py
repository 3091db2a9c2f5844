"""Flux verification of the detector's boxes: a box stays when the r frame shows a flux
excess at its centre.

The detector sees an 8-bit stretched composite, not the calibrated pixels. On crowded real
fields it also draws boxes where the frame holds nothing: on the low-latitude field
5405/6/99 7 % of its boxes have their centre on no segment of the r frame at 2 x its
noise, 90 % of those with an aperture S/N under 3. (On the simulated sky the detector draws
almost no box without a true source, so these answer to something the simulator lacks.)
SDSS's own pipeline keeps an object only where the smoothed frame rises above its noise: a
PSF-matched pass for compact objects, and binned passes for faint extended ones. This step
asks the same of each box, at the position the detector reports:

1. the r frame (nanomaggies, sky already subtracted by SDSS) loses its diffuse light on
   scales above ``background_box_px`` (`yl8c4net.images.composite.subtract_background`, the
   composite's own recipe);
2. it is smoothed by a Gaussian of each FWHM in ``smooth_fwhm_px`` (3 px = 1.2", near SDSS's
   median seeing: close to the matched filter of a point source; 5 px = 2" for faint
   galaxies, whose peak is too flat for the first) and divided by the frame's own noise
   after the same smoothing (`yl8c4net.sdss.frames.r_frame_pixel_noise`: sky, gain and dark
   variance; not the clipped rms, which unresolved stars inflate 2.2-2.4x on crowded
   fields);
3. each map is read at the box's centre pixel (computed at those pixels only:
   `snr_at_pixels`); a box whose S/N is under ``min_snr`` at every
   scale is dropped. Rows of the bright-source complement (``tile`` =
   `~yl8c4net.detect.bright.BRIGHT_TILE`) are segments of the same frame and always stay.

``min_snr`` = 3.15 makes the two-scale test as likely to pass on blank sky as one 3-sigma
test at 3 px (0.14 % of pure-noise positions; the two maps are correlated at 0.88), a
number derived from noise alone (`tests/test_verify.py` checks it). Its cost, measured on
simulated truth with the shipped detector (label boxes r <= 22.2, IoU >= 0.5, confidence
0.25): recall 0.9505 before and after on the demo survey (seed 20251124, 4 fields), 0.9212
-> 0.9207 on the unseen survey (seed 424242, 7 fields); AP50 0.9075 -> 0.9061 and 0.9036 ->
0.9043. The 3-px scale alone at 3 sigma lost faint sources on both (demo recall 0.9493;
on the unseen survey 15 of its 3,985 label boxes, all at r 22.0-22.2 and 12 of them
galaxies: AP50 0.899), hence the second scale.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from yl8c4net.detect.bright import BRIGHT_TILE


@dataclass(frozen=True)
class VerifySettings:
    """The ``detector.verify`` section.

    Attributes
    ----------
    min_snr : float or None
        Smallest S/N of the smoothed r frame at a box's centre, at one scale at least; None
        keeps every box.
    smooth_fwhm_px : tuple of float
        FWHMs (pixels) of the Gaussians that smooth the frame, one S/N map each.
    background_box_px : int or None
        Mesh (pixels) of the diffuse light taken out first; None: none.
    rescue_snr : float or None
        A box under the operating confidence (but at or above ``rescue_conf``) stays when its
        S/N reaches this; None: no rescue.
    rescue_conf : float
        The confidence the detector must then run at (`detection_conf`).
    """

    min_snr: float | None = 3.15
    smooth_fwhm_px: tuple[float, ...] = (3.0, 5.0)
    background_box_px: int | None = 64
    rescue_snr: float | None = 50.0
    rescue_conf: float = 0.05

    @classmethod
    def from_config(cls, cfg: dict | None) -> "VerifySettings":
        cfg = dict(cfg or {})
        if "smooth_fwhm_px" in cfg:
            cfg["smooth_fwhm_px"] = tuple(float(f) for f in cfg["smooth_fwhm_px"])
        return cls(**cfg)

    @property
    def enabled(self) -> bool:
        return self.min_snr is not None

    @property
    def rescues(self) -> bool:
        return self.enabled and self.rescue_snr is not None

    def detection_conf(self, conf: float) -> float:
        """The confidence the detector runs at for an operating confidence ``conf``: lower
        when boxes can be rescued by their S/N."""
        return min(conf, self.rescue_conf) if self.rescues else conf


#: Positions per chunk in `snr_at_pixels`: about 15 MB per array of windows.
SNR_CHUNK = 2048
#: `snr_at_pixels` reads the background from its mesh while its windows cover fewer pixels
#: than this share of the frame, and builds photutils' full-size background beyond. On an
#: SDSS frame (2 cores) the mesh read costs ~20 us per box, the full-size background 0.17 s
#: more up front and ~3 us per box: the two meet near 9,000 boxes, whose windows cover
#: about the frame's pixels.
FULL_BACKGROUND_SHARE = 1.0


def _filter_weights(sigma: float) -> np.ndarray:
    """The 1-D weights `scipy.ndimage.gaussian_filter` applies along each axis (its own
    response to one pixel, truncated at 4 sigma)."""
    from scipy.ndimage import gaussian_filter

    half = int(4.0 * sigma + 0.5)
    impulse = np.zeros(2 * half + 1)
    impulse[half] = 1.0
    return gaussian_filter(impulse, sigma, mode="constant", truncate=4.0)


def _noise_gain(weights: np.ndarray) -> float:
    """sqrt(sum k^2) of the 2-D kernel of separable ``weights``: the noise of a kernel-weighted
    sum of independent pixels is the pixel noise times this."""
    return float(np.sqrt((np.outer(weights, weights) ** 2).sum()))


def smoothed_snr_maps(
    image_nmgy: np.ndarray,
    pixel_noise_nmgy: float,
    smooth_fwhm_px=(3.0,),
    background_box_px: int | None = 64,
) -> list[np.ndarray]:
    """S/N of the frame smoothed by a Gaussian of each FWHM in ``smooth_fwhm_px``, per pixel.

    Parameters
    ----------
    image_nmgy : numpy.ndarray
        A sky-subtracted frame, nanomaggies per pixel.
    pixel_noise_nmgy : float
        The noise of one blank-sky pixel (nanomaggies).
    smooth_fwhm_px : sequence of float
        Smoothing FWHMs (pixels).
    background_box_px : int or None
        Mesh of the diffuse light subtracted first (`~yl8c4net.images.composite.subtract_background`).

    Returns
    -------
    list of numpy.ndarray
        One float32 map per FWHM, same shape as the frame: smoothed flux / smoothed noise
        (dimensionless).
    """
    from astropy.stats import gaussian_fwhm_to_sigma
    from scipy.ndimage import gaussian_filter

    from yl8c4net.images.composite import subtract_background

    if not pixel_noise_nmgy > 0:
        raise ValueError(f"pixel noise {pixel_noise_nmgy} nmgy is not positive")
    data = np.asarray(subtract_background(np.asarray(image_nmgy, np.float32), background_box_px), np.float64)
    maps = []
    for fwhm in smooth_fwhm_px:
        sigma = fwhm * gaussian_fwhm_to_sigma
        # scipy's separable filter: the same smoothing as astropy's convolve_fft with a
        # Gaussian2DKernel (zero outside the frame), ~7x faster on a 2048 x 1489 frame.
        smooth = gaussian_filter(data, sigma, mode="constant", truncate=4.0)
        maps.append((smooth / (pixel_noise_nmgy * _noise_gain(_filter_weights(sigma)))).astype(np.float32))
    return maps


def snr_at_centres(snr_map: np.ndarray, x, y) -> np.ndarray:
    """``snr_map`` at the pixels nearest to (x, y) (0-based, FITS rows), clipped to the map."""
    rows, cols = snr_map.shape
    xi = np.clip(np.rint(np.asarray(x, float)).astype(int), 0, cols - 1)
    yi = np.clip(np.rint(np.asarray(y, float)).astype(int), 0, rows - 1)
    return snr_map[yi, xi]


def snr_at_pixels(
    image_nmgy: np.ndarray,
    pixel_noise_nmgy: float,
    x,
    y,
    smooth_fwhm_px=(3.0,),
    background_box_px: int | None = 64,
) -> list[np.ndarray]:
    """The values of `smoothed_snr_maps` at the pixels `snr_at_centres` reads for (x, y),
    computed at those pixels only.

    A field's few hundred boxes need the smoothed S/N at a few hundred pixels: the diffuse
    light is read from its mesh there (`~yl8c4net.images.composite.background_at`) and each
    Gaussian is applied to a window around each pixel, instead of building the full-size
    background and maps: 0.15 s against 0.45 s per SDSS frame on one core, most of it the
    mesh. A crowded field's thousands of boxes (windows over more than
    `FULL_BACKGROUND_SHARE` of the frame) take photutils' full-size background instead, and
    only the smoothing is per pixel. The values are the maps' to the bit where the full-size
    background or none is taken out; read from the mesh they differ by a few parts in a
    million at most, as the mesh is read by another route (``tests/test_verify.py``).

    Returns
    -------
    list of numpy.ndarray
        One float32 array per FWHM, one value per (x, y) (dimensionless).
    """
    from astropy.stats import gaussian_fwhm_to_sigma

    from yl8c4net.images.composite import background_at, background_mesh, subtract_background

    if not pixel_noise_nmgy > 0:
        raise ValueError(f"pixel noise {pixel_noise_nmgy} nmgy is not positive")
    image = np.asarray(image_nmgy, np.float32)
    n_rows, n_cols = image.shape
    xi = np.clip(np.rint(np.asarray(x, float)).astype(int), 0, n_cols - 1)
    yi = np.clip(np.rint(np.asarray(y, float)).astype(int), 0, n_rows - 1)
    sigmas = [fwhm * gaussian_fwhm_to_sigma for fwhm in smooth_fwhm_px]
    half_max = max(int(4.0 * sigma + 0.5) for sigma in sigmas)
    offsets = np.arange(-half_max, half_max + 1)
    kernels, gains = [], []
    for sigma in sigmas:
        weights = _filter_weights(sigma)
        half = len(weights) // 2
        kernel = np.zeros(2 * half_max + 1)
        kernel[half_max - half : half_max + half + 1] = weights
        kernels.append(kernel)
        gains.append(_noise_gain(weights))
    mesh = None
    if background_box_px:
        if len(xi) * len(offsets) ** 2 > FULL_BACKGROUND_SHARE * image.size:
            # Windows over more pixels than the frame has: photutils' full-size background
            # costs less than reading its mesh pixel by pixel (and gives the maps' values
            # to the bit).
            image = subtract_background(image, background_box_px)
        else:
            mesh = background_mesh(image, background_box_px)
    out = [np.empty(len(xi), np.float32) for _ in sigmas]
    # Positions in chunks: a crowded field's ~20,000 windows at once would hold ~300 MB.
    for start in range(0, len(xi), SNR_CHUNK):
        chunk = slice(start, start + SNR_CHUNK)
        rows = yi[chunk, None, None] + offsets[None, :, None]
        cols = xi[chunk, None, None] + offsets[None, None, :]
        inside = (rows >= 0) & (rows < n_rows) & (cols >= 0) & (cols < n_cols)
        rows, cols = np.broadcast_arrays(np.clip(rows, 0, n_rows - 1), np.clip(cols, 0, n_cols - 1))
        window = image[rows, cols]
        if mesh is not None:
            window = (window - background_at(mesh, background_box_px, rows, cols)).astype(np.float32)
        # gaussian_filter's mode="constant": the frame is zero outside its edges.
        data = np.where(inside, window.astype(np.float64), 0.0)
        for values, kernel, gain in zip(out, kernels, gains):
            values[chunk] = (np.einsum("nij,i,j->n", data, kernel, kernel) / (pixel_noise_nmgy * gain)).astype(
                np.float32
            )
    return out


def verify_detections(
    detections: pd.DataFrame,
    image_nmgy: np.ndarray,
    pixel_noise_nmgy: float,
    settings: VerifySettings,
    conf: float = 0.0,
) -> tuple[pd.DataFrame, int]:
    """The boxes of ``detections`` whose centre has S/N >= ``settings.min_snr`` in the
    smoothed r frame at one scale at least, with complement rows kept whatever their S/N.
    Boxes under the operating confidence ``conf`` (the detector ran lower, at
    ``settings.detection_conf(conf)``) stay only with S/N >= ``settings.rescue_snr``.

    Returns
    -------
    (pandas.DataFrame, int)
        The kept rows (index reset) and how many of the confident boxes were dropped (the
        low-confidence ones that are not rescued are not counted: the detector at ``conf``
        would not have drawn them).
    """
    confident = detections["conf"].to_numpy() >= conf if "conf" in detections else np.ones(len(detections), bool)
    if not settings.enabled or detections.empty:
        return detections[confident].reset_index(drop=True), 0
    snr = np.max(
        snr_at_pixels(
            image_nmgy,
            pixel_noise_nmgy,
            detections["x"],
            detections["y"],
            settings.smooth_fwhm_px,
            settings.background_box_px,
        ),
        axis=0,
    )
    complement = detections["tile"].to_numpy() == BRIGHT_TILE
    keep = complement | (confident & (snr >= settings.min_snr))
    if settings.rescues:
        keep |= ~confident & (snr >= settings.rescue_snr)
    return detections[keep].reset_index(drop=True), int((confident & ~keep).sum())
