"""Classification cut-outs rendered directly, without whole frames: thousands per class in
minutes, each with the photometric measurements SDSS would report for it.

Each cut-out is a small sky patch (``PATCH_PX`` square, 0.396"/px) around one target of a
chosen class, with its neighbours drawn from the population model at the patch's sky
position (so blends and crowding are as frequent as on the simulated frames), rendered in
g, r, i with one field's conditions (seeing, sky, noise; as `simulate_field`), made into an
irg composite by the same asinh stretch and JPEG coding as the simulated mirror, and cropped
and resized exactly as the pipeline crops detections (`yl8c4net.images.cutouts.crop_cutouts`).

The target's r magnitude comes, per class, either from the r distribution of real SDSS
spectra of that class (what the paper's classifier saw) or, for a ``faint_fraction`` of the
set, uniformly from ``faint_range`` (what the catalogue applies it to).
"""

from __future__ import annotations

import io
import logging

import numpy as np
import pandas as pd
from astropy.wcs import WCS
from PIL import Image

from yl8c4net.images.composite import LuptonStretch, lupton_rgb
from yl8c4net.images.cutouts import CUTOUT_PX, crop_cutouts
from yl8c4net.images.labels import BoxTable
from yl8c4net.images.seeing import crop_scale
from yl8c4net.simulate.colours import CLASSES, colours_to_mags, load_colour_model
from yl8c4net.simulate.photometry import measure_photometry
from yl8c4net.simulate.population import (
    PopulationParams,
    draw_galaxies,
    sources_in_box,
)
from yl8c4net.simulate.render import (
    FIT_FWHM_PER_PSF_FWHM,
    SEEING_RANGE_ARCSEC,
    add_sky_noise,
    field_conditions,
    render_sources,
)
from yl8c4net.simulate.survey import PIXEL_SCALE_DEG

log = logging.getLogger(__name__)

PATCH_PX = 96
#: Sky region of the patches: far from the demo and test surveys' RA (ra0 10-150 deg).
PATCH_RA_RANGE = (200.0, 260.0)
PATCH_DEC_RANGE = (-20.0, 20.0)


def patch_wcs(ra_deg: float, dec_deg: float, size_px: int = PATCH_PX) -> WCS:
    """TAN WCS of a square patch centred on (ra, dec), oriented like an SDSS frame."""
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.cunit = ["deg", "deg"]
    w.wcs.radesys = "ICRS"
    w.wcs.crpix = [(size_px + 1) / 2.0, (size_px + 1) / 2.0]
    w.wcs.crval = [ra_deg, dec_deg]
    w.wcs.cd = [[0.0, PIXEL_SCALE_DEG], [PIXEL_SCALE_DEG, 0.0]]
    w.pixel_shape = (size_px, size_px)
    return w


def _targets(rng, cls, n, colour_model, params, faint_fraction, faint_range) -> pd.DataFrame:
    faint = rng.random(n) < faint_fraction
    r = np.where(faint, rng.uniform(*faint_range, n), colour_model[cls].sample_spectroscopic_r(rng, n))
    mags = colours_to_mags(r, colour_model[cls].sample(rng, n))
    if cls == "GALAXY":
        t = draw_galaxies(rng, mags, params)
    else:
        t = pd.DataFrame(mags, columns=list("ugriz"))
        t["hlr_arcsec"] = t["bulge_frac"] = t["g1"] = t["g2"] = 0.0
    return t.assign(**{"class": cls, "faint_draw": faint})


