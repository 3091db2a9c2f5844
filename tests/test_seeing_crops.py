"""Cut-outs at a common seeing (`yl8c4net.images.seeing`): the crop side follows the
field's PSF FWHM, measured the same way on simulated and real frames, so that a star is
the same size in every field's cut-outs; the reference travels with the checkpoint."""

import numpy as np
import pandas as pd
import pytest

from yl8c4net.images.seeing import CROP_SCALE_LIMITS, crop_scale, crop_settings, field_fwhm_arcsec
from yl8c4net.simulate.cutout_set import patch_wcs, render_cutout_set
from yl8c4net.simulate.render import FIT_FWHM_PER_PSF_FWHM, add_sky_noise, field_conditions, render_sources


def _star_field(fwhm_arcsec: float, seed: int, size: int = 500, n: int = 36):
    """A sky-subtracted r patch with ``n`` isolated stars of r 17-19 on a grid, and their positions."""
    rng = np.random.default_rng(seed)
    wcs = patch_wcs(230.0, 0.0, size)
    grid = np.linspace(40, size - 40, int(np.sqrt(n)))
    xs, ys = (a.ravel() + rng.uniform(-0.5, 0.5, n) for a in np.meshgrid(grid, grid))
    ra, dec = wcs.all_pix2world(xs, ys, 0)
    stars = pd.DataFrame(
        {"ra": ra, "dec": dec, "r": rng.uniform(17, 19, n), "hlr_arcsec": 0.0, "bulge_frac": 0.0, "g1": 0.0, "g2": 0.0}
    )
    conds = field_conditions(rng, fwhm_range=(fwhm_arcsec, fwhm_arcsec))
    clean = render_sources(stars, wcs, "r", conds["r"].fwhm_arcsec, (size, size))
    return add_sky_noise(clean, conds["r"], np.full(size, conds["r"].calib, np.float32), rng), xs, ys


@pytest.mark.parametrize("fwhm", [0.9, 1.5])
def test_the_simulators_psf_reads_as_the_constant_says_when_fitted_like_a_real_frame(fwhm):
    image, xs, ys = _star_field(fwhm, seed=int(fwhm * 10))
    measured = field_fwhm_arcsec(image, xs, ys)
    assert measured / fwhm == pytest.approx(FIT_FWHM_PER_PSF_FWHM, abs=0.03)


def test_too_few_isolated_sources_give_no_fwhm_and_the_reference_crop():
    image, xs, ys = _star_field(1.2, seed=1)
    assert np.isnan(field_fwhm_arcsec(image, xs[:3], ys[:3]))
    assert crop_scale(float("nan"), 1.3) == 1.0


def test_crop_scale_follows_the_seeing_within_its_limits():
    assert crop_scale(1.5, None) == 1.0  # no reference: the paper's magnitude boxes
    assert crop_scale(1.56, 1.3) == pytest.approx(1.2)
    assert crop_scale(0.2, 1.3) == CROP_SCALE_LIMITS[0]
    assert crop_scale(9.0, 1.3) == CROP_SCALE_LIMITS[1]
    assert crop_settings({"seeing_reference_arcsec": 1.3}) == 1.3
    assert crop_settings({}) is None  # a checkpoint from before the setting


def _star_width_px(cutouts: np.ndarray) -> np.ndarray:
    """Width at half maximum (cut-out pixels, from the area above half the peak) of the star
    at each cut-out's centre, on the r channel above its median."""
    r = cutouts[..., 1].astype(float)
    r = r - np.median(r, axis=(1, 2))[:, None, None]
    peak = r[:, 20:28, 20:28].max(axis=(1, 2))
    area = (r[:, 12:36, 12:36] > peak[:, None, None] / 2).sum(axis=(1, 2))
    return 2 * np.sqrt(area / np.pi)


def test_a_fields_crops_follow_its_seeing_so_its_stars_shrink_or_grow_by_the_crop_ratio():
    widths = {}
    for reference in (None, 1.3):
        for fwhm in (0.85, 1.55):
            images, table = render_cutout_set(
                seed=5,
                n_per_class=12,
                faint_fraction=1.0,
                faint_range=(19.5, 20.0),  # one magnitude box: 16 px
                fwhm_range=(fwhm, fwhm),
                seeing_reference_arcsec=reference,
            )
            expected = 1.0 if reference is None else FIT_FWHM_PER_PSF_FWHM * fwhm / reference
            assert table["crop_scale"].to_numpy() == pytest.approx(np.full(len(table), expected))
            widths[reference, fwhm] = float(np.median(_star_width_px(images[(table["class"] == "STAR").to_numpy()])))
    # In a fixed crop a broad field's star is much the larger.
    assert widths[None, 1.55] / widths[None, 0.85] > 1.25
    # Cropped at the field's seeing, each star grows or shrinks by the crop's ratio to the box.
    for fwhm in (0.85, 1.55):
        side = round(16 * FIT_FWHM_PER_PSF_FWHM * fwhm / 1.3)
        assert widths[1.3, fwhm] / widths[None, fwhm] == pytest.approx(16 / side, rel=0.08)
    assert widths[1.3, 0.85] > widths[1.3, 1.55]  # the asinh stretch widens the sharp field's brighter core


