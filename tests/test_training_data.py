"""Training data (paper section 2): labels on real and simulated frames, composite alignment,
source pasting, tiling, dataset assembly, cut-outs."""

import logging

import numpy as np
import pandas as pd
import pytest
import yaml
from astropy.io import fits
from photutils.centroids import centroid_quadratic

from yl8c4net.images.composite import field_composite, irg_composite, resample_to, subtract_background
from yl8c4net.images.cutouts import balance_and_split, crop_cutouts
from yl8c4net.sdss.fetch import fetch_field
from yl8c4net.images.labels import BoxTable, make_labels
from yl8c4net.images.pasting import box_mask, paste_sources, source_mask
from yl8c4net.sdss.queries import MirrorCatalogBackend
from yl8c4net.sdss.fields import FieldId
from yl8c4net.sdss.frames import read_frame
from yl8c4net.sdss.source import MirrorSource
from yl8c4net.simulate.mirror import truth_relpath
from yl8c4net.images.tiling import labels_in_tile, tile_origins, yolo_label_lines
from yl8c4net.images.training_data import build_field_tiles, split_fields, write_dataset_yaml
from conftest import SHARED_SAS, needs_shared

REAL = FieldId(4510, 4, 30)
SIM = FieldId(9101, 3, 11)


@pytest.fixture(scope="module")
def real_field(tmp_path_factory):
    """4510/4/30 fetched from the shared mirror, with its calibObj stars in the field."""
    if not SHARED_SAS.is_dir():
        pytest.skip(f"real SDSS test data not found at {SHARED_SAS}")
    d = tmp_path_factory.mktemp("real")
    manifest = fetch_field(REAL, MirrorSource(SHARED_SAS), "gri", d)
    sweep = SHARED_SAS / "dr17/eboss/sweeps/dr13_final/301/calibObj-004510-4-star.fits.gz"
    with fits.open(sweep) as h:
        s = h[1].data
        s = s[s["FIELD"] == 30]
        flux = s["PSFFLUX"][:, 2].astype(float)
        stars = pd.DataFrame(
            {
                "ra": s["RA"].astype(float),
                "dec": s["DEC"].astype(float),
                "r": 22.5 - 2.5 * np.log10(np.clip(flux, 1e-3, None)),
            }
        )
    return d, manifest, stars


def _within_1px_of_peak(image, x, y):
    """Is the flux peak near (x, y) within 1 px of it? The peak is the centre of light of the
    3x3-smoothed image above half its local maximum, so saturated stars, flat-topped in the
    JPEG, have a peak too."""
    from scipy import ndimage

    xi, yi = int(round(x)), int(round(y))
    h = 10
    cut = image[yi - h : yi + h + 1, xi - h : xi + h + 1].astype(float)
    if cut.shape != (2 * h + 1, 2 * h + 1):
        return None
    smooth = ndimage.uniform_filter(cut, 3)
    floor = np.median(smooth)
    weight = np.clip(smooth - floor - 0.5 * (smooth.max() - floor), 0, None)
    gy, gx = np.mgrid[-h : h + 1, -h : h + 1]
    cx, cy = (weight * gx).sum() / weight.sum(), (weight * gy).sum() / weight.sum()
    return np.hypot(xi + cx - x, yi + cy - y) <= 1.0


@needs_shared
@pytest.mark.parametrize("use_jpeg", [False, True], ids=["fits", "official-jpeg"])
def test_star_sweep_lands_on_the_stars(real_field, use_jpeg):
    d, manifest, stars = real_field
    wcs = read_frame(d / manifest["frames"]["r"]["file"]).wcs
    labels = make_labels(stars.assign(objid=np.arange(len(stars)), type=6), wcs, r_limit=21.0)
    if use_jpeg:
        image, origin = field_composite(d, manifest, use_official_jpeg=True)
        assert origin == "official-jpeg"
        image = image.astype(float).sum(axis=2)
    else:
        image = read_frame(d / manifest["frames"]["r"]["file"]).image
    hits = [_within_1px_of_peak(image, x, y) for x, y in zip(labels["x_src"], labels["y_src"])]
    hits = [h for h in hits if h is not None]
    assert len(hits) >= 50
    assert np.mean(hits) >= 0.9, np.mean(hits)


