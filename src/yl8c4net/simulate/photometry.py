"""What SDSS's photometric pipeline would report for a simulated source: model and PSF
magnitudes in every band with their errors, and the star/galaxy ``type`` decided the way
SDSS decides it, from the noisy magnitudes (never from the truth).

Magnitudes are SDSS asinh magnitudes (luptitudes, `yl8c4net.sdss.magnitudes`), as
PhotoObjAll's are: a source measured at or below zero flux gets a finite magnitude near the
band's limit (about 24.6 in r) and a finite error, not a placeholder.

Noise model (our choice; the paper is silent). Each band's model flux is measured over the
source's effective area (PSF plus galaxy), with the sky noise of the frame and a 1 % flux
floor for the photometric calibration; the reported error is that noise in magnitudes. The
PSF flux of a band catches the fraction of a galaxy's light inside the PSF and is measured
over the PSF's own area; its noise is correlated with the model flux's (they are fits to the
same pixels, coefficient `PSF_MODEL_CORRELATION` times the overlap of the two areas), so
the difference psfMag - modelMag of a faint star scatters as it does in SDSS, and stars
fainter than r ~ 21 are sometimes typed galaxies.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from yl8c4net.sdss.magnitudes import asinh_mag, asinh_mag_err, pogson_mag_to_flux
from yl8c4net.sdss.fields import BANDS
from yl8c4net.simulate.render import SEEING_RANGE_ARCSEC

PIXEL_ARCSEC = 0.396
#: SDSS types an object a galaxy (3) when psfMag - modelMag > 0.145 mag, else a star (6).
STAR_GALAXY_CUT_MAG = 0.145
#: Fractional flux error floor (SDSS's photometric calibration, ~1 %).
CALIBRATION_FLOOR = 0.01
#: Correlation of the PSF and model flux noise of a point source.
PSF_MODEL_CORRELATION = 0.7
#: The columns `measure_photometry` returns.
MEASURED_COLUMNS = (
    *BANDS,
    *(f"err_{b}" for b in BANDS),
    *(f"psfmag_{b}" for b in BANDS),
    *(f"psfmagerr_{b}" for b in BANDS),
    "type",
)


def psf_light_fraction(hlr_arcsec, fwhm_arcsec) -> np.ndarray:
    """Fraction of a source's light that a PSF fit catches (1 for a point source)."""
    return 1.0 / (1.0 + (2.0 * np.asarray(hlr_arcsec, float) / fwhm_arcsec) ** 2)


def _measured_mag(flux: np.ndarray, sigma: np.ndarray, band: str) -> tuple[np.ndarray, np.ndarray]:
    return asinh_mag(flux, band), asinh_mag_err(flux, sigma, band)


