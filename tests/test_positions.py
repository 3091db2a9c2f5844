"""Measured positions (windowed centroids), field ownership of overlaps, one row per
object and the one-to-one PhotoObjAll crossmatch."""

import numpy as np
import pandas as pd
import pytest

from yl8c4net.catalog.build import MergeRule, crossmatch_photoobj, deduplicate, gather_run

from yl8c4net.catalog.sky import pixels_to_sky
from yl8c4net.images.labels import BoxTable
from yl8c4net.catalog.ownership import split_by_owner
from yl8c4net.catalog.positions import (
    CENTROID_BLEND_FIT,
    CENTROID_WINDOWED,
    refine_positions,
    window_sigma_px,
    windowed_centroids,
)
from conftest import SHARED_SAS, needs_shared, photoobj_table, real_frame_path

ARCSEC = 1 / 3600.0
PIXEL = 0.396


def _moffat_image(stars, shape=(200, 300), fwhm_px=3.5, noise=0.02, seed=0):
    """Sky-subtracted image with Moffat (beta 3.5) stars at (x, y, flux) and Gaussian noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    beta = 3.5
    alpha = fwhm_px / (2 * np.sqrt(2 ** (1 / beta) - 1))
    image = rng.normal(0, noise, shape)
    for x, y, flux in stars:
        r2 = (xx - x) ** 2 + (yy - y) ** 2
        profile = (1 + r2 / alpha**2) ** -beta
        image += flux * profile / profile.sum()
    return image


def test_windowed_centroid_recovers_a_star_from_an_offset_start():
    truth = [(100.3, 80.7, 50.0), (200.8, 120.2, 5.0)]
    image = _moffat_image(truth)
    xc, yc, ok = windowed_centroids(image, [101.8, 199.6], [79.5, 121.3], window_sigma_px(1.4), 6.0)
    assert ok.all()
    assert np.hypot(xc[0] - 100.3, yc[0] - 80.7) < 0.02  # S/N ~ 500
    assert np.hypot(xc[1] - 200.8, yc[1] - 120.2) < 0.15  # S/N ~ 50
    # No flux at the start: the start is kept and flagged.
    xc, yc, ok = windowed_centroids(np.zeros((50, 50)), [25.0], [25.0], 1.5, 6.0)
    assert not ok[0] and (xc[0], yc[0]) == (25.0, 25.0)


@pytest.fixture(scope="module")
def calibobj_field():
    from astropy.table import Table

    from yl8c4net.sdss.frames import read_frame

    frame = read_frame(real_frame_path(4510, 4, 30, "r"))
    stars = Table.read(SHARED_SAS / "dr17/eboss/sweeps/dr13_final/301/calibObj-004510-4-star.fits.gz")
    stars = stars[stars["FIELD"] == 30]
    x, y = frame.wcs.all_world2pix(stars["RA"], stars["DEC"], 0)
    r = 22.5 - 2.5 * np.log10(np.clip(np.asarray(stars["PSFFLUX"][:, 2]), 1e-3, None))
    inside = (x > 5) & (x < 2042) & (y > 5) & (y < 1483)
    return frame, np.asarray(x)[inside], np.asarray(y)[inside], r[inside]


@needs_shared
def test_centroids_on_a_real_frame_land_on_the_calibobj_stars(calibobj_field):
    """Starts 1 px (rms) off, as the detector's box centres are; the measured positions
    agree with SDSS's own (calibObj) within 0.1" median for r < 20, and with photutils'
    centroid_2dg."""
    from photutils.centroids import centroid_2dg, centroid_sources

    frame, x, y, r = calibobj_field
    rng = np.random.default_rng(3)
    x0, y0 = x + rng.normal(0, 1, len(x)), y + rng.normal(0, 1, len(x))
    det = pd.DataFrame({"x": x0, "y": y0, "w": 16.0, "h": 16.0})
    out = refine_positions(det, frame.image, 1.4)
    sky = pixels_to_sky(out, frame.wcs)
    tx, ty = frame.wcs.all_pix2world(x, y, 0)
    sep = np.hypot((sky["ra"] - tx) * np.cos(np.deg2rad(ty)), sky["dec"] - ty) * 3600
    box_sep = np.hypot(x0 - x, y0 - y) * PIXEL
    bright = (r < 20) & (out["centroid_flag"] == 0).to_numpy()
    assert bright.sum() >= 30
    assert np.median(sep[bright]) < 0.05 < np.median(box_sep[bright])
    assert (out["x_box"].to_numpy() == x0.astype(np.float32)).all()
    with np.errstate(all="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            gx, gy = centroid_sources(frame.image, x0[bright], y0[bright], box_size=11, centroid_func=centroid_2dg)
    assert np.median(np.hypot(gx - out["x"][bright], gy - out["y"][bright])) * PIXEL < 0.02


def _field_detections(xs, ys, sides, conf=None, field=11):
    n = len(xs)
    return pd.DataFrame(
        {
            "x": np.asarray(xs, float),
            "y": np.asarray(ys, float),
            "w": np.asarray(sides, float),
            "h": np.asarray(sides, float),
            "det_conf": conf if conf is not None else np.linspace(0.9, 0.5, n),
            "run": 9101,
            "camcol": 3,
            "field": field,
        }
    )


def _to_sky(det):
    # An equatorial frame: 0.396"/px, columns along dec, rows along ra (as SDSS's).
    return det.assign(ra=10 + det["y"] * PIXEL * ARCSEC, dec=det["x"] * PIXEL * ARCSEC)


def test_two_sources_1p5_arcsec_apart_stay_two_rows_and_a_double_box_is_one():
    sep_px = 1.5 / PIXEL
    side = float(
        BoxTable.from_config(
            {
                "r_edges": [14.0, 15.0, 16.0, 17.0, 18.0, 19.0, 20.0, 21.0, 22.2],
                "sides_px": [48, 40, 32, 26, 22, 18, 16, 14, 12],
            }
        ).side(np.array([18.5]))[0]
    )
    image = _moffat_image([(100.0, 100.0, 20.0), (100.0 + sep_px, 100.0, 20.0), (220.0, 60.0, 200.0)])
    # Two stars, each with its own box centred ~0.4 px off; a bright star with two boxes
    # (the detector's double box: 40 and 22 px, centres 0.75" apart).
    det = _field_detections(
        [
            100.4,
            100.0 + sep_px - 0.3,
            220.0,
            221.3,
        ],
        [99.7, 100.3, 60.0, 61.4],
        [side, side, 40.0, 22.0],
    )
    out = _to_sky(refine_positions(det, image, 1.4))
    # The close pair is fitted jointly (a windowed centroid would pull each towards the
    # other); the bright star's boxes are too big to be a blend of compact sources.
    assert out["centroid_flag"].tolist() == [CENTROID_BLEND_FIT] * 2 + [CENTROID_WINDOWED] * 2
    assert (
        np.hypot(out["x"] - [100.0, 100.0 + sep_px, 220.0, 220.0], out["y"] - [100.0, 100.0, 60.0, 60.0]).max() < 0.15
    )
    rows = deduplicate(out, MergeRule())
    assert len(rows) == 3
    assert rows.loc[rows["x"] > 150, "n_merged"].item() == 2
    # The box rule alone joins the double box even where the centres stay apart.
    apart = _to_sky(det.assign(x=[0, 100, 220.0, 222.5], y=[0, 100, 60.0, 61.0]))
    assert len(deduplicate(apart, MergeRule(0.5, 0.7, 0.15))) == 3
    assert len(deduplicate(apart, MergeRule(0.5, 0.7, 0.0))) == 4


def _overlap_pair():
    """One source seen by fields 11 (row 1400) and 12 (row 1400 - 1361 = 39), plus one
    source in each field's own rows."""
    a = _field_detections([500.0, 800.0], [1400.0, 700.0], [16, 16], field=11)
    b = _field_detections([500.2, 900.0], [39.1, 700.0], [16, 16], field=12)
    det = pd.concat([a, b], ignore_index=True)
    # Sky positions: field 12 starts 1361 rows further along the scan.
    rows_on_sky = det["y"] + (det["field"] - 11) * 1361
    return det.assign(ra=10 + rows_on_sky * PIXEL * ARCSEC, dec=det["x"] * PIXEL * ARCSEC)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_source_in_a_field_overlap_gives_one_row_from_its_owner_in_any_order(seed):
    det = _overlap_pair().sample(frac=1, random_state=seed).reset_index(drop=True)
    photo = photoobj_table(
        objid=[1, 2, 3],
        ra=_overlap_pair()["ra"].iloc[[0, 1, 3]].to_numpy(),
        dec=_overlap_pair()["dec"].iloc[[0, 1, 3]].to_numpy(),
        type=6,
        mode=1,
    )
    result = gather_run(det, photo, [], MergeRule(), 2.0, {(9101, 3, 11), (9101, 3, 12)})
    assert sorted(result.matched["objid"]) == [1, 2, 3]
    row = result.matched[result.matched["objid"] == 1]
    assert row["field"].item() == 11 and row["y"].item() == 1400.0  # field 11 owns rows < 1425
    assert result.duplicates["duplicate_reason"].tolist() == ["field_overlap"]
    assert result.duplicates["owner_field"].tolist() == [11]
    # Processing field 12 alone (field 11 quarantined): field 12 owns its first rows.
    only_12 = det[det["field"] == 12].reset_index(drop=True)
    result12 = gather_run(only_12, photo, [], MergeRule(), 2.0, {(9101, 3, 12)})
    assert sorted(result12.matched["objid"]) == [1, 3]
    # Field 11 catalogued but its detector missed the source: field 12's detection stands
    # (ownership never loses a source), and the result is the same in any order.
    missed = det[~((det["field"] == 11) & (det["y"] == 1400.0))].reset_index(drop=True)
    kept, aside = split_by_owner(missed, {(9101, 3, 11), (9101, 3, 12)})
    assert len(kept) == 3 and len(aside) == 0
    result_missed = gather_run(missed, photo, [], MergeRule(), 2.0, {(9101, 3, 11), (9101, 3, 12)})
    assert sorted(result_missed.matched["objid"]) == [1, 2, 3]
    assert result_missed.matched.loc[result_missed.matched["objid"] == 1, "field"].item() == 12


