"""SDSS magnitudes from fluxes in nanomaggies: the one place the project converts them.

- Pogson magnitudes, ``m = 22.5 - 2.5 log10(f)`` (SDSS's calibration: 1 nanomaggy is
  m = 22.5), for positive fluxes;
- SDSS asinh magnitudes ("luptitudes", Lupton, Gunn & Szalay 1999), which PhotoObjAll's
  magnitudes are: ``m = -(2.5 / ln 10) [asinh((f / f0) / (2 b)) + ln b]`` with ``f0`` = 10^9
  nanomaggies and the softening ``b`` of each band (u g r i z: 1.4, 0.9, 1.2, 1.8, 7.4 x
  10^-10). They equal Pogson magnitudes for bright sources, stay finite at zero and negative
  flux (about 24.6 in r at f = 0), and their errors stay finite too.
"""

from __future__ import annotations

import numpy as np

#: Zero point: the Pogson magnitude of 1 nanomaggy.
NANOMAGGY_ZERO_POINT = 22.5
#: SDSS's asinh softening parameters b per band (Stoughton et al. 2002, table 21).
ASINH_SOFTENING = {"u": 1.4e-10, "g": 0.9e-10, "r": 1.2e-10, "i": 1.8e-10, "z": 7.4e-10}
_NMGY_PER_F0 = 1e9
_POGSON = 2.5 / np.log(10.0)


def pogson_mag(flux_nmgy, floor_nmgy: float | None = None, missing: float = np.inf) -> np.ndarray:
    """Pogson magnitudes of fluxes in nanomaggies.

    Parameters
    ----------
    flux_nmgy : array-like
        Fluxes (nanomaggies).
    floor_nmgy : float, optional
        Fluxes below it are raised to it first (a faint limit instead of ``missing``).
    missing : float
        The magnitude of a flux that is not positive (after the floor).
    """
    flux = np.asarray(flux_nmgy, float)
    if floor_nmgy is not None:
        flux = np.maximum(flux, floor_nmgy)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(flux > 0, NANOMAGGY_ZERO_POINT - 2.5 * np.log10(np.where(flux > 0, flux, 1.0)), missing)


def pogson_mag_to_flux(mag) -> np.ndarray:
    """Nanomaggies of Pogson magnitudes (the inverse of `pogson_mag`)."""
    return 10.0 ** (-0.4 * (np.asarray(mag, float) - NANOMAGGY_ZERO_POINT))


def pogson_mag_err(flux_nmgy, flux_err_nmgy) -> np.ndarray:
    """The error of a Pogson magnitude: (2.5 / ln 10) x the relative flux error (mag)."""
    flux = np.asarray(flux_nmgy, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(flux > 0, _POGSON * np.asarray(flux_err_nmgy, float) / np.abs(flux), np.inf)


def asinh_mag(flux_nmgy, band: str) -> np.ndarray:
    """SDSS asinh magnitudes (luptitudes) of fluxes in nanomaggies in ``band``."""
    b = ASINH_SOFTENING[band]
    x = np.asarray(flux_nmgy, float) / _NMGY_PER_F0
    return -_POGSON * (np.arcsinh(x / (2.0 * b)) + np.log(b))


def asinh_mag_err(flux_nmgy, flux_err_nmgy, band: str) -> np.ndarray:
    """The error of an SDSS asinh magnitude (mag), finite at any flux."""
    b = ASINH_SOFTENING[band]
    x = np.asarray(flux_nmgy, float) / _NMGY_PER_F0
    sigma = np.asarray(flux_err_nmgy, float) / _NMGY_PER_F0
    return _POGSON * sigma / (2.0 * b) / np.sqrt(1.0 + (x / (2.0 * b)) ** 2)


def asinh_mag_to_flux(mag, band: str) -> np.ndarray:
    """Nanomaggies of SDSS asinh magnitudes (the inverse of `asinh_mag`)."""
    b = ASINH_SOFTENING[band]
    return 2.0 * b * np.sinh(-np.asarray(mag, float) / _POGSON - np.log(b)) * _NMGY_PER_F0
