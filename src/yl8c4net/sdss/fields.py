"""SDSS field identity and the path / URL builders of its files (DR17, eBOSS SAS layout).

Every name here is built from validated integers only, so a path or URL can never carry
user text. The layout follows the Science Archive Server::

    {root}/dr17/eboss/photoObj/frames/{rerun}/{run}/{camcol}/frame-{band}-{run:06d}-{camcol}-{field:04d}.fits.bz2
    {root}/dr17/eboss/photoObj/frames/{rerun}/{run}/{camcol}/frame-irg-{run:06d}-{camcol}-{field:04d}.jpg
    {root}/dr17/eboss/photoObj/{rerun}/{run}/{camcol}/photoObj-{run:06d}-{camcol}-{field:04d}.fits
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from pathlib import PurePosixPath

from yl8c4net.errors import BadFieldError

#: Base URL of the SDSS Science Archive Server; a mirror reproduces everything below it.
SAS_BASE_URL = "https://data.sdss.org/sas"
DATA_RELEASE = "dr17"
SURVEY = "eboss"
DEFAULT_RERUN = 301
BANDS = ("u", "g", "r", "i", "z")

#: Pixel size of a corrected frame, (width, height) = (columns, rows).
FRAME_SHAPE_XY = (2048, 1489)
#: Consecutive fields of a run and camcol start this many rows apart along the scan, so
#: field N's last 128 rows are field N+1's first 128 (the same pixels of the drift scan).
FIELD_STEP_ROWS = 1361
FIELD_OVERLAP_ROWS = FRAME_SHAPE_XY[1] - FIELD_STEP_ROWS


def _check_int(name: str, value, low: int, high: int) -> int:
    # bool is an Integral too; a run number of True is a bug, not a run.
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise BadFieldError(f"{name} must be an integer, got {value!r}")
    value = int(value)
    if not low <= value <= high:
        raise BadFieldError(f"{name}={value} is outside {low}..{high}")
    return value


def check_band(band: str) -> str:
    """Return ``band`` if it is one of u, g, r, i, z; raise `BadFieldError` otherwise."""
    if band not in BANDS:
        raise BadFieldError(f"band {band!r} is not one of {', '.join(BANDS)}")
    return band


@dataclass(frozen=True, order=True)
class FieldId:
    """One SDSS imaging field: ``run`` / ``rerun`` / ``camcol`` / ``field``.

    Parameters
    ----------
    run : int
        Imaging run number, 1..999999 (six digits in file names).
    camcol : int
        Camera column, 1..6.
    field : int
        Field number within the run, 0..9999 (four digits in file names).
    rerun : int, optional
        Processing rerun, 301 for DR8 and later.
    """

    run: int
    camcol: int
    field: int
    rerun: int = DEFAULT_RERUN

    def __post_init__(self):
        object.__setattr__(self, "run", _check_int("run", self.run, 1, 999999))
        object.__setattr__(self, "camcol", _check_int("camcol", self.camcol, 1, 6))
        object.__setattr__(self, "field", _check_int("field", self.field, 0, 9999))
        object.__setattr__(self, "rerun", _check_int("rerun", self.rerun, 0, 9999))

    @property
    def tag(self) -> str:
        """``{run:06d}-{camcol}-{field:04d}``, the stem SDSS uses in file names."""
        return f"{self.run:06d}-{self.camcol}-{self.field:04d}"

    def __str__(self) -> str:
        return f"run {self.run} camcol {self.camcol} field {self.field}"


#: Data releases whose imaging frames the SAS serves in the layout below: DR12 under
#: ``dr12/boss/``, DR13-DR17 under ``dr{N}/eboss/`` (the imaging of DR13 and later is the
#: same rerun 301 reduction).
DATA_RELEASES = tuple(range(12, 18))


def field_triple(name: str) -> tuple[int, int, int]:
    """(run, camcol, field) of a config's "run/camcol/field" string (e.g. ``real_pixels.fields``;
    the schema has checked its form)."""
    run, camcol, field = (int(v) for v in name.split("/"))
    return run, camcol, field


def sas_release_dir(data_release: int = 17) -> PurePosixPath:
    """``dr{N}/{survey}``: where a data release keeps its imaging on the SAS."""
    data_release = _check_int("data_release", data_release, DATA_RELEASES[0], DATA_RELEASES[-1])
    return PurePosixPath(f"dr{data_release}", "boss" if data_release == 12 else SURVEY)


def _frames_dir(fid: FieldId, data_release: int = 17) -> PurePosixPath:
    return sas_release_dir(data_release) / "photoObj" / "frames" / str(fid.rerun) / str(fid.run) / str(fid.camcol)


def frame_relpath(fid: FieldId, band: str, data_release: int = 17) -> PurePosixPath:
    """Path of a corrected frame relative to the SAS root, e.g.
    ``dr17/eboss/photoObj/frames/301/4510/4/frame-r-004510-4-0030.fits.bz2``."""
    return _frames_dir(fid, data_release) / f"frame-{check_band(band)}-{fid.tag}.fits.bz2"


def irg_jpeg_relpath(fid: FieldId, data_release: int = 17) -> PurePosixPath:
    """Path of the official i/r/g colour JPEG relative to the SAS root."""
    return _frames_dir(fid, data_release) / f"frame-irg-{fid.tag}.jpg"


def astrans_relpath(run: int, rerun: int = 301, data_release: int = 17) -> PurePosixPath:
    """Path of a run's astrometric transformations relative to the SAS root, e.g.
    ``dr17/eboss/photo/redux/301/4510/astrom/asTrans-004510.fit`` (one file for all its
    fields, camcols and bands; `yl8c4net.sdss.astrom`)."""
    run = _check_int("run", run, 1, 999999)
    return (
        sas_release_dir(data_release)
        / "photo"
        / "redux"
        / str(int(rerun))
        / str(run)
        / "astrom"
        / f"asTrans-{run:06d}.fit"
    )


def photoobj_relpath(fid: FieldId, data_release: int = 17) -> PurePosixPath:
    """Path of the per-field photoObj catalogue relative to the SAS root."""
    return (
        sas_release_dir(data_release)
        / "photoObj"
        / str(fid.rerun)
        / str(fid.run)
        / str(fid.camcol)
        / f"photoObj-{fid.tag}.fits"
    )


def sas_url(relpath: PurePosixPath, base_url: str = SAS_BASE_URL) -> str:
    """Join a SAS-relative path to the archive's base URL."""
    return f"{base_url.rstrip('/')}/{relpath.as_posix()}"


def frame_url(fid: FieldId, band: str, base_url: str = SAS_BASE_URL, data_release: int = 17) -> str:
    """URL of a corrected frame on the Science Archive Server."""
    return sas_url(frame_relpath(fid, band, data_release), base_url)


def irg_jpeg_url(fid: FieldId, base_url: str = SAS_BASE_URL, data_release: int = 17) -> str:
    """URL of the official i/r/g colour JPEG."""
    return sas_url(irg_jpeg_relpath(fid, data_release), base_url)


def photoobj_url(fid: FieldId, base_url: str = SAS_BASE_URL, data_release: int = 17) -> str:
    """URL of the per-field photoObj catalogue file."""
    return sas_url(photoobj_relpath(fid, data_release), base_url)
