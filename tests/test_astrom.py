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
