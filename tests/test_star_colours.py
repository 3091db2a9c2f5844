"""The simulator's star colours: extreme deconvolution, and the fit to SDSS's photometric
star catalogue (a calibObj sweep) that replaced the spectroscopic stars."""

import json
from importlib import resources

import numpy as np
import pytest

from conftest import SHARED_SAS, SHARED_SPECPHOTO_CSV
from yl8c4net.errors import CatalogValidationError
from yl8c4net.simulate.colours import CLASSES, fit_colour_model, load_colour_model, read_specphoto_csv
from yl8c4net.simulate.star_colours import colour_covariances, extreme_deconvolution, read_star_sweep

SWEEP = SHARED_SAS / "dr17/eboss/sweeps/dr13_final/301/calibObj-004510-4-star.fits.gz"
needs_sweep = pytest.mark.skipif(not SWEEP.is_file(), reason=f"real calibObj sweep not found at {SWEEP}")


def test_deconvolution_recovers_the_noise_free_mixture_and_leaves_contaminants_out():
    rng = np.random.default_rng(5)
    n = 4000
    true_cov = np.diag([0.04, 0.01, 0.01, 0.01])
    intrinsic = rng.multivariate_normal([1.2, 0.5, 0.2, 0.1], true_cov, n)
    # Heteroscedastic noise, larger than the intrinsic spread in u-g for many rows.
    errs = np.column_stack([rng.uniform(0.05, 0.4, n), *(rng.uniform(0.01, 0.05, n) for _ in range(4))])
    cov = colour_covariances(errs)
    noisy = intrinsic + np.array([rng.multivariate_normal(np.zeros(4), c) for c in cov])
    # 10 % contaminants from a known, fixed component far from the stars.
    contaminant = (np.array([0.2, 0.2, 0.1, 0.1]), np.diag([0.02, 0.02, 0.02, 0.02]))
    extra = rng.multivariate_normal(*contaminant, n // 9)
    x = np.vstack([noisy, extra])
    x_cov = np.vstack([cov, colour_covariances(np.full((len(extra), 5), 0.02))])
    weights, means, covs = extreme_deconvolution(
        x, x_cov, [1.0], [np.mean(noisy, axis=0)], [np.cov(noisy.T)], fixed=[contaminant], n_iter=100
    )
    assert weights[1] == pytest.approx(0.1, abs=0.015)
    np.testing.assert_allclose(means[0], [1.2, 0.5, 0.2, 0.1], atol=0.02)
    # The noisy spread in u-g is ~2x the true one; the deconvolved spread is the true one.
    assert np.var(noisy[:, 0]) > 1.8 * true_cov[0, 0]
    assert covs[0][0, 0] == pytest.approx(true_cov[0, 0], rel=0.15)


def test_colour_covariances_share_the_common_band():
    cov = colour_covariances(np.array([[0.1, 0.2, 0.03, 0.04, 0.05]]))[0]
    assert cov[0, 0] == pytest.approx(0.1**2 + 0.2**2)
    assert cov[0, 1] == pytest.approx(-(0.2**2)) and cov[1, 0] == cov[0, 1]
    assert cov[0, 2] == 0.0


def test_a_sweep_without_model_fluxes_is_refused(tmp_path):
    from astropy.table import Table

    path = tmp_path / "calibObj-000001-1-star.fits"
    Table({"RESOLVE_STATUS": [1], "FLAGS": [[0] * 5]}).write(path)
    with pytest.raises(CatalogValidationError, match="MODELFLUX"):
        read_star_sweep(path)


@needs_sweep
def test_photometric_stars_sit_off_the_quasar_locus_unlike_spectroscopic_ones():
    """Why the change: SDSS's spectroscopic stars lean towards the quasars' UV excess."""
    colours, r, _ = read_star_sweep(SWEEP)
    bright = (r > 14.5) & (r < 18.5)  # u errors ~0.02: the observed share is the true one
    model = load_colour_model()
    sample = model["STAR"].sample(np.random.default_rng(0), 40000)
    assert np.mean(colours[bright, 0] < 0.6) < 0.02
    assert np.mean(sample[:, 0] < 0.6) < 0.02
    assert np.median(sample[:, 1]) == pytest.approx(np.median(colours[(r > 14.5) & (r < 20.5), 1]), abs=0.1)
    if SHARED_SPECPHOTO_CSV.is_file():
        spec = read_specphoto_csv(SHARED_SPECPHOTO_CSV)
        stars = spec[spec["class"] == "STAR"]
        assert np.mean((stars["u"] - stars["g"]) < 0.6) > 0.03


@needs_sweep
@pytest.mark.skipif(not SHARED_SPECPHOTO_CSV.is_file(), reason=f"{SHARED_SPECPHOTO_CSV} not found")
def test_the_shipped_colour_model_is_the_documented_refit():
    refit = fit_colour_model(SHARED_SPECPHOTO_CSV, star_sweep=SWEEP)
    shipped = json.loads(resources.files("yl8c4net.simulate").joinpath("data/colour_model.json").read_text())
    for cls in CLASSES:
        for key in ("weights", "means"):
            np.testing.assert_allclose(refit["classes"][cls][key], shipped["classes"][cls][key], atol=1e-5)
    assert shipped["classes"]["STAR"]["colours_from"]["source"] == SWEEP.name
    assert 0.0 < shipped["classes"]["STAR"]["colours_from"]["contaminant_weight"] < 0.1
