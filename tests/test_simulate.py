"""The simulated survey: determinism, geometry, realism against the real frames."""

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits
from photutils.centroids import centroid_quadratic

from yl8c4net.sdss.queries import PHOTO_FLAG_SATURATED, MirrorCatalogBackend
from yl8c4net.sdss.fields import FieldId, frame_relpath, irg_jpeg_relpath
from yl8c4net.sdss.frames import read_frame, read_irg_jpeg
from yl8c4net.simulate.calibration import frame_statistics
from yl8c4net.simulate.colours import BANDS, CLASSES, load_colour_model, read_specphoto_csv
from yl8c4net.simulate.mirror import simulate_field, truth_relpath
from yl8c4net.simulate.render import SEEING_RANGE_ARCSEC
from conftest import SHARED_FRAME_STATS, SHARED_SPECPHOTO_CSV, needs_shared, real_frame_path

F11 = FieldId(9101, 3, 11)
F12 = FieldId(9101, 3, 12)


def _truth(root, fid):
    return pd.read_parquet(root / truth_relpath(fid))


def test_same_seed_gives_identical_bytes(sim_mirror, tmp_path):
    sim, root = sim_mirror
    simulate_field(sim, F11, tmp_path)
    files = [frame_relpath(F11, b) for b in BANDS] + [
        irg_jpeg_relpath(F11),
        truth_relpath(F11),
        Path("catalogs/dr17/PhotoObjAll/301/9101/3/photoObjAll-009101-3-0011.parquet"),
    ]
    for rel in files:
        assert (tmp_path / rel).read_bytes() == (root / rel).read_bytes(), rel


def test_frames_pass_verification_and_have_sdss_structure(sim_mirror):
    _, root = sim_mirror
    frame = read_frame(root / frame_relpath(F11, "r"))
    assert frame.image.shape == (1489, 2048)
    with fits.open(root / frame_relpath(F11, "g")) as hdul:
        assert len(hdul) == 4
        assert hdul[2].data["ALLSKY"].shape == (1, 192, 256)
        astrans_cols = set(hdul[3].columns.names)
    assert {"A", "B", "C", "D", "E", "F", "NODE", "INCL", "FIELD"} <= astrans_cols


@needs_shared
def test_astrometry_table_has_the_real_columns(sim_mirror):
    _, root = sim_mirror
    with fits.open(real_frame_path(4510, 4, 30, "r")) as real, fits.open(root / frame_relpath(F11, "r")) as sim:
        assert sim[3].columns.names == real[3].columns.names


def test_bright_stars_render_where_the_wcs_puts_them(sim_mirror):
    """truth ra/dec -> pixel through the frame's own WCS -> rendered peak within 0.5 px
    (unsaturated stars: a saturated core is flat and bleeds, it has no peak to fit)."""
    _, root = sim_mirror
    truth = _truth(root, F11)
    for band in ("r", "g", "i"):
        frame = read_frame(root / frame_relpath(F11, band))
        stars = truth[(truth["class"] == "STAR") & truth[band].between(15.0, 19.0)]
        x, y = frame.wcs.all_world2pix(stars["ra"], stars["dec"], 0)
        ok = (x > 10) & (x < 2037) & (y > 10) & (y < 1478)
        assert ok.sum() >= 5
        offsets = []
        for xi, yi in zip(x[ok], y[ok]):
            xc, yc = int(round(xi)), int(round(yi))
            cut = frame.image[yc - 3 : yc + 4, xc - 3 : xc + 4]
            cx, cy = centroid_quadratic(cut)
            offsets.append(np.hypot(xc - 3 + cx - xi, yc - 3 + cy - yi))
        assert np.median(offsets) < 0.2 and np.max(offsets) < 0.5, (band, offsets)


