"""The catalogue's own r photometry (`yl8c4net.catalog.photometry`) on a real frame, against
SDSS's PSF fluxes of the calibObj stars of 4510/4/30."""

import numpy as np
import pandas as pd
import pytest

from conftest import SHARED_SAS, needs_shared, real_frame_path
from yl8c4net.catalog.photometry import (
    BLENDED,
    EDGE,
    NEAR_BRIGHT,
    NO_R_FRAME,
    SATURATED,
    forced_r_photometry,
    without_r_frame,
)
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
            "photo_saturated": (np.asarray(stars["FLAGS"][:, 2]) & (1 << 18)) != 0,
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


@needs_shared
def test_saturated_star_and_its_neighbours_are_flagged_on_a_real_frame():
    """1035/6/17 holds a saturated star at (1855, 1245): SDSS interpolated its core (no pixel
    there is near the full well), but its bleed trail is inside the star's box."""
    from yl8c4net.sdss.frames import read_frame

    frame = read_frame(real_frame_path(1035, 6, 17, "r"))
    per_arcsec = 1 / 0.396
    rows = pd.DataFrame(
        {
            "x": [1855.0, 1855.0 + 20 * per_arcsec, 1855.0 + 45 * per_arcsec, 1000.0],
            "y": [1245.0, 1245.0, 1245.0, 700.0],
            "w": [40.0, 10.0, 10.0, 10.0],
            "h": [40.0, 10.0, 10.0, 10.0],
        }
    )
    out = forced_r_photometry(rows, frame.image, frame.calib, frame.sky, camcol=6)
    flags = out["phot_flags"].to_numpy()
    assert flags[0] & SATURATED and not flags[0] & NEAR_BRIGHT
    assert flags[1] & NEAR_BRIGHT and not flags[1] & SATURATED  # 20" away: inside the 30" default
    assert not flags[2] & (NEAR_BRIGHT | SATURATED) and not flags[3] & (NEAR_BRIGHT | SATURATED)
    # The core alone (a box smaller than the trail's offset) does not reach the level: the
    # flag rests on the bleed trail, 13 pixels down the column.
    core = forced_r_photometry(rows.iloc[:1].assign(w=10.0, h=10.0), frame.image, frame.calib, frame.sky, camcol=6)
    assert not core["phot_flags"].iloc[0] & SATURATED
    # The radius and the magnitude are settings.
    wide = forced_r_photometry(rows, frame.image, frame.calib, frame.sky, camcol=6, near_bright_radius_arcsec=60.0)
    assert wide["phot_flags"].iloc[2] & NEAR_BRIGHT
    none = forced_r_photometry(
        rows, frame.image, frame.calib, frame.sky, camcol=6, saturation_counts=1e6, near_bright_mag_r=5.0
    )
    assert not (none["phot_flags"].to_numpy() & (SATURATED | NEAR_BRIGHT)).any()


@needs_shared
def test_no_unsaturated_calibobj_star_is_flagged_saturated(frame_and_stars):
    """4510/4/30's calibObj stars in 15-pixel boxes. PHOTO flags 4 of them SATURATED in r
    (r 11.8-14.7); their cores are interpolated in the frame and no bleed trail reaches the
    level, so the frame alone does not flag them: a matched row takes the flag from
    PhotoObjAll (`crossmatch_photoobj`). None of the others may be flagged."""
    frame, stars = frame_and_stars
    rows = stars.assign(w=15.0, h=15.0)
    rows = rows[rows["x"].between(0, 2047) & rows["y"].between(0, 1488)]
    out = forced_r_photometry(rows, frame.image, frame.calib, frame.sky, camcol=4)
    unsaturated = ~out["photo_saturated"]
    assert unsaturated.sum() > 100 and out["photo_saturated"].sum() >= 3
    assert not (out["phot_flags"][unsaturated].to_numpy() & SATURATED).any()


def test_rows_of_fields_without_flux_verification_say_so(tmp_path):
    """The detect step records ``verify_min_snr`` in a detections file only when it verified
    the boxes; the classify step flags the detector's rows of the other fields."""
    from yl8c4net.catalog.photometry import NOT_VERIFIED, flag_unverified
    from yl8c4net.classify.field import detections_verified
    from yl8c4net.detect.infer import write_detections

    rows = pd.DataFrame({"x": [10.0, 20.0], "tile": [3, -1], "phot_flags": np.array([EDGE, 0], np.int16)})
    write_detections(rows, tmp_path / "verified.parquet", "0" * 64, {"verify_min_snr": 5.0})
    write_detections(rows, tmp_path / "lean.parquet", "0" * 64, {"verify_min_snr": None})
    write_detections(rows, tmp_path / "off.parquet", "0" * 64, {})
    assert detections_verified(tmp_path / "verified.parquet")
    assert not detections_verified(tmp_path / "lean.parquet") and not detections_verified(tmp_path / "off.parquet")
    assert flag_unverified(rows, True)["phot_flags"].tolist() == [EDGE, 0]
    # The complement's row (tile -1) is a segment of the r frame: significant by construction.
    assert flag_unverified(rows, False)["phot_flags"].tolist() == [EDGE | NOT_VERIFIED, 0]


