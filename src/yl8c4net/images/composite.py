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
    clip_negative : bool
        Set each scaled band's negative pixels to 0 before the three are summed, as SDSS's
        JPEG maker does (otherwise a pixel's noise in one band dims the other two).
    saturation_nmgy : float or None
        Pixels above this (nanomaggies, before ``scales``) in any band are grouped into
        connected objects, and each object is filled with the mean of the pixels around it,
        as SDSS's JPEG maker does with saturated stars; None: off.

    The defaults are SDSS's own mapping for its ``frame-irg`` JPEGs (``sdss_frame_jpg``,
    which calls idlutils' ``djs_rgb_make``: scales 0.4 x (5, 6.5, 9) for (i, r, g),
    nonlinearity b = 2.25 on the sum of the three, saturation at 30), written in astropy's
    parameters: ``asinh(b S) / (b S)`` on the sum ``S`` is astropy's mapping of the mean
    ``S / 3`` with ``Q / stretch = 3 b`` and ``0.1 * 255 * 3 / asinh(0.1 Q) = 256 / b``,
    i.e. Q = 7.24, stretch = 1.073. On the official JPEGs of 3918/3/213, 4510/4/30,
    1035/6/17 and 1992/1/87 (after JPEG coding at quality 90, as SDSS's) the mean absolute
    difference is 1.8-2.6 DN per pixel and channel, and 5-9 DN on source pixels, where the
    brightness of sources agrees within 2 % in each channel (``benchmarks/jpeg_stretch.py``).
    """

    scales: tuple[float, float, float] = (2.0, 2.6, 3.6)
    q: float = 7.24
    stretch: float = 1.073
    minimum: float = 0.0
    clip_negative: bool = True
    saturation_nmgy: float | None = 30.0


def fill_saturated_objects(planes: list[np.ndarray], limits) -> list[np.ndarray]:
    """Each connected group of pixels above its band's limit in any of ``planes`` (4-way
    connectivity) replaced, in every plane, by the mean of the pixels that touch it: a
    saturated star's core becomes flat at the colour of its edge instead of a white blot."""
    from scipy import ndimage

    mask = np.zeros(planes[0].shape, bool)
    for plane, limit in zip(planes, limits):
        mask |= plane > limit
    if not mask.any():
        return planes
    cross = ndimage.generate_binary_structure(2, 1)
    objects, n = ndimage.label(mask, structure=cross)
    grown = ndimage.grey_dilation(objects, footprint=cross)
    ring = np.where(mask, 0, grown)
    index = np.arange(1, n + 1)
    out = []
    for plane in planes:
        means = np.asarray(ndimage.mean(plane, labels=ring, index=index))
        filled = plane.copy()
        filled[mask] = np.nan_to_num(means)[objects[mask] - 1]
        out.append(filled)
    return out


def resample_to(image: np.ndarray, wcs_in: WCS, wcs_out: WCS, shape_out: tuple[int, int]) -> np.ndarray:
    """Resample ``image`` from its WCS onto the grid of ``wcs_out`` (bilinear).

    Pixels of the output grid that fall outside the input frame are set to 0 (sky level of a
    sky-subtracted frame), not NaN, so the composite has no holes. The coordinates are mapped
    one way only (``roundtrip_coords=False``): a frame's TAN projection is defined everywhere
    on and around the frame, so the check back gives the same pixels at twice the cost.
    """
    from reproject import reproject_interp

    out, footprint = reproject_interp(
        (image, wcs_in), wcs_out, shape_out=shape_out, order="bilinear", roundtrip_coords=False
    )
    out[footprint == 0] = 0.0
    return np.nan_to_num(out, nan=0.0).astype(np.float32)


