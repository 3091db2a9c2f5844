"""Rendering simulated frames with GalSim: noiseless source images in nanomaggies, then
SDSS-like sky and Poisson noise in counts through a per-column calibration vector.
"""

from __future__ import annotations

from dataclasses import dataclass

import galsim
import numpy as np
import pandas as pd
from astropy.wcs import WCS

from ..sdss.fields import BANDS, FRAME_SHAPE_XY

PIXEL_ARCSEC = 0.396
_GSPARAMS = galsim.GSParams(maximum_fft_size=16384)

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


def field_conditions(rng: np.random.Generator, fwhm_range=(1.0, 1.6), sky_scale_range=(0.8, 1.15)) -> dict:
    """Draw the five bands' conditions of one field: one seeing, one sky brightness factor."""
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


def mag_to_nmgy(mag):
    """Flux in nanomaggies of an AB-like SDSS magnitude (zero point 22.5)."""
    return 10.0 ** (-0.4 * (np.asarray(mag, float) - 22.5))


def _profile(row, flux: float, psf: galsim.GSObject) -> tuple[galsim.GSObject, int]:
    if row.hlr_arcsec <= 0:
        # Stamp big enough for the Moffat wings of bright stars.
        size = int(np.clip(48 + 24 * max(0.0, 20.0 - row.r), 48, 192))
        return psf.withFlux(flux), size
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
    fluxes = mag_to_nmgy(sources[band].to_numpy())
    for row, x, y, flux in zip(sources.itertuples(index=False), xs, ys, fluxes):
        prof, size = _profile(row, float(flux), psf)
        x0 = int(np.floor(x)) - size // 2
        y0 = int(np.floor(y)) - size // 2
        if x0 + size <= 0 or y0 + size <= 0 or x0 >= width or y0 >= height:
            continue
        stamp = galsim.ImageD(galsim.BoundsI(x0 + 1, x0 + size, y0 + 1, y0 + size), scale=PIXEL_ARCSEC)
        prof.drawImage(image=stamp, center=galsim.PositionD(x + 1.0, y + 1.0))
        xa, xb = max(x0, 0), min(x0 + size, width)
        ya, yb = max(y0, 0), min(y0 + size, height)
        image[ya:yb, xa:xb] += stamp.array[ya - y0 : yb - y0, xa - x0 : xb - x0]
    return image.astype(np.float32)


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
    # Real sky-subtracted frames keep a small positive residual (light of undetected faint
    # sources and sky-fit bias): a few percent of the rms.
    residual = rng.uniform(0.04, 0.09) * cond.sky_rms_nmgy
    return ((electrons / cond.gain - cond.sky_counts) * calib[None, :] + residual).astype(np.float32)
