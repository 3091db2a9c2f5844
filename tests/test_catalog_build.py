"""The catalogue: deduplication, crossmatch, provenance, determinism, incremental runs."""

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from yl8c4net.catalog.build import crossmatch_photoobj, deduplicate, exclude_existing, gather_run

from yl8c4net.catalog.columns import CATALOG_COLUMNS

from yl8c4net.catalog.sky import is_sky_sorted, pixels_to_sky, sky_sort
from yl8c4net.catalog.files import read_provenance, write_catalog_parquet
from yl8c4net.sdss.frames import read_frame
from conftest import needs_shared, photoobj_table, real_frame_path

ARCSEC = 1 / 3600.0


def _det(ra, dec, conf, **extra):
    n = len(ra)
    base = {
        "ra": np.asarray(ra, float),
        "dec": np.asarray(dec, float),
        "det_conf": np.asarray(conf, float),
        "run": 1,
        "camcol": 1,
        "field": np.arange(n),
        "x": np.full(n, 1000.0),
        "y": np.full(n, 700.0),
    }
    base.update(extra)
    return pd.DataFrame(base)


def test_pairs_at_0p4_arcsec_merge_and_at_0p6_do_not():
    dec0 = 10.0
    det = _det([20.0, 20.0, 21.0, 21.0], [dec0, dec0 + 0.4 * ARCSEC, dec0, dec0 + 0.6 * ARCSEC], [0.5, 0.9, 0.5, 0.9])
    out = deduplicate(det, 0.5)
    assert len(out) == 3
    merged = out[out["ra"] == 20.0]
    assert len(merged) == 1 and merged["det_conf"].iloc[0] == 0.9 and merged["n_merged"].iloc[0] == 2
    assert sorted(out.loc[out["ra"] == 21.0, "n_merged"]) == [1, 1]
    # Along RA at high declination the separation shrinks with cos(dec): still in arcsec.
    det = _det([100.0, 100.0 + 0.4 * ARCSEC / np.cos(np.deg2rad(60))], [60.0, 60.0], [0.3, 0.2])
    assert len(deduplicate(det, 0.5)) == 1


def test_dedup_does_not_depend_on_row_order():
    rng = np.random.default_rng(0)
    ra = 10 + rng.random(500) * 0.5
    dec = rng.random(500) * 0.5
    det = _det(np.r_[ra, ra + 0.1 * ARCSEC], np.r_[dec, dec], np.r_[rng.random(500), rng.random(500)])
    a = deduplicate(det)
    b = deduplicate(det.sample(frac=1, random_state=3))
    pd.testing.assert_frame_equal(sky_sort(a), sky_sort(b))
    assert len(a) == 500 and (a["n_merged"] == 2).all()


def test_source_in_field_overlap_appears_once(sim_mirror):
    """A truth source in the 128 shared rows, detected in both fields, is one catalogue row."""
    from yl8c4net.sdss.fields import FieldId
    from yl8c4net.simulate.mirror import truth_relpath

    _, root = sim_mirror
    t11 = pd.read_parquet(root / truth_relpath(FieldId(9101, 3, 11)))
    t12 = pd.read_parquet(root / truth_relpath(FieldId(9101, 3, 12)))
    both = t11[t11["source_id"].isin(t12["source_id"]) & t11["y"].between(1362, 1487) & (t11["r"] < 21)]
    assert len(both) >= 5
    frames = {
        f: read_frame(root / f"dr17/eboss/photoObj/frames/301/9101/3/frame-r-009101-3-00{f}.fits.bz2").wcs
        for f in (11, 12)
    }
    dets = []
    for f, t in ((11, t11), (12, t12)):
        sel = t[t["source_id"].isin(both["source_id"])]
        # Detector boxes land within ~0.3 px of the truth centre.
        jitter = np.random.default_rng(f).normal(0, 0.3, (len(sel), 2))
        d = pd.DataFrame(
            {
                "x": sel["x"] + jitter[:, 0],
                "y": sel["y"] + jitter[:, 1],
                "det_conf": 0.8,
                "field": f,
                "run": 9101,
                "camcol": 3,
            }
        )
        dets.append(pixels_to_sky(d, frames[f]))
    out = deduplicate(pd.concat(dets, ignore_index=True), 0.5)
    assert len(out) == len(both) and (out["n_merged"] == 2).all()