@needs_shared
def test_composite_channels_are_aligned(real_field):
    """g and i resampled onto the r grid: bright-star centroids agree within 0.3 px."""
    d, manifest, stars = real_field
    frames = {b: read_frame(d / manifest["frames"][b]["file"]) for b in "gri"}
    r = frames["r"]
    planes = {b: resample_to(f.image, f.wcs, r.wcs, r.image.shape) for b, f in frames.items() if b != "r"}
    planes["r"] = r.image
    bright = stars[(stars["r"] > 15.5) & (stars["r"] < 19)]  # unsaturated, high S/N
    x, y = r.wcs.all_world2pix(bright["ra"], bright["dec"], 0)
    offsets = {"g": [], "i": []}
    for xi, yi in zip(np.round(x).astype(int), np.round(y).astype(int)):
        if not (8 <= xi < 2040 and 8 <= yi < 1481):
            continue
        cents = {}
        for b in "gri":
            cut = planes[b][yi - 5 : yi + 6, xi - 5 : xi + 6]
            cents[b] = np.array(centroid_quadratic(cut, xpeak=5, ypeak=5, fit_boxsize=5))
        for b in "gi":
            offsets[b].append(np.hypot(*(cents[b] - cents["r"])))
    for b in "gi":
        assert len(offsets[b]) >= 12
        assert np.median(offsets[b]) < 0.3, (b, np.median(offsets[b]))
    # Negative control: on its own, unresampled grid the g frame is pixels away from r.
    raw_offsets = []
    for xi, yi in zip(np.round(x).astype(int), np.round(y).astype(int)):
        if 8 <= xi < 2040 and 8 <= yi < 1481:
            peak_raw = np.unravel_index(np.argmax(frames["g"].image[yi - 8 : yi + 9, xi - 8 : xi + 9]), (17, 17))
            peak_r = np.unravel_index(np.argmax(planes["r"][yi - 8 : yi + 9, xi - 8 : xi + 9]), (17, 17))
            raw_offsets.append(np.hypot(*(np.array(peak_raw) - np.array(peak_r))))
    assert np.median(raw_offsets) > 1.0


@needs_shared
def test_photutils_mask_covers_the_bright_sources(real_field):
    d, manifest, stars = real_field
    image, _ = field_composite(d, manifest, use_official_jpeg=True)
    mask = source_mask(image)
    wcs = read_frame(d / manifest["frames"]["r"]["file"]).wcs
    bright = stars[stars["r"] < 20]
    x, y = wcs.all_world2pix(bright["ra"], bright["dec"], 0)
    on = (x > 0) & (x < 2047) & (y > 0) & (y < 1488)
    covered = mask[np.round(y[on]).astype(int), np.round(x[on]).astype(int)]
    assert on.sum() >= 30 and covered.mean() >= 0.98


def test_tile_origins_cover_every_pixel():
    for width, height, tile in [(2048, 1489, 640), (1000, 700, 256), (640, 640, 640)]:
        cover = np.zeros((height, width), dtype=int)
        origins = tile_origins(width, height, tile)
        for x0, y0 in origins:
            assert 0 <= x0 <= width - tile and 0 <= y0 <= height - tile
            cover[y0 : y0 + tile, x0 : x0 + tile] += 1
        assert cover.min() >= 1
    assert len(tile_origins(2048, 1489)) == 12


def test_box_cut_by_a_tile_edge_is_kept_only_when_enough_is_visible():
    labels = pd.DataFrame({"x": [635.0, 650.0, 100.0], "y": [100.0, 100.0, 100.0], "w": [20.0] * 3, "h": [20.0] * 3})
    kept = labels_in_tile(labels, 0, 0, 640, min_visible=0.5)
    assert len(kept) == 1 + 1  # 14.5 of 20 px inside, and the fully inside one
    assert kept["w"].max() == 20 and kept["w"].min() == pytest.approx(14.5)
    line = yolo_label_lines(kept.iloc[[1]] if kept["w"].iloc[1] == 20 else kept.iloc[[0]], 640)
    assert line.startswith("0 0.157031 0.157031 0.031250 0.031250")


def test_box_table_is_monotone_and_refuses_growth():
    t = BoxTable()
    sides = t.side(np.linspace(12, 23, 200))
    assert np.all(np.diff(sides) <= 0) and sides[0] > sides[-1]
    with pytest.raises(ValueError, match="must not grow"):
        BoxTable(edges=(15.0, 20.0), sides=(10, 20))


@pytest.fixture(scope="module")
def sim_field(sim_mirror, tmp_path_factory):
    sim, root = sim_mirror
    d = tmp_path_factory.mktemp("simfield")
    manifest = fetch_field(SIM, MirrorSource(root), "ugriz", d)
    photo = MirrorCatalogBackend(root).photoobj_field(SIM)
    truth = pd.read_parquet(root / truth_relpath(SIM))
    wcs = read_frame(d / manifest["frames"]["r"]["file"]).wcs
    image, origin = field_composite(d, manifest, use_official_jpeg=True)
    return d, manifest, photo, truth, wcs, image