def measure_photometry(truth: pd.DataFrame, conds: dict, rng: np.random.Generator) -> pd.DataFrame:
    """Measured magnitudes of the sources in ``truth``.

    Parameters
    ----------
    truth : pandas.DataFrame
        True ``u g r i z`` magnitudes (AB-like, mag) and ``hlr_arcsec`` (galaxy half-light
        radius in arcsec, 0 for point sources).
    conds : dict
        Band -> `~yl8c4net.simulate.render.BandConditions` of the field.
    rng : numpy.random.Generator
        Noise source. The model magnitudes and the r PSF magnitude draw from it; the PSF
        magnitudes of the other bands draw from a child generator spawned from it, so that
        adding them left every other simulated quantity as it was.

    Returns
    -------
    pandas.DataFrame
        `MEASURED_COLUMNS`: ``u g r i z`` model magnitudes and their errors ``err_u`` ...
        ``err_z``, PSF magnitudes ``psfmag_u`` ... ``psfmag_z`` and their errors
        ``psfmagerr_u`` ..., all asinh magnitudes (mag), and ``type`` (3 galaxy, 6 star), in
        the rows' order.
    """
    hlr = truth["hlr_arcsec"].to_numpy(float)
    other_bands_rng = rng.spawn(1)[0]
    out = {}
    for b in BANDS:
        cond = conds[b]
        flux = pogson_mag_to_flux(truth[b].to_numpy())
        psf_area = np.pi * (cond.fwhm_arcsec / PIXEL_ARCSEC) ** 2
        model_area = psf_area + np.pi * (2 * hlr / PIXEL_ARCSEC) ** 2
        sigma_model = np.hypot(cond.sky_rms_nmgy * np.sqrt(model_area), CALIBRATION_FLOOR * flux)
        z_model = rng.normal(size=len(flux))
        out[b], out[f"err_{b}"] = _measured_mag(flux + sigma_model * z_model, sigma_model, b)
        psf_flux = flux * psf_light_fraction(hlr, cond.fwhm_arcsec)
        sigma_psf = np.hypot(cond.sky_rms_nmgy * np.sqrt(psf_area), CALIBRATION_FLOOR * psf_flux)
        rho = PSF_MODEL_CORRELATION * np.sqrt(psf_area / model_area)
        psf_rng = rng if b == "r" else other_bands_rng
        z_psf = rho * z_model + np.sqrt(1 - rho**2) * psf_rng.normal(size=len(flux))
        out[f"psfmag_{b}"], out[f"psfmagerr_{b}"] = _measured_mag(psf_flux + sigma_psf * z_psf, sigma_psf, b)
    df = pd.DataFrame({c: out[c] for c in MEASURED_COLUMNS if c != "type"})
    df["type"] = np.where(df["psfmag_r"] - df["r"] > STAR_GALAXY_CUT_MAG, 3, 6).astype(np.int16)
    return df


def photometry_training_table(
    seed: int,
    n_per_class: int,
    r_range: tuple[float, float] = (14.0, 22.8),
    fwhm_range: tuple[float, float] = SEEING_RANGE_ARCSEC,
    chunk: int = 500,
    colour_model=None,
    params=None,
) -> pd.DataFrame:
    """A class-balanced table of simulated PhotoObjAll measurements with their true class:
    the training set of the photometric classifier, drawn directly from the population
    model (no images).

    Every class gets ``n_per_class`` sources with r uniform in ``r_range`` (so r carries no
    class information: priors, including how they change with r, are the prior
    correction's job), colours from the colour model, galaxy sizes from the population's
    size-magnitude relation. Each ``chunk`` of sources is measured under its own field
    conditions, with seeing uniform in ``fwhm_range`` (arcsec, r band).

    Returns
    -------
    pandas.DataFrame
        ``class``, true ``r_true`` and ``hlr_arcsec``, and the columns of
        `measure_photometry`.
    """
    from yl8c4net.simulate.colours import CLASSES, colours_to_mags, load_colour_model
    from yl8c4net.simulate.population import PopulationParams, galaxy_half_light_radius, redden_galaxy_mags
    from yl8c4net.simulate.render import field_conditions

    colour_model = colour_model or load_colour_model()
    params = params or PopulationParams()
    rng = np.random.default_rng([seed, 7])
    parts = []
    for cls in CLASSES:
        r = rng.uniform(*r_range, n_per_class)
        mags = colours_to_mags(r, colour_model[cls].sample(rng, n_per_class))
        if cls == "GALAXY":
            mags = redden_galaxy_mags(mags, params)
        part = pd.DataFrame(mags, columns=list(BANDS)).assign(**{"class": cls, "r_true": r})
        part["hlr_arcsec"] = galaxy_half_light_radius(rng, r, params) if cls == "GALAXY" else 0.0
        parts.append(part)
    truth = pd.concat(parts, ignore_index=True)
    truth = truth.iloc[rng.permutation(len(truth))].reset_index(drop=True)
    measured = []
    for start in range(0, len(truth), chunk):
        rows = truth.iloc[start : start + chunk]
        measured.append(measure_photometry(rows, field_conditions(rng, fwhm_range=fwhm_range), rng))
    out = pd.concat(measured, ignore_index=True)
    return pd.concat([truth[["class", "r_true", "hlr_arcsec"]], out], axis=1)
