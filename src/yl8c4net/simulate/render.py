"""Rendering simulated frames with GalSim: noiseless source images in nanomaggies, then
SDSS-like sky and Poisson noise in counts through a per-column calibration vector.

What a real ``frame-*.fits`` shows where detectors fail is reproduced too:

- the PSF of point sources: a Moffat core (beta 3.5) plus a power-law wing (`psf_wing`, a
  Moffat of beta 1.5, i.e. I ~ r^-3 far out, as SDSS's psField model's wing) holding
  `PSF_WING_FRACTION` of a star's light out to `PSF_WING_TRUNC_ARCSEC` (galaxies keep the core);
- diffraction spikes along the rows and columns of stars brighter than `SPIKE_R_MAX`;
- saturation: counts above the full well (~58,000 counts) are clipped and the excess charge
  bleeds along the CCD column, up and down, as the trails of SDSS's bright stars;
- residual cosmic rays (the corrected frames have most removed) and, in a few frames,
  satellite trails: light that no catalogue source stands for (negatives for the detector).
"""

from __future__ import annotations

from dataclasses import dataclass

import galsim
import numpy as np
import pandas as pd
from astropy.wcs import WCS

from yl8c4net.sdss.fields import BANDS, FRAME_SHAPE_XY
from yl8c4net.sdss.magnitudes import pogson_mag_to_flux

PIXEL_ARCSEC = 0.396
_GSPARAMS = galsim.GSParams(maximum_fft_size=16384)
#: Share of a point source's light in the PSF's power-law wing, the wing's FWHM relative to
#: the core's, and where it is cut (arcsec).
PSF_WING_FRACTION = 0.05
PSF_WING_FWHM_FACTOR = 3.0
PSF_WING_TRUNC_ARCSEC = 40.0
#: Stars brighter than this (in the band drawn) get diffraction spikes; each of the four
#: arms holds `SPIKE_FRACTION` / 4 of the star's light, spread as 1 / (1 + d / 3 px)^2.
SPIKE_R_MAX = 16.0
SPIKE_FRACTION = 0.01
#: Full well: counts (sky included) where SDSS frames saturate, per field within +-3 %.
FULL_WELL_COUNTS = 58000.0

#: Typical SDSS values per band, from the three ordinary real fields in ../shared/data/sas
#: (1035/6/17, 1992/1/87, 4510/4/30): calibration (nanomaggies per count), sky (counts per
#: pixel, before subtraction), effective gain (counts -> Poisson electrons, absorbing the
#: dark variance so the sky rms matches), and PSF FWHM relative to r.
SDSS_BAND_DEFAULTS = {
    "u": {"calib": 0.0099, "sky_counts": 23.0, "gain": 1.1, "fwhm_factor": 1.08},
    "g": {"calib": 0.0035, "sky_counts": 78.0, "gain": 3.0, "fwhm_factor": 1.04},
    "r": {"calib": 0.0049, "sky_counts": 134.0, "gain": 4.4, "fwhm_factor": 1.00},
    "i": {"calib": 0.0065, "sky_counts": 179.0, "gain": 4.0, "fwhm_factor": 0.97},
    "z": {"calib": 0.0334, "sky_counts": 107.0, "gain": 3.8, "fwhm_factor": 0.96},
}


@dataclass(frozen=True)
class BandConditions:
    """Observing conditions of one band of one field."""

    band: str
    calib: float  # nanomaggies per count (median of the column vector)
    sky_counts: float  # counts per pixel
    gain: float  # electrons per count (effective)
    fwhm_arcsec: float  # PSF FWHM (Moffat, beta 3.5)

    @property
    def sky_nmgy(self) -> float:
        return self.sky_counts * self.calib

    @property
    def sky_rms_nmgy(self) -> float:
        return float(np.sqrt(self.sky_counts / self.gain) * self.calib)