def test_crossmatch_is_one_to_one():
    photo = photoobj_table(objid=[7], ra=[10.0], dec=[0.0], type=6, mode=1)
    det = pd.DataFrame({"ra": [10.0, 10.0], "dec": [0.3 * ARCSEC, -1.0 * ARCSEC], "det_conf": [0.5, 0.9]})
    matched, unmatched = crossmatch_photoobj(det, photo, 2.0)
    assert matched["objid"].tolist() == [7] and matched["match_sep_arcsec"].item() == pytest.approx(0.3, abs=1e-3)
    assert unmatched["unmatched_reason"].tolist() == ["photoobj_taken"]
    # A second object near the second detection: both are matched, each to its own.
    photo2 = pd.concat([photo, photo.assign(objid=8, dec=-1.2 * ARCSEC)], ignore_index=True)
    matched, unmatched = crossmatch_photoobj(det, photo2, 2.0)
    assert sorted(matched["objid"]) == [7, 8] and len(unmatched) == 0
    # A primary object is preferred to a nearer secondary (the same source in the overlap).
    photo3 = pd.concat([photo.assign(mode=2), photo.assign(objid=9, dec=0.5 * ARCSEC)], ignore_index=True)
    matched, _ = crossmatch_photoobj(det.iloc[:1], photo3, 2.0)
    assert matched["objid"].tolist() == [9]
    far = pd.DataFrame({"ra": [11.0], "dec": [0.0], "det_conf": [0.5]})
    assert crossmatch_photoobj(far, photo, 2.0)[1]["unmatched_reason"].tolist() == ["no_photoobj"]