def test_every_catalogued_source_gets_exactly_one_label_at_its_true_position(sim_field):
    _, _, photo, truth, wcs, _ = sim_field
    labels = make_labels(photo, wcs)
    x, y = wcs.all_world2pix(photo["ra"], photo["dec"], 0)
    want = photo[(photo["r"] <= 22.2) & (x >= -0.5) & (x < 2047.5) & (y >= -0.5) & (y < 1488.5)]
    assert sorted(labels["objid"]) == sorted(want["objid"])
    assert labels["objid"].is_unique
    merged = labels.merge(truth[["objid", "x", "y"]], on="objid", suffixes=("", "_true"))
    assert len(merged) == len(labels)
    dist = np.hypot(merged["x_src"] - merged["x_true"], merged["y_src"] - merged["y_true"])
    assert dist.max() < 0.5
    unclipped = merged[(merged["w"] == merged["h"])]
    assert np.allclose(unclipped["x"], unclipped["x_src"]) and np.allclose(unclipped["y"], unclipped["y_src"])


def test_pasted_image_differs_only_where_uncatalogued_sources_were(sim_field):
    _, _, photo, truth, wcs, image = sim_field
    labels = make_labels(photo, wcs)
    res = paste_sources(image, labels)
    changed = np.any(res.pasted != image, axis=2)
    boxes = box_mask(labels, image.shape[:2])
    assert not (changed & ~res.mask).any()  # nothing outside the source mask moved
    assert not (changed & boxes).any()  # catalogued boxes are the original pixels
    # Detected but uncatalogued sources (too faint for a label) are gone.
    t = truth[~truth["objid"].isin(labels["objid"]) & truth["x"].between(5, 2042) & truth["y"].between(5, 1483)]
    xi, yi = np.round(t["x"]).astype(int), np.round(t["y"]).astype(int)
    detected_outside = res.mask[yi, xi] & ~boxes[yi, xi]
    assert detected_outside.sum() >= 20
    assert changed[yi[detected_outside], xi[detected_outside]].mean() > 0.95
    # And catalogued sources keep their centres.
    lx, ly = np.round(labels["x_src"]).astype(int).clip(0, 2047), np.round(labels["y_src"]).astype(int).clip(0, 1488)
    assert not changed[ly, lx].any()


def test_field_tiles_and_dataset_yaml(sim_field, tmp_path):
    _, _, photo, _, wcs, image = sim_field
    res = build_field_tiles(image, photo, wcs, tmp_path / "a", "009101-3-0011")
    images = sorted((tmp_path / "a" / "images").iterdir())
    labels = sorted((tmp_path / "a" / "labels").iterdir())
    assert len(images) == 12 and len(labels) == 12
    n_lines = sum(len(p.read_text().splitlines()) for p in labels)
    assert n_lines == res["n_tile_boxes"] >= res["n_labels"]
    build_field_tiles(image, photo.iloc[:0], wcs, tmp_path / "b", "009101-3-0012")
    out = write_dataset_yaml({"f11": tmp_path / "a", "f12": tmp_path / "b"}, tmp_path / "ds" / "data.yaml", 0.5)
    spec = yaml.safe_load((tmp_path / "ds" / "data.yaml").read_text())
    assert spec["names"] == {0: "source"}
    train = (tmp_path / "ds" / spec["train"]).read_text().split()
    val = (tmp_path / "ds" / spec["val"]).read_text().split()
    assert len(train) == len(val) == 12 and not set(train) & set(val)
    assert {("/a/" in p) for p in train} in ({True}, {False})  # a field's tiles stay together
    assert out["split"] == split_fields(["f11", "f12"], 0.5)  # deterministic


def test_empty_catalogue_gives_empty_label_files(sim_field, tmp_path):
    _, _, photo, _, wcs, image = sim_field
    res = build_field_tiles(image, photo.iloc[:0], wcs, tmp_path, "x")
    assert res["n_labels"] == 0
    files = list((tmp_path / "labels").iterdir())
    assert len(files) == 12 and all(p.read_text() == "" for p in files)


def test_nan_pixels_are_reported_and_filled(sim_field, tmp_path, caplog):
    d, manifest, *_ = sim_field
    import shutil
    import bz2

    src = d / manifest["frames"]["g"]["file"]
    work = tmp_path / "f"
    shutil.copytree(d, work)
    with fits.open(src) as h:
        h[0].data[100:110, 200] = np.nan
        (work / src.name).write_bytes(bz2.compress(_to_bytes(h)))
    with caplog.at_level(logging.WARNING):
        image, origin = field_composite(work, manifest, use_official_jpeg=False)
    assert origin == "fits" and image.shape == (1489, 2048, 3)
    assert any("10 NaN/inf pixels set to 0" in r.message and src.name in r.message for r in caplog.records)


