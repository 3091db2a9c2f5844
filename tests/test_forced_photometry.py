"""The catalogue's own r photometry (`yl8c4net.catalog.photometry`) on a real frame, against
SDSS's PSF fluxes of the calibObj stars of 4510/4/30."""

import numpy as np
import pandas as pd
import pytest

from conftest import SHARED_SAS, needs_shared
from yl8c4net.catalog.photometry import BLENDED, EDGE, NO_R_FRAME, forced_r_photometry, without_r_frame
from yl8c4net.sdss.fields import FieldId


@pytest.fixture(scope="module")
def frame_and_stars(tmp_path_factory):
    from astropy.table import Table

    from yl8c4net.sdss.fetch import fetch_field
    from yl8c4net.sdss.frames import read_frame
    from yl8c4net.sdss.source import MirrorSource

    tmp = tmp_path_factory.mktemp("frame")
    manifest = fetch_field(FieldId(4510, 4, 30), MirrorSource(SHARED_SAS), ["r"], tmp, use_official_jpeg=False)
    frame = read_frame(tmp / manifest["frames"]["r"]["file"])
    stars = Table.read(SHARED_SAS / "dr17/eboss/sweeps/dr13_final/301/calibObj-004510-4-star.fits.gz")
    stars = stars[stars["FIELD"] == 30]
    x, y = frame.wcs.all_world2pix(stars["RA"], stars["DEC"], 0)
    table = pd.DataFrame(
        {
            "x": x,
            "y": y,
            "psf_flux": np.asarray(stars["PSFFLUX"][:, 2], float),
            "psf_ivar": np.asarray(stars["PSFFLUX_IVAR"][:, 2], float),
        }
    )
    return frame, table


@needs_shared
def test_forced_aperture_flux_follows_sdss_psf_fluxes_with_honest_errors(frame_and_stars):
    frame, stars = frame_and_stars
    out = forced_r_photometry(stars, frame.image, frame.calib, frame.sky, camcol=4, radius_arcsec=2.0)
    clean = (out["phot_flags"] == 0) & (out["psf_flux"] > 0)
    r_psf = 22.5 - 2.5 * np.log10(out["psf_flux"].clip(lower=1e-3))
    bright = clean & (r_psf < 20)
    faint = clean & (r_psf >= 20) & (r_psf < 22)
    assert bright.sum() >= 30 and faint.sum() >= 40
    # A 2" aperture holds ~95 % of a star's light: the same share for every bright star.
    ratio = out["flux_r"][bright] / out["psf_flux"][bright]
    assert 0.90 < ratio.median() < 1.0
    assert (ratio - ratio.median()).abs().median() < 0.03
    # Faint stars: the differences are of the size the errors say (a pull spread of ~1).
    combined = np.hypot(out["flux_err_r"][faint], 1 / np.sqrt(out["psf_ivar"][faint]))
    pull = (out["flux_r"][faint] - 0.95 * out["psf_flux"][faint]) / combined
    assert 0.7 < pull.std() < 2.0
    # Asinh magnitudes agree with Pogson ones for bright stars; S/N rises with flux.
    np.testing.assert_allclose(out["mag_r"][bright], 22.5 - 2.5 * np.log10(out["flux_r"][bright]), atol=0.002)
    assert out["snr_r"][bright].median() > 5 * out["snr_r"][faint].median()


@needs_shared
def test_blank_sky_gives_zero_flux_finite_magnitudes_and_flags(frame_and_stars):
    frame, _ = frame_and_stars
    from scipy.ndimage import uniform_filter

    smooth = np.abs(uniform_filter(frame.image.astype(float), 25))[200:-200, 200:-200]
    blank_y, blank_x = np.unravel_index(np.argmin(smooth), smooth.shape)
    rows = pd.DataFrame({"x": [blank_x + 200.0, 5.0, 1000.0, 1002.0], "y": [blank_y + 200.0, 700.0, 700.0, 700.0]})
    out = forced_r_photometry(rows, frame.image, frame.calib, frame.sky, camcol=4)
    assert abs(out["snr_r"].iloc[0]) < 3  # nothing there
    assert 23.5 < out["mag_r"].iloc[0] < 26.5 and np.isfinite(out["mag_err_r"]).all()  # a luptitude stays finite
    assert out["phot_flags"].tolist()[:2] == [0, EDGE]
    assert out["phot_flags"].iloc[2] & BLENDED and out["phot_flags"].iloc[3] & BLENDED  # centres 2 px apart
    lean = without_r_frame(rows)
    assert lean["flux_r"].isna().all() and (lean["phot_flags"] == NO_R_FRAME).all()