def test_crossmatch_picks_the_nearest_and_keeps_the_unmatched():
    det = _det([30.0, 31.0], [0.0, 0.0], [0.9, 0.8])
    photo = photoobj_table(
        objid=[1, 2, 3],
        ra=[30.0 + 1.5 * ARCSEC, 30.0 + 0.7 * ARCSEC, 31.0 + 2.5 * ARCSEC],
        dec=[0.0, 0.0, 0.0],
        type=[3, 6, 6],
        mode=[1, 1, 1],
    )
    matched, unmatched = crossmatch_photoobj(det, photo, 2.0)
    assert matched["objid"].tolist() == [2]
    assert matched["match_sep_arcsec"].iloc[0] == pytest.approx(0.7, abs=1e-3)
    assert matched["photo_type"].iloc[0] == 6
    assert unmatched["ra"].tolist() == [31.0]  # 2.5" away: not matched, not dropped


def test_crossmatch_prefers_the_primary_row():
    det = _det([30.0], [0.0], [0.9])
    photo = photoobj_table(
        objid=[10, 11], ra=[30.0 + 0.2 * ARCSEC, 30.0 + 0.3 * ARCSEC], dec=[0.0, 0.0], type=[6, 6], mode=[2, 1]
    )
    matched, _ = crossmatch_photoobj(det, photo, 2.0)
    assert matched["objid"].tolist() == [11]


def test_matched_rows_carry_photoobjall_measurements_and_its_saturated_flag():
    """The skyserver fixture's PhotoObjAll answer: a matched row carries the object's model
    and PSF magnitudes with their errors and its flags; PhotoObjAll's SATURATED adds the
    catalogue's saturated bit to what the frame said; unmatched rows keep theirs."""
    from yl8c4net.catalog.photometry import BLENDED, SATURATED
    from yl8c4net.sdss.queries import PHOTO_FLAG_SATURATED, PHOTOOBJ_DTYPES, _rename, validate_table
    from yl8c4net.sdss.sql import PHOTOOBJ_COLUMNS

    from test_catalog import FIX

    raw = pd.read_csv(FIX / "photoobj_4510_4_30.csv", comment="#")
    photo = validate_table(_rename(raw, PHOTOOBJ_COLUMNS), PHOTOOBJ_DTYPES, "fixture")
    photo.loc[0, "flags"] |= PHOTO_FLAG_SATURATED
    det = _det(
        [photo["ra"][0], photo["ra"][1], photo["ra"][1] + 0.01],
        [photo["dec"][0], photo["dec"][1], photo["dec"][1]],
        [0.9, 0.8, 0.7],
        phot_flags=np.array([0, BLENDED, 0], np.int16),
    )
    matched, unmatched = crossmatch_photoobj(det, photo, 2.0)
    assert matched["objid"].tolist() == photo["objid"][:2].tolist()
    for col in ("psfmag_u", "psfmag_g", "psfmag_r", "psfmag_i", "psfmag_z", "err_u", "psfmagerr_z", "u"):
        np.testing.assert_array_equal(matched[col].to_numpy(), photo[col][:2].to_numpy())
    assert matched["photo_flags"].tolist() == photo["flags"][:2].tolist()
    assert matched["phot_flags"].tolist() == [SATURATED, BLENDED]
    assert unmatched["phot_flags"].tolist() == [0]
    assert {"psfmag_g", "psfmagerr_g", "err_g", "photo_flags"} <= set(CATALOG_COLUMNS)