def test_background_subtraction_takes_out_diffuse_light_and_keeps_stars():
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[0:600, 0:800]
    glow = 5.0 * np.exp(-((xx - 400.0) ** 2 + (yy - 300.0) ** 2) / (2 * 150.0**2))  # a cluster's unresolved light
    stars = np.zeros_like(glow)
    positions = [(100 + 60 * k, 80 + 45 * k) for k in range(10)]
    for x, y in positions:
        stars += 3.0 * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * 1.5**2))
    image = (glow + stars + rng.normal(0, 0.03, glow.shape)).astype(np.float32)
    out = subtract_background(image, 64)
    mask = stars < 0.01
    under_glow = mask & (glow > 2)
    before, after = np.median(image[under_glow]), np.median(out[under_glow])
    assert before > 2 and abs(after) < 0.1 * before  # 90 % of the glow goes (the rest: its curvature within a mesh)
    assert abs(np.median(out[mask & (glow < 0.05)])) < 0.1  # blank sky stays within 2 % of the glow's peak
    for x, y in positions:  # each star keeps its peak over the local level
        assert out[y, x] - np.median(out[y - 10 : y + 11, x - 10 : x + 11]) > 0.9 * 3.0
    assert subtract_background(image, None) is image


@needs_shared
def test_large_background_mesh_on_a_crowded_field_falls_back_instead_of_failing():
    """photutils' Background2D refuses when every mesh has over 10 % of its pixels clipped,
    as 256-px meshes on the low-latitude 5405/6/99 do; the field still gets a background."""
    from yl8c4net.sdss.frames import read_frame

    frame = read_frame(next(SHARED_SAS.rglob("frame-r-005405-6-0099.fits.bz2")))
    out = subtract_background(frame.image, 256)
    assert out.shape == frame.image.shape and np.isfinite(out).all()
    # The unresolved starlight goes: the median pixel drops to the level of blank sky.
    assert np.median(frame.image) > 0.05 and abs(float(np.median(out))) < 0.3 * float(np.median(frame.image))


@needs_shared
def test_fits_composite_of_m2_shows_the_cluster_core_instead_of_a_saturated_blob():
    from conftest import real_frame_path

    frames = {b: read_frame(real_frame_path(2583, 2, 136, b)) for b in "gri"}
    core = (slice(800, 1000), slice(125, 325))  # M2's core on the r grid
    as_sdss = irg_composite(frames)[core]
    cleaned = irg_composite(frames, background_box_px=64)[core]
    # SDSS's mapping fills saturated objects with the colour of their edge, so the blob sits
    # just below white rather than at it.
    assert (as_sdss.max(axis=2) >= 200).mean() > 0.95
    assert (cleaned.max(axis=2) >= 200).mean() < 0.6


def _to_bytes(hdul):
    import io

    buf = io.BytesIO()
    hdul.writeto(buf)
    return buf.getvalue()


def test_balance_and_split_sizes_are_exact():
    rng = np.random.default_rng(0)
    table = pd.DataFrame(
        {"objid": np.arange(1000), "class": rng.choice(["GALAXY", "STAR", "QSO"], 1000, p=[0.6, 0.3, 0.1])}
    )
    n_qso = int((table["class"] == "QSO").sum())
    out = balance_and_split(table, per_class=10_000)
    counts = out.groupby(["class", "split"]).size().unstack()
    for cls in ("GALAXY", "STAR", "QSO"):
        assert counts.loc[cls].sum() == n_qso
        assert counts.loc[cls, "train"] == round(0.8 * n_qso) and counts.loc[cls, "val"] == round(0.1 * n_qso)
    assert out["objid"].is_unique
    capped = balance_and_split(table, per_class=50)
    assert (capped["class"].value_counts() == 50).all()
    assert balance_and_split(table, per_class=50).equals(capped)  # seeded


def test_crop_keeps_scale_at_the_edge_and_resizes_bilinearly():
    image = np.zeros((100, 100, 3), np.uint8)
    image[40:60, 40:60] = 200
    crops = crop_cutouts(image, np.array([49.5, 0.0]), np.array([49.5, 50.0]), np.array([40.0, 40.0]), size=48)
    assert crops.shape == (2, 48, 48, 3)
    centre = crops[0, 14:34, 14:34, 0]
    assert centre.min() >= 190 and crops[0, 0, 0, 0] == 0
    assert crops[1, :, 24:, 0].mean() == 0  # the off-image half is sky, not stretched source
