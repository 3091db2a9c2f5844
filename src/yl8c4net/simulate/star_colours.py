"""Colours of the sky's stars, fitted to SDSS's photometric star catalogue (a calibObj sweep).

Why not the spectroscopic stars of the SkyServer table: SDSS targeted many of its
spectroscopic stars as quasar candidates (UV-excess, blue horizontal-branch and white-dwarf
targets), so 4.5 % of them have u - g < 0.6, where quasars live, against about 1 % of the
point sources a photometric catalogue holds at r < 18; their median g - r is 0.43, against
0.74-1.2 for photometric stars at r 14.5-20.5 of a high-latitude field. A simulated sky with
spectroscopic star colours puts far too many stars on the quasar locus, which is what a
classifier must tell apart at a 1 % quasar share.

The fit is an extreme-deconvolution Gaussian mixture (Bovy, Hogg & Roweis 2011): every
star's colours carry their own error covariance (from the sweep's flux inverse variances),
so the mixture describes the colours before the noise, and the simulator adds its own noise.
The sweep's "stars" are point sources: some are quasars and compact galaxies. Those are
modelled by the spectroscopic QSO and GALAXY mixtures held fixed (only their weights are
fitted), so the star components do not take them in.

Hand-written: astroML's ``XDGMM`` has no fixed components and would be a dependency for one
offline fit; the EM updates below are the paper's equations.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from yl8c4net.sdss.magnitudes import pogson_mag, pogson_mag_err
from yl8c4net.errors import CatalogValidationError

#: calibObj FLAGS bits (photo's flags1) that make any band's flux unusable:
#: EDGE, PEAKCENTER, SATURATED, NOTCHECKED.
_BAD_FLAGS_ANY = (1 << 2) | (1 << 5) | (1 << 18) | (1 << 19)
#: flags1 bits bad in g, r, i (where a star is detected): NOPROFILE.
_BAD_FLAGS_GRI = 1 << 7
#: FLAGS2 bits bad in g, r, i: BAD_COUNTS_ERROR, INTERP_CENTER, DEBLEND_NOPEAK, PSF_FLUX_INTERP.
_BAD_FLAGS2_GRI = (1 << 8) | (1 << 12) | (1 << 14) | (1 << 15)
#: RESOLVE_STATUS bit RUN_PRIMARY: one entry per star of the run.
_RUN_PRIMARY = 1
#: Calibration floor added in quadrature to every magnitude error (mag).
CALIBRATION_FLOOR_MAG = 0.01


def read_star_sweep(path: str | Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Clean stars of a calibObj star sweep: colours, r and colour error covariances.

    Keeps run-primary entries with positive model fluxes and inverse variances in all five
    bands and no bad photometry flag (`_BAD_FLAGS_ANY`, `_BAD_FLAGS_GRI`,
    `_BAD_FLAGS2_GRI`), then drops rows with a colour more than 4 mag from the median.

    Returns
    -------
    colours : numpy.ndarray
        (n, 4) u-g, g-r, r-i, i-z of model magnitudes (mag).
    r : numpy.ndarray
        (n,) r model magnitude.
    cov : numpy.ndarray
        (n, 4, 4) colour error covariance (mag^2): neighbouring colours share a band, so
        their errors are anti-correlated.
    """
    from astropy.table import Table

    path = Path(path)
    try:
        t = Table.read(path)
    except (OSError, ValueError) as exc:
        raise CatalogValidationError(f"{path}: not a readable calibObj sweep ({exc})") from exc
    needed = ("RESOLVE_STATUS", "FLAGS", "FLAGS2", "MODELFLUX", "MODELFLUX_IVAR")
    missing = [c for c in needed if c not in t.colnames]
    if missing:
        raise CatalogValidationError(f"{path}: calibObj sweep lacks column(s) {missing}")
    flux = np.asarray(t["MODELFLUX"], float)
    ivar = np.asarray(t["MODELFLUX_IVAR"], float)
    if flux.ndim != 2 or flux.shape[1] != 5:
        raise CatalogValidationError(f"{path}: MODELFLUX has shape {flux.shape}, expected (n, 5) for ugriz")
    flags = np.asarray(t["FLAGS"], np.int64)
    flags2 = np.asarray(t["FLAGS2"], np.int64)
    ok = (np.asarray(t["RESOLVE_STATUS"], np.int64) & _RUN_PRIMARY) > 0
    ok &= np.all((flags & _BAD_FLAGS_ANY) == 0, axis=1)
    ok &= np.all((flags[:, 1:4] & _BAD_FLAGS_GRI) == 0, axis=1)
    ok &= np.all((flags2[:, 1:4] & _BAD_FLAGS2_GRI) == 0, axis=1)
    ok &= np.all((flux > 0) & (ivar > 0), axis=1)
    flux, ivar = flux[ok], ivar[ok]
    mags = pogson_mag(flux)
    errs = np.hypot(pogson_mag_err(flux, 1.0 / np.sqrt(ivar)), CALIBRATION_FLOOR_MAG)
    colours = -np.diff(mags, axis=1)
    sane = np.all(np.abs(colours - np.median(colours, axis=0)) < 4.0, axis=1)
    if sane.sum() < 100:
        raise CatalogValidationError(f"{path}: only {int(sane.sum())} clean stars; too few for a colour model")
    return colours[sane], mags[sane, 2], colour_covariances(errs[sane])


