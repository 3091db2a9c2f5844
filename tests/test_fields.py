import pytest

from yl8c4net.errors import BadFieldError
from yl8c4net.sdss.fields import (
    FieldId,
    frame_relpath,
    frame_url,
    irg_jpeg_url,
    photoobj_relpath,
    photoobj_url,
)
from conftest import SHARED_SAS, needs_shared


def test_frame_url_matches_sas_name():
    fid = FieldId(4510, 4, 30)
    assert frame_url(fid, "r") == (
        "https://data.sdss.org/sas/dr17/eboss/photoObj/frames/301/4510/4/frame-r-004510-4-0030.fits.bz2"
    )
    assert irg_jpeg_url(fid) == (
        "https://data.sdss.org/sas/dr17/eboss/photoObj/frames/301/4510/4/frame-irg-004510-4-0030.jpg"
    )
    assert photoobj_url(FieldId(3723, 1, 11)) == (
        "https://data.sdss.org/sas/dr17/eboss/photoObj/301/3723/1/photoObj-003723-1-0011.fits"
    )
    assert str(photoobj_relpath(FieldId(756, 6, 9999))) == "dr17/eboss/photoObj/301/756/6/photoObj-000756-6-9999.fits"


@needs_shared
@pytest.mark.parametrize(
    "run,camcol,field", [(4510, 4, 30), (1035, 6, 17), (1992, 1, 87), (2583, 2, 136), (5405, 6, 99)]
)
def test_paths_name_the_real_mirror_files(run, camcol, field):
    fid = FieldId(run, camcol, field)
    for band in "ugriz":
        assert (SHARED_SAS / frame_relpath(fid, band)).is_file()


@pytest.mark.parametrize(
    "kwargs,word",
    [
        (dict(run=0, camcol=1, field=1), "run=0"),
        (dict(run=1, camcol=7, field=1), "camcol=7"),
        (dict(run=1, camcol=1, field=10000), "field=10000"),
        (dict(run="4510; DROP TABLE", camcol=1, field=1), "run must be an integer"),
        (dict(run=True, camcol=1, field=1), "run must be an integer"),
        (dict(run=1.5, camcol=1, field=1), "run must be an integer"),
    ],
)
def test_bad_field_identity_is_refused(kwargs, word):
    with pytest.raises(BadFieldError, match=word.replace("(", r"\(")):
        FieldId(**kwargs)


def test_bad_band_is_refused():
    with pytest.raises(BadFieldError, match="band 'y'"):
        frame_relpath(FieldId(1, 1, 1), "y")