@needs_shared
@pytest.mark.parametrize("band", ["u", "g", "i", "z"])
def test_other_bands_are_measured_in_the_same_aperture_through_the_wcs(frame_and_stars, band):
    """4510/4/30's calibObj stars on the u, g, i, z frames: the r centroids carried through
    the two WCSs land on the stars (the same share of their PSF flux as in r, ~0.95), with
    errors of the right size from that band's CCD gain and dark variance."""
    from astropy.table import Table

    from yl8c4net.catalog.photometry import forced_band_photometry
    from yl8c4net.sdss.frames import read_frame

    frame, _ = frame_and_stars
    stars = Table.read(SHARED_SAS / "dr17/eboss/sweeps/dr13_final/301/calibObj-004510-4-star.fits.gz")
    stars = stars[stars["FIELD"] == 30]
    k = "ugriz".index(band)
    x, y = frame.wcs.all_world2pix(stars["RA"], stars["DEC"], 0)
    rows = pd.DataFrame({"x": x, "y": y})
    isolated = (forced_r_photometry(rows, frame.image, frame.calib, frame.sky, camcol=4)["phot_flags"] == 0).to_numpy()
    out = forced_band_photometry(rows, read_frame(real_frame_path(4510, 4, 30, band)), frame.wcs, band, 4, 4510)
    psf = np.asarray(stars["PSFFLUX"][:, k], float)
    ivar = np.asarray(stars["PSFFLUX_IVAR"][:, k], float)
    flux, err = out[f"flux_{band}"].to_numpy(), out[f"flux_err_{band}"].to_numpy()
    good = isolated & np.isfinite(flux) & (ivar > 0) & (psf > 0)
    mag = 22.5 - 2.5 * np.log10(np.where(psf > 0, psf, 1e-3))
    bright, faint = good & (mag < 19.5), good & (mag >= 19.5) & (mag < 22.5)
    assert bright.sum() >= 10 and faint.sum() >= 25
    ratio = np.median(flux[bright] / psf[bright])
    assert 0.88 < ratio < 1.0
    pull = (flux[faint] - ratio * psf[faint]) / np.hypot(err[faint], 1 / np.sqrt(ivar[faint]))
    assert 0.5 < pull.std() < 2.5
    np.testing.assert_allclose(out[f"mag_{band}"][bright], 22.5 - 2.5 * np.log10(flux[bright]), atol=0.01)
    # A centre that falls off the band's frame gets NaN, not a partial sum.
    off = forced_band_photometry(
        pd.DataFrame({"x": [-400.0], "y": [700.0]}),
        read_frame(real_frame_path(4510, 4, 30, band)),
        frame.wcs,
        band,
        4,
        4510,
    )
    assert off.isna().all(axis=None)


def test_ccd_noise_tables_follow_the_run_boundaries():
    from yl8c4net.sdss.frames import R_DARK_VARIANCE, R_GAIN, ccd_dark_variance, ccd_gain

    assert [ccd_gain("r", c, 4510) for c in range(1, 7)] == list(R_GAIN)
    assert [ccd_dark_variance("r", c, 94) for c in range(1, 7)] == list(R_DARK_VARIANCE)
    assert ccd_gain("u", 2, 1000) == 1.595 and ccd_gain("u", 2, 4510) == 1.825
    assert ccd_dark_variance("z", 4, 1035) == 9.61 and ccd_dark_variance("z", 4, 4510) == 12.6025


@needs_shared
def test_a_field_measures_the_bands_it_fetched_and_leaves_the_others_empty(tmp_path):
    from yl8c4net.catalog.photometry import BAND_COLUMNS
    from yl8c4net.classify.field import FieldClassification
    from yl8c4net.sdss.fetch import fetch_field
    from yl8c4net.sdss.frames import read_frame
    from yl8c4net.sdss.source import MirrorSource

    fid = FieldId(4510, 4, 30)
    manifest = fetch_field(fid, MirrorSource(SHARED_SAS), ["r", "g"], tmp_path, use_official_jpeg=False)
    (tmp_path / "manifest.json").write_text(__import__("json").dumps(manifest))
    frame = read_frame(tmp_path / manifest["frames"]["r"]["file"])
    rows = pd.DataFrame({"x": [500.0, 1200.0], "y": [400.0, 900.0]})
    classify = FieldClassification(model=None, norm=None, files={}, centroid_window_fwhm_arcsec=1.4)
    out = classify._other_bands(rows, tmp_path / "manifest.json", frame.wcs, fid)
    assert list(out.columns) == ["x", "y", *BAND_COLUMNS]
    assert out[["flux_g", "flux_err_g", "mag_g", "mag_err_g"]].notna().all(axis=None)
    assert out[[c for c in BAND_COLUMNS if not c.endswith("_g")]].isna().all(axis=None)