def test_catalogue_score_counts_repeats_pairs_completeness_and_position_error():
    from yl8c4net.catalog.quality import score_catalog

    truth = pd.DataFrame(
        {
            "ra": [10.0, 10.01, 10.02, 10.03, 10.03],
            "dec": 0.0,
            "r": [17.0, 19.0, 20.5, 21.5, 21.5],
            "class": ["STAR", "GALAXY", "QSO", "GALAXY", "GALAXY"],
            "objid": [1, 2, 3, -1, 4],
            "mode": [1, 1, 1, 1, 2],
        }
    )
    catalog = pd.DataFrame(
        {
            "ra": [10.0, 10.0 + 0.3 * ARCSEC, 10.01 + 0.1 * ARCSEC],
            "dec": 0.0,
            "objid": [1, 1, 2],
            "class": ["STAR", "STAR", "STAR"],
        }
    )
    unmatched = pd.DataFrame({"ra": [10.03], "dec": [0.0]})
    s = score_catalog(catalog, unmatched, truth)
    assert (s["rows"], s["unmatched_rows"], s["objid_twice"], s["pairs_lt_0p5"]) == (3, 1, 1, 1)
    assert s["by_r"]["12-18"]["completeness"] == 1.0 and s["by_r"]["20-21"]["completeness"] == 0.0
    assert s["by_r"]["21-22.2"] == {
        "n_truth": 1,
        "completeness": 1.0,
        "n_rows": 0,
        "position_error_median_arcsec": None,
        "class_accuracy": None,
    }
    assert s["by_r"]["18-20"]["position_error_median_arcsec"] == pytest.approx(0.1, abs=1e-3)
    assert s["class_accuracy"] == pytest.approx(2 / 3) and s["n_rows_r_lt_20"] == 3