@needs_shared
def test_wcs_round_trip_on_a_real_frame_within_0p01_arcsec():
    wcs = read_frame(real_frame_path(4510, 4, 30, "r")).wcs
    rng = np.random.default_rng(1)
    det = pd.DataFrame({"x": rng.uniform(0, 2047, 200), "y": rng.uniform(0, 1488, 200)})
    sky = pixels_to_sky(det, wcs)
    x, y = wcs.all_world2pix(sky["ra"], sky["dec"], 0)
    assert np.max(np.hypot(x - det["x"], y - det["y"])) * 0.396 < 0.01
    # And against astropy's own SkyCoord path.
    from astropy.wcs.utils import pixel_to_skycoord

    c = pixel_to_skycoord(det["x"], det["y"], wcs, origin=0)
    sep = c.separation(
        __import__("astropy.coordinates", fromlist=["SkyCoord"]).SkyCoord(sky["ra"], sky["dec"], unit="deg")
    )
    assert sep.arcsec.max() < 0.01


def _catalog_rows(n=50, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "ra": 10 + rng.random(n) * 0.2,
            "dec": rng.random(n) * 0.2,
            "objid": np.arange(n),
            "run": 9101,
            "rerun": 301,
            "camcol": 3,
            "field": 11,
            "x": rng.random(n) * 2048,
            "y": rng.random(n) * 1489,
            "box": 12.0,
            "det_conf": rng.random(n),
            "class": rng.choice(["GALAXY", "STAR", "QSO"], n),
            "p_galaxy": 0.2,
            "p_star": 0.3,
            "p_qso": 0.5,
            "class_image_only": False,
            "class_image": "QSO",
            "p_galaxy_image": 0.1,
            "p_star_image": 0.3,
            "p_qso_image": 0.6,
            "photo_type": 6,
            "u": 20.0,
            "g": 19.0,
            "r": 18.0,
            "i": 17.5,
            "z": 17.0,
            "match_sep_arcsec": 0.1,
            "n_merged": 1,
        }
    )


def test_two_builds_give_identical_data_and_provenance_is_recorded(tmp_path):
    rows = sky_sort(_catalog_rows())
    a = write_catalog_parquet(
        rows, tmp_path / "a.parquet", {"config_hash": "abc", "detector_sha256": ["d1"]}, CATALOG_COLUMNS
    )
    b = write_catalog_parquet(
        rows, tmp_path / "b.parquet", {"config_hash": "abc", "detector_sha256": ["d1"]}, CATALOG_COLUMNS
    )
    ta, tb = pq.read_table(a), pq.read_table(b)
    assert ta.equals(tb)
    assert list(ta.schema.names) == list(CATALOG_COLUMNS)
    assert ta.schema.field("ra").metadata[b"unit"] == b"deg"
    prov = read_provenance(a)
    assert prov["config_hash"] == "abc" and prov["detector_sha256"] == ["d1"] and "created" in prov
    dec = ta.column("dec").to_numpy()
    assert np.all(np.diff(np.floor((dec + 90) / 0.1)) >= 0)  # sorted by sky cell


def test_adding_an_overlapping_run_leaves_the_first_untouched(tmp_path):
    """Run A, then run B overlapping A's edge, equals building A and B at once; A's partition
    keeps its bytes and no source is in the catalogue twice."""
    rng = np.random.default_rng(5)
    ra = 10 + rng.random(400) * 0.2
    dec = rng.random(400) * 0.2
    in_a, in_b = dec < 0.12, dec > 0.08  # 0.04 deg of shared sky
    det_a = _det(ra[in_a], dec[in_a], rng.random(in_a.sum()), run=1)
    det_b = _det(ra[in_b] + rng.normal(0, 0.05, in_b.sum()) * ARCSEC, dec[in_b], rng.random(in_b.sum()), run=2)

    def build(runs, existing):
        out = []
        for det in runs:
            new, dup = exclude_existing(deduplicate(det), existing + out)
            out.append(new)
        return out

    part_a = build([det_a], [])[0]
    cols = {c: CATALOG_COLUMNS[c] for c in ("ra", "dec", "run", "det_conf", "n_merged")}
    path_a = write_catalog_parquet(sky_sort(part_a), tmp_path / "a.parquet", {}, columns=cols)
    bytes_before = path_a.read_bytes()
    part_b = build([det_b], [pd.read_parquet(path_a)])[0]
    at_once = build([det_a, det_b], [])
    pd.testing.assert_frame_equal(sky_sort(at_once[0]), sky_sort(part_a))
    assert len(part_b) < in_b.sum()  # the shared sky was deduplicated against A
    pd.testing.assert_frame_equal(sky_sort(at_once[1]), sky_sort(part_b))
    assert path_a.read_bytes() == bytes_before
    union = pd.concat([part_a, part_b], ignore_index=True)
    assert len(deduplicate(union)) == len(union) == 400