def render_cutout_set(
    seed: int,
    n_per_class: int,
    faint_fraction: float = 0.5,
    faint_range: tuple[float, float] = (18.0, 22.2),
    stretch: LuptonStretch = LuptonStretch(),
    box_table: BoxTable = BoxTable(),
    fwhm_range: tuple[float, float] = SEEING_RANGE_ARCSEC,
    jpeg_quality: int | None = 90,
    params: PopulationParams | None = None,
    size: int = CUTOUT_PX,
    seeing_reference_arcsec: float | None = None,
) -> tuple[np.ndarray, pd.DataFrame]:
    """Render a class-balanced set of cut-outs.

    With ``seeing_reference_arcsec`` each crop side is the magnitude box's times the
    patch's FWHM (as photutils would fit it, `FIT_FWHM_PER_PSF_FWHM`) over the reference
    (`yl8c4net.images.seeing`), as the workflow crops a field's detections.

    Returns
    -------
    images : numpy.ndarray
        uint8 (3 n_per_class, size, size, 3) irg cut-outs.
    table : pandas.DataFrame
        One row per cut-out: ``class``, true ``r_true`` and ``hlr_arcsec``, ``fwhm_r``
        (arcsec), ``crop_scale``, ``n_neighbours``, ``faint_draw`` and the measured PhotoObjAll columns of
        `yl8c4net.simulate.photometry.measure_photometry`.
    """
    params = params or PopulationParams()
    colour_model = load_colour_model()
    rng = np.random.default_rng([seed, 48])
    targets = pd.concat(
        [_targets(rng, c, n_per_class, colour_model, params, faint_fraction, faint_range) for c in CLASSES],
        ignore_index=True,
    )
    targets = targets.iloc[rng.permutation(len(targets))].reset_index(drop=True)
    images = np.empty((len(targets), size, size, 3), dtype=np.uint8)
    rows = []
    half = PATCH_PX * PIXEL_SCALE_DEG / 2
    for k, target in enumerate(targets.itertuples(index=False)):
        ra = rng.uniform(*PATCH_RA_RANGE)
        dec = rng.uniform(*PATCH_DEC_RANGE)
        cosd = np.cos(np.deg2rad(dec))
        neighbours = sources_in_box(
            seed, ra - half / cosd, ra + half / cosd, dec - half, dec + half, params, colour_model
        )
        # The target sits at the patch centre, give or take half a pixel.
        jitter = rng.uniform(-0.5, 0.5, 2) * PIXEL_SCALE_DEG
        sky = pd.concat(
            [pd.DataFrame([target._asdict()]).assign(ra=ra + jitter[0] / cosd, dec=dec + jitter[1]), neighbours],
            ignore_index=True,
        )
        conds = field_conditions(rng, fwhm_range=fwhm_range)
        wcs = patch_wcs(ra, dec)
        planes = {}
        for band in ("g", "r", "i"):
            clean = render_sources(sky, wcs, band, conds[band].fwhm_arcsec, (PATCH_PX, PATCH_PX))
            calib = np.full(PATCH_PX, conds[band].calib, dtype=np.float32)
            planes[band] = add_sky_noise(clean, conds[band], calib, rng)
        rgb = lupton_rgb(planes["i"], planes["r"], planes["g"], stretch=stretch)
        if jpeg_quality is not None:
            buf = io.BytesIO()
            Image.fromarray(rgb).save(buf, format="JPEG", quality=jpeg_quality)
            rgb = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))
        x, y = wcs.all_world2pix([sky["ra"].iloc[0]], [sky["dec"].iloc[0]], 0)
        scale = crop_scale(FIT_FWHM_PER_PSF_FWHM * conds["r"].fwhm_arcsec, seeing_reference_arcsec)
        side = box_table.side(np.array([target.r])) * scale
        images[k] = crop_cutouts(rgb, x, y, side, size)[0]
        measured = measure_photometry(sky.iloc[:1], conds, rng).iloc[0].to_dict()
        rows.append(
            {
                "class": target[targets.columns.get_loc("class")],
                "r_true": float(target.r),
                "hlr_arcsec": float(target.hlr_arcsec),
                "fwhm_r": conds["r"].fwhm_arcsec,
                "crop_scale": scale,
                "n_neighbours": int(len(neighbours)),
                "faint_draw": bool(target.faint_draw),
                **measured,
            }
        )
        if (k + 1) % 2000 == 0:
            log.info("rendered %d of %d cut-outs", k + 1, len(targets))
    table = pd.DataFrame(rows)
    table["type"] = table["type"].astype(np.int16)
    return images, table