def lupton_rgb(i: np.ndarray, r: np.ndarray, g: np.ndarray, stretch: LuptonStretch = LuptonStretch()) -> np.ndarray:
    """uint8 RGB image (rows, cols, 3) from i, r, g images already on one pixel grid.

    The array is in FITS row order (row 0 = first FITS row); flip it vertically to store it
    the way SDSS stores its JPEGs.
    """
    planes = [np.asarray(band, float) * scale for band, scale in zip((i, r, g), stretch.scales)]
    if stretch.clip_negative:
        planes = [np.clip(plane, 0.0, None) for plane in planes]
    if stretch.saturation_nmgy:
        planes = fill_saturated_objects(planes, [stretch.saturation_nmgy * scale for scale in stretch.scales])
    with np.errstate(divide="ignore", invalid="ignore"):  # astropy divides by a zero intensity on black pixels
        return make_lupton_rgb(*planes, minimum=stretch.minimum, stretch=stretch.stretch, Q=stretch.q)


#: Mesh of the background taken out of FITS frames before the stretch (pixels;
#: ``composite.background_box_px``): SExtractor's default BACK_SIZE, with its BACK_FILTERSIZE.
BACKGROUND_BOX_PX = 64
BACKGROUND_FILTER_MESHES = 3


def _background_2d(image: np.ndarray, box_px: int):
    """photutils' `~photutils.background.Background2D` of ``image`` as `subtract_background`
    describes it, on the image mirrored out to whole meshes."""
    from astropy.stats import SigmaClip
    from photutils.background import Background2D, MedianBackground

    # Mirrored out to whole meshes: a partial mesh at the edge (SDSS's 1489 rows are 23 x 64
    # + 17) makes the interpolated background overshoot there, by ~4 % of a steep glow.
    rows, cols = image.shape
    padded = np.pad(image, ((0, -rows % box_px), (0, -cols % box_px)), mode="reflect")

    def background(exclude_percentile: float):
        bkg = Background2D(
            padded,
            box_px,
            filter_size=BACKGROUND_FILTER_MESHES,
            sigma_clip=SigmaClip(sigma=3.0),
            bkg_estimator=MedianBackground(),
            exclude_percentile=exclude_percentile,
        )
        bkg.background_mesh  # noqa: B018 - the meshes' statistics raise here, if they do
        return bkg

    try:
        return background(10.0)  # photutils' default
    except ValueError:
        # photutils gives up when every mesh has over 10 % of its pixels clipped (large
        # meshes on a crowded field: 5405/6/99 with 256 px); every mesh's clipped median
        # is then the best estimate there is.
        return background(100.0)


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
    rows, cols = image.shape
    diffuse = _background_2d(image, box_px).background[:rows, :cols]
    return (image - diffuse).astype(np.float32)


def background_mesh(image: np.ndarray, box_px: int) -> np.ndarray:
    """The low-resolution mesh (one value per ``box_px`` mesh, nanomaggies per pixel) of the
    diffuse light `subtract_background` takes out of ``image``; `background_at` reads it at
    any pixel. Cheaper than the full-size background where only a few pixels are needed."""
    return np.asarray(_background_2d(image, box_px).background_mesh, dtype=np.float64)


def background_at(mesh: np.ndarray, box_px: int, rows, cols) -> np.ndarray:
    """The diffuse light of `background_mesh` at the pixels (``rows``, ``cols``; integer
    arrays of one shape): the values of `subtract_background`'s full-size background there.

    photutils enlarges the mesh with `scipy.ndimage.zoom` (cubic spline, mirrored edges,
    mesh values at mesh centres: ``grid_mode``) and clips the result to the mesh's range;
    `scipy.ndimage.map_coordinates` evaluates the same spline at chosen pixels only, in
    another order of operations: on an SDSS frame the two agree to 2e-10 nanomaggies
    (``tests/test_verify.py``). photutils has no call that reads its background at a few
    pixels, hence this one.
    """
    from scipy.ndimage import map_coordinates

    rows = np.asarray(rows, dtype=np.float64)
    cols = np.asarray(cols, dtype=np.float64)
    values = map_coordinates(mesh, [(rows + 0.5) / box_px - 0.5, (cols + 0.5) / box_px - 0.5], order=3, mode="reflect")
    return np.clip(values, mesh.min(), mesh.max())


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

    from yl8c4net.sdss.fetch import frame_file
    from yl8c4net.sdss.frames import read_frame, read_irg_jpeg

    log = logging.getLogger(__name__)
    field_dir = Path(field_dir)
    files = {b: frame_file(field_dir, m) for b, m in manifest["frames"].items()}
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