def test_gather_run_equals_the_steps_one_by_one_and_keeps_sky_order(tmp_path):
    """gather_run overlaps the PhotoObjAll index with deduplication; the result must be
    exactly dedup -> exclude earlier -> crossmatch, every table in sky order."""
    rng = np.random.default_rng(11)
    n = 3000
    ra, dec = 30 + rng.random(n) * 0.3, rng.random(n) * 0.3
    twice = rng.random(n) < 0.2
    det = _det(
        np.r_[ra, ra[twice] + 0.2 * ARCSEC],
        np.r_[dec, dec[twice]],
        rng.random(n + twice.sum()),
        **{"class": pd.Categorical(rng.choice(["GALAXY", "STAR", "QSO"], n + twice.sum()))},
    )
    photo = photoobj_table(objid=np.arange(n), ra=ra + rng.normal(0, 0.3, n) * ARCSEC, dec=dec, type=6, mode=1).iloc[
        : n - 100
    ]
    earlier = [det.iloc[:200][["ra", "dec"]]]
    result = gather_run(det.sample(frac=1, random_state=2), photo, earlier, 0.5, 2.0)
    unique = deduplicate(det, 0.5)
    new, dup = exclude_existing(unique, earlier, 0.5)
    matched, unmatched = crossmatch_photoobj(new, photo, 2.0)
    assert result.unique == len(unique) == n
    assert (result.duplicates["duplicate_reason"] == "earlier_run").all()
    for got, want in (
        (result.matched, matched),
        (result.unmatched, unmatched),
        (result.duplicates.drop(columns="duplicate_reason"), dup),
    ):
        assert is_sky_sorted(got)
        pd.testing.assert_frame_equal(got, sky_sort(want))
    assert len(result.duplicates) >= 200 and len(result.unmatched) > 0
    assert result.matched["n_merged"].max() == 2
    path = write_catalog_parquet(result.matched, tmp_path / "m.parquet", {}, CATALOG_COLUMNS)
    back = pd.read_parquet(path)["class"]
    assert (back.to_numpy() == result.matched["class"].astype(str).to_numpy()).all()


def test_hats_export_reads_back_through_lsdb_with_every_row(tmp_path):
    lsdb = pytest.importorskip("lsdb", reason="the `hats` extra (lsdb) is not installed")
    from yl8c4net.catalog.hats import write_hats

    rows = sky_sort(_catalog_rows(300, seed=4))
    path = write_catalog_parquet(rows, tmp_path / "catalog.parquet", {}, CATALOG_COLUMNS)
    assert write_hats(path, tmp_path / "hats" / "yl8c4net") == 300
    back = lsdb.open_catalog(tmp_path / "hats" / "yl8c4net").compute().sort_values("objid")
    assert back["objid"].tolist() == sorted(rows["objid"])
    assert (back["class"].astype(str).to_numpy() == rows.sort_values("objid")["class"].to_numpy()).all()
    # A cone in the catalogue's corner returns exactly the rows inside it.
    import astropy.units as u
    from astropy.coordinates import SkyCoord

    cone = lsdb.open_catalog(tmp_path / "hats" / "yl8c4net", search_filter=lsdb.ConeSearch(10.05, 0.05, 180.0))
    sep = SkyCoord(rows["ra"], rows["dec"], unit="deg").separation(SkyCoord(10.05, 0.05, unit="deg"))
    assert sorted(cone.compute()["objid"]) == sorted(rows["objid"][sep < 180 * u.arcsec])