#: r-band FWHM (arcsec) of this simulator's PSF, drawn uniformly per field. In these PSF terms
#: the four ordinary real fields in ../shared need 0.95-1.35" to reach their stellar locus
#: (benchmarks/morphology_sim_vs_real.py), although a moment FWHM of their stars reads
#: 1.45-2.2"; the range adds ~0.15-0.25" either side for better and worse nights.
SEEING_RANGE_ARCSEC = (0.8, 1.6)
#: photutils' Gaussian ``fit_fwhm`` on this simulator's stars (Moffat beta 3.5 plus the wing)
#: reads 1.10-1.13 times the FWHM they were drawn with over `SEEING_RANGE_ARCSEC`
#: (`yl8c4net.catalog.positions.estimate_fwhm_px` on rendered stars, r 17-19.5; checked in
#: tests/test_seeing_crops.py): the real frames' FWHM is measured that way.
FIT_FWHM_PER_PSF_FWHM = 1.12


def field_conditions(rng: np.random.Generator, fwhm_range=SEEING_RANGE_ARCSEC, sky_scale_range=(0.65, 1.3)) -> dict:
    """Draw the five bands' conditions of one field: one seeing, one sky brightness factor.

    The sky range spans the five real fields in ../shared (r sky 0.48-0.80 nanomaggies per
    pixel, notes/real-frame-stats.md); the seeing range is `SEEING_RANGE_ARCSEC`."""
    fwhm_r = rng.uniform(*fwhm_range)
    sky_scale = rng.uniform(*sky_scale_range)
    return {
        b: BandConditions(
            band=b,
            calib=SDSS_BAND_DEFAULTS[b]["calib"] * rng.uniform(0.95, 1.05),
            sky_counts=SDSS_BAND_DEFAULTS[b]["sky_counts"] * sky_scale,
            gain=SDSS_BAND_DEFAULTS[b]["gain"],
            fwhm_arcsec=fwhm_r * SDSS_BAND_DEFAULTS[b]["fwhm_factor"],
        )
        for b in BANDS
    }


def moffat_alpha(fwhm_px: float, beta: float) -> float:
    """Moffat scale radius of a profile of FWHM ``fwhm_px`` and index ``beta``."""
    return fwhm_px / (2 * np.sqrt(2 ** (1 / beta) - 1))


def psf_wing(xx: np.ndarray, yy: np.ndarray, flux: float, fwhm_px: float) -> np.ndarray:
    """The PSF's power-law wing (a Moffat of beta 1.5: I ~ r^-3 far out) holding
    `PSF_WING_FRACTION` of ``flux``, sampled at pixel offsets (xx, yy) from the source,
    cut at `PSF_WING_TRUNC_ARCSEC`. Drawn in numpy, not GalSim: the wing is many pixels wide,
    so pixel integration does not matter, and GalSim's FFT of a truncated beta-1.5 Moffat
    is ~100x slower per star."""
    beta = 1.5
    alpha = moffat_alpha(PSF_WING_FWHM_FACTOR * fwhm_px, beta)
    rmax = PSF_WING_TRUNC_ARCSEC / PIXEL_ARCSEC
    r2 = xx**2 + yy**2
    norm = (beta - 1) / (np.pi * alpha**2) / (1 - (1 + rmax**2 / alpha**2) ** (1 - beta))
    wing = norm * (1 + r2 / alpha**2) ** (-beta)
    return np.where(r2 <= rmax**2, PSF_WING_FRACTION * flux * wing, 0.0)


def _profile(row, flux: float, psf: galsim.GSObject) -> tuple[galsim.GSObject, int]:
    if row.hlr_arcsec <= 0:
        # Stamp big enough for the wings of bright stars (out to ~100" for saturated ones);
        # the core carries all but the wing's share.
        size = int(np.clip(48 + 32 * max(0.0, 20.0 - row.r), 48, 512))
        return psf.withFlux(flux * (1 - PSF_WING_FRACTION)), size
    hlr = float(row.hlr_arcsec)
    disk = galsim.Exponential(half_light_radius=hlr, gsparams=_GSPARAMS).shear(g1=row.g1, g2=row.g2)
    bulge = galsim.DeVaucouleurs(half_light_radius=0.6 * hlr, gsparams=_GSPARAMS).shear(
        g1=0.5 * row.g1, g2=0.5 * row.g2
    )
    bf = float(row.bulge_frac)
    gal = galsim.Add([disk * (1 - bf), bulge * bf]) if 0 < bf < 1 else (bulge if bf >= 1 else disk)
    fwhm_px = psf.calculateFWHM() / PIXEL_ARCSEC
    size = int(np.clip(2 * np.ceil(6 * hlr / PIXEL_ARCSEC + 2 * fwhm_px), 32, 256))
    return galsim.Convolve([gal.withFlux(flux), psf], gsparams=_GSPARAMS), size


