"""The project's magnitudes: Pogson and SDSS asinh magnitudes from nanomaggies."""

import numpy as np
import pytest

from yl8c4net.sdss.magnitudes import (
    ASINH_SOFTENING,
    asinh_mag,
    asinh_mag_err,
    asinh_mag_to_flux,
    pogson_mag,
    pogson_mag_err,
)


def test_pogson_zero_point_and_missing_fluxes():
    assert pogson_mag([1.0, 100.0])[0] == pytest.approx(22.5)
    assert pogson_mag([100.0])[0] == pytest.approx(17.5)
    assert np.isinf(pogson_mag([0.0, -1.0])).all()
    assert pogson_mag([-1.0], floor_nmgy=1e-3)[0] == pytest.approx(30.0)
    assert pogson_mag_err([10.0], [1.0])[0] == pytest.approx(2.5 / np.log(10) * 0.1)


@pytest.mark.parametrize("band", "ugriz")
def test_asinh_magnitudes_match_pogson_when_bright_and_stay_finite_at_zero(band):
    bright = np.array([1e2, 1e3, 1e4])
    assert np.allclose(asinh_mag(bright, band), pogson_mag(bright), atol=1e-4)
    zero = asinh_mag([0.0], band)[0]
    # SDSS's magnitude at zero flux: -2.5 log10(b) (e.g. 24.80 in r for b = 1.2e-10).
    assert zero == pytest.approx(-2.5 * np.log10(ASINH_SOFTENING[band]))
    assert np.isfinite(asinh_mag([-0.5], band)).all() and asinh_mag([-0.5], band)[0] > zero
    flux = np.array([-0.3, 0.0, 0.2, 5.0, 3e3])
    assert np.allclose(asinh_mag_to_flux(asinh_mag(flux, band), band), flux, atol=1e-9)
    err = asinh_mag_err(flux, np.full(5, 0.1), band)
    assert np.isfinite(err).all() and np.all(np.diff(err[1:]) < 0)  # brighter: smaller error


def test_r_band_softening_is_sdss():
    # Stoughton et al. 2002: m(f=0) in r is 24.80 mag.
    assert asinh_mag([0.0], "r")[0] == pytest.approx(24.80, abs=0.01)
