"""Colour composites of SDSS frames on the r-band pixel grid.

The i, r and g frames of one field are separate exposures whose pixel grids are offset by a
few pixels on the sky; they are resampled onto the r grid through their WCS (reproject,
bilinear) before the asinh (Lupton et al. 2004) stretch that SDSS used for its ``frame-irg``
JPEGs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from astropy.visualization import make_lupton_rgb
from astropy.wcs import WCS


@dataclass(frozen=True)
class LuptonStretch:
    """Parameters of the asinh stretch (see `astropy.visualization.make_lupton_rgb`).

    Attributes
    ----------
    scales : tuple of float
        Multipliers of the (i, r, g) images in nanomaggies before the stretch; SDSS weights
        the bands so that a typical galaxy looks neutral.
    q : float
        Asinh softening parameter.
    stretch : float
        Linear stretch in nanomaggies.
    minimum : float
        Black level in nanomaggies.

    The defaults were fitted (grid search, mean absolute difference) to the official
    ``frame-irg`` JPEGs of 4510/4/30 and 1035/6/17: 4.6 DN per pixel and channel, about the
    JPEG's own sky noise.
    """

    scales: tuple[float, float, float] = (1.0, 1.5, 1.2)
    q: float = 3.0
    stretch: float = 1.2
    minimum: float = -0.02


def resample_to(image: np.ndarray, wcs_in: WCS, wcs_out: WCS, shape_out: tuple[int, int]) -> np.ndarray:
    """Resample ``image`` from its WCS onto the grid of ``wcs_out`` (bilinear).

    Pixels of the output grid that fall outside the input frame are set to 0 (sky level of a
    sky-subtracted frame), not NaN, so the composite has no holes.
    """
    from reproject import reproject_interp

    out, footprint = reproject_interp((image, wcs_in), wcs_out, shape_out=shape_out, order="bilinear")
    out[footprint == 0] = 0.0
    return np.nan_to_num(out, nan=0.0).astype(np.float32)


def lupton_rgb(i: np.ndarray, r: np.ndarray, g: np.ndarray, stretch: LuptonStretch = LuptonStretch()) -> np.ndarray:
    """uint8 RGB image (rows, cols, 3) from i, r, g images already on one pixel grid.

    The array is in FITS row order (row 0 = first FITS row); flip it vertically to store it
    the way SDSS stores its JPEGs.
    """
    si, sr, sg = stretch.scales
    return make_lupton_rgb(
        np.asarray(i, float) * si,
        np.asarray(r, float) * sr,
        np.asarray(g, float) * sg,
        minimum=stretch.minimum,
        stretch=stretch.stretch,
        Q=stretch.q,
    )


#: Mesh of the background taken out of FITS frames before the stretch (pixels;
#: ``composite.background_box_px``): SExtractor's default BACK_SIZE, with its BACK_FILTERSIZE.
BACKGROUND_BOX_PX = 64
BACKGROUND_FILTER_MESHES = 3


def subtract_background(image: np.ndarray, box_px: int | None) -> np.ndarray:
    """``image`` (nanomaggies per pixel) minus its diffuse light on scales above ``box_px``:
    photutils' `~photutils.background.Background2D`, the 3-sigma-clipped median of each
    ``box_px`` mesh, median-filtered over 3 x 3 meshes, as SExtractor estimates the
    background before it detects. SDSS's frames have only photo's smooth sky (estimated
    over large boxes) taken out, so a globular cluster's unresolved stars or a bright star's
    scattered light stay in them and saturate the stretch, hiding the stars on top.
    ``None``: unchanged."""
    if not box_px:
        return image
    from astropy.stats import SigmaClip
    from photutils.background import Background2D, MedianBackground

    # Mirrored out to whole meshes: a partial mesh at the edge (SDSS's 1489 rows are 23 x 64
    # + 17) makes the interpolated background overshoot there, by ~4 % of a steep glow.
    rows, cols = image.shape
    padded = np.pad(image, ((0, -rows % box_px), (0, -cols % box_px)), mode="reflect")

    def background(exclude_percentile: float) -> np.ndarray:
        return Background2D(
            padded,
            box_px,
            filter_size=BACKGROUND_FILTER_MESHES,
            sigma_clip=SigmaClip(sigma=3.0),
            bkg_estimator=MedianBackground(),
            exclude_percentile=exclude_percentile,
        ).background[:rows, :cols]

    try:
        diffuse = background(10.0)  # photutils' default
    except ValueError:
        # photutils gives up when every mesh has over 10 % of its pixels clipped (large
        # meshes on a crowded field: 5405/6/99 with 256 px); every mesh's clipped median
        # is then the best estimate there is.
        diffuse = background(100.0)
    return (image - diffuse).astype(np.float32)


def irg_composite(
    frames: dict, stretch: LuptonStretch = LuptonStretch(), reference: str = "r", background_box_px: int | None = None
) -> np.ndarray:
    """Composite of the i, r, g `~yl8c4net.sdss.frames.Frame` objects of one field on the
    grid of the ``reference`` band.

    Parameters
    ----------
    frames : dict
        Band name -> Frame; must hold ``i``, ``r`` and ``g``.
    background_box_px : int or None
        Take each band's diffuse light out first (`subtract_background`); None keeps the
        frames as they are (what SDSS's own JPEGs show).
    """
    ref = frames[reference]
    shape = ref.image.shape
    planes = []
    for band in ("i", "r", "g"):
        fr = frames[band]
        image = subtract_background(fr.image, background_box_px)
        planes.append(image if band == reference else resample_to(image, fr.wcs, ref.wcs, shape))
    return lupton_rgb(*planes, stretch=stretch)


def _finite(frame, path, log) -> np.ndarray:
    bad = ~np.isfinite(frame.image)
    if bad.any():
        # A few NaN columns occur in real frames (bad CCD columns); sky level is the honest fill.
        log.warning("%s: %d NaN/inf pixels set to 0 (sky level)", path, int(bad.sum()))
        return np.where(bad, 0.0, frame.image).astype(np.float32)
    return frame.image


def asinh_channel(image: np.ndarray, stretch: LuptonStretch = LuptonStretch()) -> np.ndarray:
    """One band stretched like a composite channel (uint8), for the optional u / z planes."""
    x = np.arcsinh(stretch.q * (np.asarray(image, float) - stretch.minimum) / stretch.stretch) / stretch.q
    return np.clip(np.round(x * 255.0), 0, 255).astype(np.uint8)


def field_composite(
    field_dir,
    manifest: dict,
    stretch: LuptonStretch = LuptonStretch(),
    use_official_jpeg: bool = True,
    extra_bands=(),
    background_box_px: int | None = BACKGROUND_BOX_PX,
) -> tuple[np.ndarray, str]:
    """The training / inference image of one field on the r-band pixel grid.

    Parameters
    ----------
    field_dir : path
        Directory of the fetched field (frames + manifest, see `yl8c4net.sdss.fetch`).
    manifest : dict
        The field's manifest.
    use_official_jpeg : bool
        Use SDSS's ``frame-irg`` JPEG when the archive had one; otherwise (or when False)
        build the i, r, g composite from the FITS frames.
    extra_bands : sequence of str
        Optional ``"u"``, ``"z"``: appended as extra channels (asinh-stretched, resampled).
    background_box_px : int or None
        Composites built from FITS frames (and the extra channels) have their diffuse light
        on scales above this many pixels taken out first (`subtract_background`); None
        keeps it. The official JPEG is used as SDSS made it.

    Returns
    -------
    (numpy.ndarray, str)
        uint8 image (rows, cols, 3 + len(extra_bands)) in FITS row order, and its origin
        (``"official-jpeg"`` or ``"fits"``).
    """
    import logging
    from pathlib import Path

    from yl8c4net.sdss.frames import read_frame, read_irg_jpeg

    log = logging.getLogger(__name__)
    field_dir = Path(field_dir)
    files = {b: field_dir / m["file"] for b, m in manifest["frames"].items()}
    # The JPEG needs no frame (lean mode fetches none); extra bands are resampled onto r.
    need = (set() if use_official_jpeg and manifest.get("irg_jpeg") else {"i", "r", "g"}) | set(extra_bands)
    if extra_bands:
        need.add("r")
    frames = {}
    for band in sorted(need):
        if band not in files:
            from yl8c4net.errors import FrameVerificationError

            raise FrameVerificationError(f"{field_dir}: band {band} was not fetched (sdss.bands)")
        fr = read_frame(files[band])
        fr.image = _finite(fr, files[band], log)
        frames[band] = fr
    if use_official_jpeg and manifest.get("irg_jpeg"):
        rgb, origin = read_irg_jpeg(field_dir / manifest["irg_jpeg"]), "official-jpeg"
    else:
        rgb, origin = irg_composite(frames, stretch, background_box_px=background_box_px), "fits"
    planes = [rgb]
    for band in extra_bands:
        ref = frames["r"]
        fr = frames[band]
        image = subtract_background(fr.image, background_box_px)
        planes.append(asinh_channel(resample_to(image, fr.wcs, ref.wcs, ref.image.shape), stretch)[..., None])
    return np.concatenate(planes, axis=2), origin