def test_bands_are_offset_like_sdss(sim_mirror):
    """The five frames of a field are not on one pixel grid (the composite must resample)."""
    _, root = sim_mirror
    r = read_frame(root / frame_relpath(F11, "r")).wcs
    g = read_frame(root / frame_relpath(F11, "g")).wcs
    ra, dec = r.all_pix2world(1000.0, 700.0, 0)
    gx, gy = g.all_world2pix(ra, dec, 0)
    assert 1.0 < np.hypot(gx - 1000.0, gy - 700.0) < 8.0


def test_adjacent_fields_share_128_rows(sim_mirror):
    _, root = sim_mirror
    t11, t12 = _truth(root, F11), _truth(root, F12)
    both = t11.merge(t12, on="source_id", suffixes=("_11", "_12"))
    inside = both[(both["y_11"] > 1361.5) & (both["y_11"] < 1487) & (both["x_11"] > 0) & (both["x_11"] < 2047)]
    assert len(inside) > 20
    # Each frame has its own tangent point, so the grids agree to a few hundredths of a pixel.
    np.testing.assert_allclose(inside["y_12"], inside["y_11"] - 1361, atol=0.05)
    np.testing.assert_allclose(inside["x_12"], inside["x_11"], atol=0.05)


def test_photoobj_types_and_specphoto_classes(sim_mirror):
    _, root = sim_mirror
    photo = MirrorCatalogBackend(root).photoobj_field(F11)
    truth = _truth(root, F11).merge(photo[["objid", "type"]], on="objid", suffixes=("_t", ""))
    # Types come from the noisy psf - model magnitudes: point sources are stars (6) when
    # bright, sometimes galaxies (3) when faint; large galaxies bright enough to measure are
    # galaxies.
    point = truth[truth["class"].isin(["STAR", "QSO"])]
    assert (point.loc[point["r"] < 20, "type"] == 6).all()
    assert (point["type"] == 6).mean() > 0.95
    big = truth[(truth["class"] == "GALAXY") & (truth["hlr_arcsec"] > 1.5) & (truth["r"] < 21.5)]
    assert (big["type"] == 3).all() and len(big) > 10
    assert {"err_u", "err_g", "err_r", "err_i", "err_z", "psfmag_r", "psfmag_u", "psfmagerr_z"} <= set(photo.columns)
    # PhotoObjAll's SATURATED flag on the sources whose core reached the full well.
    saturated = (photo["flags"].to_numpy() & PHOTO_FLAG_SATURATED) != 0
    measured_r = photo["r"].to_numpy()
    assert saturated.any() and not saturated[measured_r > 16].any()
    assert measured_r[saturated].max() < 14  # SDSS's r saturates near 14
    assert (photo["err_r"] > 0).all()
    assert set(photo["mode"]) == {1, 2}
    # objIDs carry run, camcol and field in SDSS's bit layout.
    objid = photo["objid"].to_numpy()
    assert ((objid >> 32) & 0xFFFF == 9101).all() and ((objid >> 16) & 0xFFF == 11).all()
    spec = MirrorCatalogBackend(root).specphoto_run(9101)
    assert set(spec["class"]) == set(CLASSES)
    assert 0 < (spec["zwarning"] != 0).mean() < 0.15
    assert spec["objid"].isin(photo["objid"]).any()


def test_jpeg_is_stored_top_row_first(sim_mirror):
    _, root = sim_mirror
    r = read_frame(root / frame_relpath(F11, "r")).image
    green = read_irg_jpeg(root / irg_jpeg_relpath(F11))[..., 1].astype(float)
    s = np.arcsinh(np.clip(r, 0, None) / 0.05)
    assert np.corrcoef(s.ravel(), green.ravel())[0, 1] > 0.7


def _real_ranges():
    """{band: {figure: (min, max)}} over the real fields in notes/real-frame-stats.md."""
    rows = [
        ln.split("|")[1:-1] for ln in SHARED_FRAME_STATS.read_text().splitlines() if re.match(r"\|\s*\d+/\d+/\d+", ln)
    ]
    out = {}
    for field, band, med, rms, n, fwhm, _ in ([c.strip() for c in r] for r in rows):
        figs = out.setdefault(band, {"sky_median": [], "sky_rms": [], "n_above_5sigma": [], "psf_fwhm_arcsec": []})
        for key, val in zip(figs, (med, rms, n, fwhm)):
            figs[key].append(float(val))
    return {b: {k: (min(v), max(v)) for k, v in f.items()} for b, f in out.items()}