def colour_covariances(mag_errors: np.ndarray) -> np.ndarray:
    """(n, 4, 4) covariances of u-g, g-r, r-i, i-z from (n, 5) independent ugriz errors."""
    var = np.asarray(mag_errors, float) ** 2
    cov = np.zeros((len(var), 4, 4))
    for k in range(4):
        cov[:, k, k] = var[:, k] + var[:, k + 1]
        if k < 3:
            cov[:, k, k + 1] = cov[:, k + 1, k] = -var[:, k + 1]
    return cov


def _log_normal(x: np.ndarray, mean: np.ndarray, cov: np.ndarray) -> np.ndarray:
    """log N(x_i | mean, cov_i) for (n, d) x and (n, d, d) cov."""
    chol = np.linalg.cholesky(cov)
    z = np.linalg.solve(chol, (x - mean)[..., None])[..., 0]
    d = x.shape[1]
    return (
        -0.5 * (z**2).sum(axis=1)
        - np.log(np.diagonal(chol, axis1=1, axis2=2)).sum(axis=1)
        - 0.5 * d * np.log(2 * np.pi)
    )


def extreme_deconvolution(
    x: np.ndarray,
    x_cov: np.ndarray,
    weights: np.ndarray,
    means: np.ndarray,
    covariances: np.ndarray,
    fixed: tuple = (),
    n_iter: int = 200,
    regularisation: float = 1e-4,
):
    """Gaussian mixture of noisy data by extreme deconvolution (Bovy, Hogg & Roweis 2011).

    Parameters
    ----------
    x, x_cov : numpy.ndarray
        (n, d) data and (n, d, d) their error covariances.
    weights, means, covariances : numpy.ndarray
        Starting mixture (k,), (k, d), (k, d, d); ``means`` and ``covariances`` are updated.
    fixed : sequence of (mean, covariance)
        Extra components whose shapes stay as given (known contaminants); only their
        weights are fitted.
    n_iter : int
        EM iterations.
    regularisation : float
        Added to each covariance's diagonal per step (mag^2), so no component collapses.

    Returns
    -------
    weights : numpy.ndarray
        (k + len(fixed),) weights summing to 1; the fitted components first.
    means, covariances : numpy.ndarray
        The fitted components' (k, d) and (k, d, d), without the noise.
    """
    means = np.array(means, float)
    covariances = np.array(covariances, float)
    k = len(means)
    alpha = np.concatenate([np.asarray(weights, float), np.full(len(fixed), 0.01)])
    alpha /= alpha.sum()
    eye = np.eye(x.shape[1])
    for _ in range(n_iter):
        log_like = np.column_stack(
            [_log_normal(x, means[j], covariances[j] + x_cov) for j in range(k)]
            + [_log_normal(x, np.asarray(m, float), np.asarray(c, float) + x_cov) for m, c in fixed]
        ) + np.log(alpha)
        resp = np.exp(log_like - log_like.max(axis=1, keepdims=True))
        resp /= resp.sum(axis=1, keepdims=True)
        alpha = np.maximum(resp.mean(axis=0), 1e-8)
        alpha /= alpha.sum()
        for j in range(k):
            total = resp[:, j].sum()
            if total < 1e-3:  # an empty component keeps its shape
                continue
            gain = covariances[j] @ np.linalg.inv(covariances[j] + x_cov)  # (n, d, d)
            b = means[j] + np.einsum("nij,nj->ni", gain, x - means[j])
            big_b = covariances[j] - gain @ covariances[j]
            means[j] = resp[:, j] @ b / total
            db = b - means[j]
            covariances[j] = (
                np.einsum("n,nij->ij", resp[:, j], db[:, :, None] * db[:, None, :] + big_b) / total
                + regularisation * eye
            )
    return alpha, means, covariances


def fit_star_colours(
    sweep_path: str | Path,
    contaminants: dict,
    r_range: tuple[float, float] = (14.5, 20.5),
    n_components: int = 6,
    n_iter: int = 200,
    seed: int = 0,
) -> dict:
    """The STAR entry of the colour model, fitted to a calibObj star sweep.

    Parameters
    ----------
    sweep_path : path
        ``calibObj-{run}-{camcol}-star.fits.gz``.
    contaminants : dict
        ``{class: ClassColourModel}`` of the point-source classes that are not stars
        (QSO, GALAXY), held fixed in the fit.
    r_range : (float, float)
        r model magnitudes of the stars fitted. Fainter stars' u errors (> 0.3 mag) leave
        little to deconvolve, and the quasar share of point sources rises there; the
        simulator uses these colours at every r.
    n_components, n_iter, seed
        Mixture size, EM iterations, and the seed of the starting scikit-learn fit.
    """
    from sklearn.mixture import GaussianMixture

    colours, r, cov = read_star_sweep(sweep_path)
    sel = (r >= r_range[0]) & (r < r_range[1])
    start = GaussianMixture(n_components, covariance_type="full", random_state=seed).fit(colours[sel])
    fixed = [(m, c) for model in contaminants.values() for m, c in zip(model.means, model.covariances)]
    alpha, means, covariances = extreme_deconvolution(
        colours[sel], cov[sel], start.weights_, start.means_, start.covariances_, fixed=fixed, n_iter=n_iter
    )
    star_weights = alpha[:n_components] / alpha[:n_components].sum()
    return {
        "source": Path(sweep_path).name,
        "method": "extreme deconvolution, contaminant classes held fixed",
        "r_range": list(r_range),
        "n_rows": int(sel.sum()),
        "contaminant_weight": round(float(alpha[n_components:].sum()), 4),
        "weights": star_weights.round(6).tolist(),
        "means": means.round(6).tolist(),
        "covariances": covariances.round(8).tolist(),
    }