def render_sources(
    sources: pd.DataFrame, wcs: WCS, band: str, fwhm_arcsec: float, shape_xy: tuple[int, int] = FRAME_SHAPE_XY
) -> np.ndarray:
    """Noiseless image (nanomaggies per pixel, FITS row order) of ``sources`` in ``band``.

    Source positions come from ``wcs`` (astropy, 0-based pixels); GalSim's 1-based pixel
    centres are those plus one. ``shape_xy`` is the image's (width, height): a whole frame
    by default.
    """
    width, height = shape_xy
    image = np.zeros((height, width), dtype=np.float64)
    if len(sources) == 0:
        return image.astype(np.float32)
    xs, ys = wcs.all_world2pix(sources["ra"].to_numpy(), sources["dec"].to_numpy(), 0)
    psf = galsim.Moffat(beta=3.5, fwhm=fwhm_arcsec, gsparams=_GSPARAMS)
    fwhm_px = fwhm_arcsec / PIXEL_ARCSEC
    fluxes = pogson_mag_to_flux(sources[band].to_numpy())  # true magnitudes are Pogson
    for row, x, y, flux in zip(sources.itertuples(index=False), xs, ys, fluxes):
        prof, size = _profile(row, float(flux), psf)
        x0 = int(np.floor(x)) - size // 2
        y0 = int(np.floor(y)) - size // 2
        if x0 + size <= 0 or y0 + size <= 0 or x0 >= width or y0 >= height:
            continue
        stamp = galsim.ImageD(galsim.BoundsI(x0 + 1, x0 + size, y0 + 1, y0 + size), scale=PIXEL_ARCSEC)
        prof.drawImage(image=stamp, center=galsim.PositionD(x + 1.0, y + 1.0))
        if row.hlr_arcsec <= 0:
            yy, xx = np.mgrid[y0 : y0 + size, x0 : x0 + size]
            stamp.array[:] += psf_wing(xx - x, yy - y, float(flux), fwhm_px)
        xa, xb = max(x0, 0), min(x0 + size, width)
        ya, yb = max(y0, 0), min(y0 + size, height)
        image[ya:yb, xa:xb] += stamp.array[ya - y0 : yb - y0, xa - x0 : xb - x0]
    point = (sources["hlr_arcsec"].to_numpy() <= 0) & (sources[band].to_numpy() < SPIKE_R_MAX)
    for x, y, flux in zip(xs[point], ys[point], fluxes[point]):
        add_diffraction_spikes(image, float(x), float(y), float(flux), fwhm_px)
    return image.astype(np.float32)


def add_diffraction_spikes(image: np.ndarray, x: float, y: float, flux: float, fwhm_px: float) -> None:
    """Add the four diffraction spikes of a star at (x, y) (0-based pixels) of ``flux``
    (nanomaggies) to ``image`` in place: arms along the rows and columns, Gaussian across
    (the PSF core's width), falling as 1 / (1 + d / 3 px)^2 along, as long as the arm stays
    above ~1e-6 of the flux per pixel."""
    height, width = image.shape
    length = int(np.clip(20 * np.sqrt(flux / 100.0), 10, 600))
    d = np.arange(1, length + 1, dtype=np.float64)
    along = 1.0 / (1.0 + d / 3.0) ** 2
    along *= SPIKE_FRACTION / 4 * flux / along.sum()
    sigma = fwhm_px / 2.355
    half = int(np.ceil(3 * sigma))
    for axis in (0, 1):
        centre = y if axis == 1 else x  # across-arm coordinate
        offsets = np.arange(-half, half + 1)
        across_idx = int(round(centre)) + offsets
        across = np.exp(-0.5 * ((across_idx - centre) / sigma) ** 2)
        across /= across.sum()
        for sign in (-1, 1):
            along_pos = (x if axis == 1 else y) + sign * d
            ia = np.round(along_pos).astype(int)
            limit = width if axis == 1 else height
            ok_a = (ia >= 0) & (ia < limit)
            ok_c = (across_idx >= 0) & (across_idx < (height if axis == 1 else width))
            if not ok_a.any() or not ok_c.any():
                continue
            block = np.outer(across[ok_c], along[ok_a])
            if axis == 1:  # a horizontal arm: rows across, columns along
                image[np.ix_(across_idx[ok_c], ia[ok_a])] += block
            else:
                image[np.ix_(ia[ok_a], across_idx[ok_c])] += block.T