def test_a_field_is_classified_at_the_seeing_of_its_own_detections(caplog):
    from yl8c4net.classify.field import FieldClassification
    from yl8c4net.sdss.fields import FieldId

    image, xs, ys = _star_field(1.5, seed=2)
    fwhm = field_fwhm_arcsec(image, pd.Series(xs), pd.Series(ys))  # as the classify step calls it
    fid = FieldId(94, 1, 12)
    at_seeing = FieldClassification(None, None, {}, 1.0, seeing_reference_arcsec=1.3)
    assert at_seeing._seeing_scale(fwhm, False, fid) == pytest.approx(FIT_FWHM_PER_PSF_FWHM * 1.5 / 1.3, abs=0.04)
    assert FieldClassification(None, None, {}, 1.0)._seeing_scale(fwhm, False, fid) == 1.0
    # Lean mode fetches no r frame: the reference crop, said in the log.
    assert at_seeing._seeing_scale(float("nan"), True, fid) == 1.0
    assert "run 94 camcol 1 field 12: no r frame" in caplog.text


def test_positions_take_the_fwhm_the_classify_step_fitted():
    from yl8c4net.catalog.positions import CENTROID_BLEND_FIT, refine_positions

    image, xs, ys = _star_field(1.2, seed=3)
    # A copy of the first star 5 px to its right: a close pair, whose joint fit uses the FWHM.
    x0, y0 = int(round(xs[0])), int(round(ys[0]))
    image[y0 - 12 : y0 + 13, x0 - 7 : x0 + 18] += image[y0 - 12 : y0 + 13, x0 - 12 : x0 + 13]
    x = np.append(xs, xs[0] + 5)
    y = np.append(ys, ys[0])
    detections = pd.DataFrame({"x": x, "y": y, "w": 14.0, "h": 14.0})
    fitted_here = refine_positions(detections, image, 1.4)
    assert (fitted_here["centroid_flag"].iloc[[0, -1]] == CENTROID_BLEND_FIT).all()
    fwhm_px = field_fwhm_arcsec(image, detections["x"], detections["y"]) / 0.396
    given = refine_positions(detections, image, 1.4, fwhm_px=fwhm_px)
    np.testing.assert_allclose(given[["x", "y"]].to_numpy(), fitted_here[["x", "y"]].to_numpy(), atol=0.02)
    assert (given["centroid_flag"] == fitted_here["centroid_flag"]).all()
    # The value given is the one used: a PSF twice too broad moves the pair's fitted positions.
    too_broad = refine_positions(detections, image, 1.4, fwhm_px=2 * fwhm_px)
    assert np.abs(too_broad[["x", "y"]].to_numpy()[[0, -1]] - given[["x", "y"]].to_numpy()[[0, -1]]).max() > 0.05


def test_spectroscopic_cutouts_of_a_field_take_its_seeing_scale():
    from astropy.wcs import WCS

    from yl8c4net.images.cutouts import crop_cutouts, field_cutouts
    from yl8c4net.images.labels import BoxTable

    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (300, 400, 3), dtype=np.uint8)
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crpix, wcs.wcs.crval, wcs.wcs.cdelt = [200, 150], [30.0, 1.0], [-1.1e-4, 1.1e-4]
    ra, dec = wcs.all_pix2world([100.0, 250.0], [80.0, 200.0], 0)
    sources = pd.DataFrame({"ra": ra, "dec": dec, "r": [18.5, 21.5]})
    crops, table = field_cutouts(image, sources, wcs, crop_scale=1.5)
    sides = BoxTable().side(sources["r"]) * 1.5
    expected = crop_cutouts(image, table["x"].to_numpy(), table["y"].to_numpy(), sides)
    np.testing.assert_array_equal(crops, expected)
    assert not np.array_equal(crops, field_cutouts(image, sources, wcs)[0])


def test_magnitude_crop_sides_take_the_box_tables_side_of_each_rows_r_unless_it_is_unusable():
    from yl8c4net.classify.infer import magnitude_crop_sides
    from yl8c4net.images.labels import BoxTable

    table = BoxTable((18.0, 20.0, 22.2), (30, 20, 12))
    detections = pd.DataFrame({"w": [60.0, 15.0, 40.0, 25.0], "h": [50.0, 16.0, 44.0, 20.0]})
    mag_r = np.array([17.2, 21.5, np.nan, 19.0])
    usable = np.array([True, True, True, False])
    sides = magnitude_crop_sides(detections, mag_r, usable, table)
    # The galaxy-sized box of an r = 17.2 row gives way to its magnitude's 30 px; a row with
    # no magnitude or a saturated one keeps the detector's larger side.
    assert sides.tolist() == [30.0, 12.0, 44.0, 25.0]