@pytest.mark.skipif(not SHARED_FRAME_STATS.is_file(), reason=f"{SHARED_FRAME_STATS} not found")
def test_simulated_frames_fall_within_the_real_fields_range(sim_mirror):
    _, root = sim_mirror
    ranges = _real_ranges()
    for band in BANDS:
        stats = frame_statistics(read_frame(root / frame_relpath(F11, band)).image).as_dict()
        for key, (lo, hi) in ranges[band].items():
            if key == "psf_fwhm_arcsec":
                # The simulator's PSF matches the real stars' core (their concentration and
                # cut-out profiles, benchmarks/morphology_sim_vs_real.py), where its moment
                # FWHM reads about 0.8x the real stars' (their wings are broader).
                lo = 0.75 * lo
            assert lo <= stats[key] <= hi, (band, key, stats[key], (lo, hi))


@pytest.mark.skipif(not SHARED_SPECPHOTO_CSV.is_file(), reason=f"{SHARED_SPECPHOTO_CSV} not found")
def test_colour_model_reproduces_the_skyserver_colours():
    """GALAXY and QSO colours follow the table's spectra (STAR colours come from photometric
    stars: tests/test_star_colours.py)."""
    real = read_specphoto_csv(SHARED_SPECPHOTO_CSV)
    model = load_colour_model()
    rng = np.random.default_rng(3)
    medians = {"STAR": np.median(model["STAR"].sample(rng, 20000), axis=0)}
    for cls in ("GALAXY", "QSO"):
        colours = -np.diff(real.loc[real["class"] == cls, list(BANDS)].to_numpy(float), axis=1)
        sample = model[cls].sample(rng, 20000)
        np.testing.assert_allclose(np.median(sample, axis=0), np.median(colours, axis=0), atol=0.05)
        np.testing.assert_allclose(
            np.percentile(sample, 84, axis=0) - np.percentile(sample, 16, axis=0),
            np.percentile(colours, 84, axis=0) - np.percentile(colours, 16, axis=0),
            rtol=0.2,
            atol=0.03,
        )
        medians[cls] = np.median(sample, axis=0)
    assert medians["QSO"][0] < medians["STAR"][0] - 0.5  # the QSO UV excess in u-g


def test_the_seeing_range_is_a_setting_and_reaches_the_frames(sim_mirror, tmp_path):
    import dataclasses

    sim, root = sim_mirror
    default_fwhm = fits.getheader(root / frame_relpath(F11, "r"), 0)["SIMFWHM"]
    assert SEEING_RANGE_ARCSEC[0] <= default_fwhm <= SEEING_RANGE_ARCSEC[1]
    bad_seeing = dataclasses.replace(sim, seeing_range_arcsec=(2.4, 2.5))
    summary = simulate_field(bad_seeing, F11, tmp_path)
    header_fwhm = fits.getheader(tmp_path / frame_relpath(F11, "r"), 0)["SIMFWHM"]
    assert 2.4 <= summary["fwhm_r"] <= 2.5 and header_fwhm == pytest.approx(summary["fwhm_r"], abs=1e-4)
    # The stars really are broader: the same bright star's peak is lower for the same flux.
    truth = _truth(root, F11)
    star = truth[(truth["class"] == "STAR") & truth["r"].between(16, 17.5)].iloc[0]
    x, y = int(round(star["x"])), int(round(star["y"]))
    peak = {
        name: read_frame(base / frame_relpath(F11, "r")).image[y - 3 : y + 4, x - 3 : x + 4].max()
        for name, base in (("default", root), ("bad", tmp_path))
    }
    assert peak["bad"] < 0.8 * peak["default"]