def calib_vector(rng: np.random.Generator, calib: float) -> np.ndarray:
    """Per-column calibration (nanomaggies per count): a smooth flat-field ripple of <= 1%."""
    x = np.linspace(0, 1, FRAME_SHAPE_XY[0])
    a, b, phase = rng.uniform(-0.004, 0.004), rng.uniform(-0.003, 0.003), rng.uniform(0, 2 * np.pi)
    return (calib * (1 + a * (x - 0.5) + b * np.sin(2 * np.pi * x + phase))).astype(np.float32)


def add_sky_noise(
    image_nmgy: np.ndarray, cond: BandConditions, calib: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Sky-subtracted noisy image in nanomaggies: Poisson noise of sky + sources in electrons."""
    counts = image_nmgy / calib[None, :] + cond.sky_counts
    # Uniform dither of one electron: the ADC digitises counts, not electrons, and without it
    # the integer Poisson draws bias the sky median low at u's low counts.
    electrons = rng.poisson(np.clip(counts, 0, None) * cond.gain) + rng.uniform(-0.5, 0.5, counts.shape)
    observed = bleed_saturated(electrons / cond.gain, FULL_WELL_COUNTS * rng.uniform(0.97, 1.03))
    # Real sky-subtracted frames keep a small positive residual (light of undetected faint
    # sources and sky-fit bias): a few percent of the rms.
    residual = rng.uniform(0.04, 0.09) * cond.sky_rms_nmgy
    return ((observed - cond.sky_counts) * calib[None, :] + residual).astype(np.float32)


def bleed_saturated(counts: np.ndarray, full_well: float) -> np.ndarray:
    """Clip ``counts`` (rows x columns) at ``full_well`` and move each column's excess charge
    along the column: half up, half down from each saturated run, filling pixels to the full
    well (the bleed trails of saturated SDSS stars; charge is conserved within the frame)."""
    over = counts > full_well
    if not over.any():
        return counts
    out = counts.copy()
    height = counts.shape[0]
    for col in np.unique(np.nonzero(over)[1]):
        column = out[:, col]
        rows = np.nonzero(column > full_well)[0]
        excess = float((column[rows] - full_well).sum())
        column[rows] = full_well
        lo, hi = int(rows.min()), int(rows.max())
        for direction, start in ((-1, lo - 1), (1, hi + 1)):
            left = excess / 2
            row = start
            while left > 0 and 0 <= row < height:
                room = full_well - column[row]
                if room > 0:
                    take = min(room, left)
                    column[row] += take
                    left -= take
                row += direction
    return out


def add_artefacts(image_nmgy: np.ndarray, cond: BandConditions, rng: np.random.Generator, trail=None) -> None:
    """Light no catalogue source stands for, added in place to a noiseless band image:
    a few residual cosmic rays (short, sharp, one band only) and, when ``trail`` is given
    as (x0, y0, angle), a satellite trail (a PSF-wide line of a few sigma)."""
    height, width = image_nmgy.shape
    rms = cond.sky_rms_nmgy
    for _ in range(rng.poisson(3)):
        x, y = rng.uniform(0, width - 1), rng.uniform(0, height - 1)
        length, angle = rng.uniform(1, 8), rng.uniform(0, np.pi)
        t = np.linspace(0, length, int(length * 2) + 2)
        xi = np.clip(np.round(x + t * np.cos(angle)).astype(int), 0, width - 1)
        yi = np.clip(np.round(y + t * np.sin(angle)).astype(int), 0, height - 1)
        image_nmgy[yi, xi] += rng.uniform(10, 200) * rms
    if trail is not None:
        x0, y0, angle = trail
        yy, xx = np.mgrid[0:height, 0:width]
        dist = np.abs((xx - x0) * np.sin(angle) - (yy - y0) * np.cos(angle))
        sigma = cond.fwhm_arcsec / PIXEL_ARCSEC / 2.355
        image_nmgy += (rng.uniform(3, 15) * rms * np.exp(-0.5 * (dist / sigma) ** 2)).astype(image_nmgy.dtype)
