"""SDSS's asTrans on real frames: the WCS of a field without its r frame (issue 16, lean mode)."""

import bz2
import io

import numpy as np
import pytest

from conftest import SHARED_SAS, needs_shared, real_frame_path

REAL_FIELDS = [(4510, 4, 30), (1035, 6, 17), (1992, 1, 87), (5405, 6, 99), (2583, 2, 136)]


def _frame(run, camcol, field):
    from astropy.io import fits

    return fits.open(io.BytesIO(bz2.decompress(real_frame_path(run, camcol, field, "r").read_bytes())))


def _offsets_arcsec(ra1, dec1, ra2, dec2):
    return np.hypot((np.asarray(ra1) - ra2) * np.cos(np.radians(dec2)), np.asarray(dec1) - dec2) * 3600


@needs_shared
@pytest.mark.parametrize("run, camcol, field", REAL_FIELDS)
def test_astrans_wcs_agrees_with_the_frames_own_wcs(run, camcol, field):
    from astropy.wcs import WCS

    from yl8c4net.sdss.astrom import AsTrans, astrans_wcs

    with _frame(run, camcol, field) as hdul:
        frame_wcs = WCS(hdul[0].header)
        trans = AsTrans.from_row(hdul[3].data[0])
    y, x = (g.astype(float) for g in np.mgrid[0:1489:41, 0:2048:41])
    ra, dec = trans.pixel_to_sky(x, y)
    # The frame's TAN header approximates asTrans: within 0.2" everywhere, 0.05" typically.
    off = _offsets_arcsec(*frame_wcs.all_pix2world(x, y, 0), ra, dec)
    assert np.median(off) < 0.05 and off.max() < 0.2
    # The fitted TAN-SIP WCS reproduces asTrans to a milliarcsecond.
    assert _offsets_arcsec(*astrans_wcs(trans).all_pix2world(x, y, 0), ra, dec).max() < 0.001


@needs_shared
def test_astrans_places_sdss_stars_where_sdss_does():
    """calibObj's r-band pixel centroids (pixel-edge convention) through asTrans land on its
    RA/Dec to a few milliarcseconds; the frame's TAN header is ~17 mas off."""
    from astropy.table import Table
    from astropy.wcs import WCS

    from yl8c4net.sdss.astrom import AsTrans

    stars = Table.read(SHARED_SAS / "dr17/eboss/sweeps/dr13_final/301/calibObj-004510-4-star.fits.gz")
    stars = stars[stars["FIELD"] == 30]
    r = 22.5 - 2.5 * np.log10(np.clip(np.asarray(stars["PSFFLUX"])[:, 2], 1e-3, None))
    stars = stars[r < 20]
    x = np.asarray(stars["COLC"])[:, 2] - 0.5
    y = np.asarray(stars["ROWC"])[:, 2] - 0.5
    with _frame(4510, 4, 30) as hdul:
        trans = AsTrans.from_row(hdul[3].data[0])
        frame_wcs = WCS(hdul[0].header)
    assert len(stars) >= 30
    by_astrans = _offsets_arcsec(*trans.pixel_to_sky(x, y), stars["RA"], stars["DEC"])
    by_header = _offsets_arcsec(*frame_wcs.all_pix2world(x, y, 0), stars["RA"], stars["DEC"])
    assert np.median(by_astrans) < 0.005 < np.median(by_header)


def test_lean_fetch_takes_the_jpeg_only_and_the_wcs_from_the_run_astrans(sim_mirror, tmp_path):
    """Issue 16's lean mode on the simulated mirror: under 1 MB per field, and the asTrans
    WCS lands within a few milliarcseconds of the r frame's own."""
    from yl8c4net.sdss.fetch import fetch_field, field_wcs, frame_bands
    from yl8c4net.io import write_json_atomic
    from yl8c4net.sdss.fields import FieldId, astrans_relpath, frame_relpath
    from yl8c4net.sdss.frames import read_frame
    from yl8c4net.sdss.source import MirrorSource

    sim, root = sim_mirror
    fid = FieldId(9101, 3, 11)
    astrans = root / astrans_relpath(9101)
    bands = frame_bands("auto", use_official_jpeg=True, lean=True)
    assert bands == ()
    manifest = fetch_field(fid, MirrorSource(root), bands, tmp_path / "f", astrans=astrans)
    assert manifest["status"] == "ok" and manifest["frames"] == {}
    assert [p.name for p in (tmp_path / "f").iterdir()] == ["frame-irg-009101-3-0011.jpg"]
    assert manifest["bytes"] < 1_000_000 and manifest["wcs"]["source"] == "asTrans-009101.fit"
    from yl8c4net.io import sha256_of

    assert manifest["irg_jpeg_sha256"] == sha256_of(tmp_path / "f" / "frame-irg-009101-3-0011.jpg")  # provenance
    wcs = field_wcs(write_json_atomic(manifest, tmp_path / "f" / "manifest.json"))
    truth = read_frame(root / frame_relpath(fid, "r")).wcs
    y, x = (g.astype(float) for g in np.mgrid[0:1489:53, 0:2048:53])
    ra, dec = truth.all_pix2world(x, y, 0)
    assert _offsets_arcsec(*wcs.all_pix2world(x, y, 0), ra, dec).max() < 0.01


def test_a_field_missing_from_the_run_astrans_is_quarantined(sim_mirror, tmp_path):
    from yl8c4net.sdss.fetch import fetch_field
    from yl8c4net.sdss.fields import FieldId, astrans_relpath
    from yl8c4net.sdss.source import MirrorSource

    sim, root = sim_mirror
    other = tmp_path / "asTrans-009101.fit"
    from yl8c4net.sdss.astrom import RUN_FILE_COLUMNS, write_run_astrans

    write_run_astrans(other, 95.0, 0.0, {(3, "r"): {k: [12.0 if k == "field" else 0.0] for k in RUN_FILE_COLUMNS}})
    manifest = fetch_field(FieldId(9101, 3, 11), MirrorSource(root), (), tmp_path / "f", astrans=other)
    assert manifest["status"] == "quarantined"
    assert manifest["reason"] == f"{other}: no asTrans row for camcol 3 band r field 11"
    junk = tmp_path / "junk.fit"
    junk.write_bytes(b"SIMPLE  = nonsense")
    bad = fetch_field(FieldId(9101, 3, 11), MirrorSource(root), (), tmp_path / "g", astrans=junk)
    assert bad["status"] == "quarantined" and bad["reason"].startswith(f"{junk}: not a readable asTrans file")
    assert (root / astrans_relpath(9101)).is_file()
