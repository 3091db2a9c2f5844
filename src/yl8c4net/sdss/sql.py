"""SQL for the SkyServer / CasJobs catalogue queries, built only from validated integers and
whitelisted column names (never from free text).
"""

from __future__ import annotations

from yl8c4net.errors import BadFieldError
from yl8c4net.sdss.fields import FieldId, _check_int

#: PhotoObjAll columns we ask for, mapped to the names the pipeline uses.
PHOTOOBJ_COLUMNS = {
    "objID": "objid",
    "run": "run",
    "rerun": "rerun",
    "camcol": "camcol",
    "field": "field",
    "ra": "ra",
    "dec": "dec",
    "type": "type",
    "mode": "mode",
    "flags": "flags",
    "modelMag_u": "u",
    "modelMag_g": "g",
    "modelMag_r": "r",
    "modelMag_i": "i",
    "modelMag_z": "z",
    "modelMagErr_u": "err_u",
    "modelMagErr_g": "err_g",
    "modelMagErr_r": "err_r",
    "modelMagErr_i": "err_i",
    "modelMagErr_z": "err_z",
    "psfMag_u": "psfmag_u",
    "psfMag_g": "psfmag_g",
    "psfMag_r": "psfmag_r",
    "psfMag_i": "psfmag_i",
    "psfMag_z": "psfmag_z",
    "psfMagErr_u": "psfmagerr_u",
    "psfMagErr_g": "psfmagerr_g",
    "psfMagErr_r": "psfmagerr_r",
    "psfMagErr_i": "psfmagerr_i",
    "psfMagErr_z": "psfmagerr_z",
    "petroR90_r": "petror90_r",
}

#: SpecPhoto columns we ask for, mapped to the pipeline's names.
SPECPHOTO_COLUMNS = {
    "objID": "objid",
    "ra": "ra",
    "dec": "dec",
    "class": "class",
    "z": "redshift",
    "zWarning": "zwarning",
    "modelMag_r": "r",
}

#: Field table columns: the field index of a run.
FIELD_COLUMNS = {"run": "run", "rerun": "rerun", "camcol": "camcol", "field": "field"}

#: Tables a query may name.
TABLES = frozenset({"PhotoObjAll", "SpecPhoto", "Field"})


def _select(table: str, columns: dict[str, str], wanted: list[str] | None) -> str:
    if table not in TABLES:
        raise BadFieldError(f"table {table!r} is not one of {sorted(TABLES)}")
    names = list(columns) if wanted is None else wanted
    unknown = [c for c in names if c not in columns]
    if unknown:
        raise BadFieldError(f"column(s) {unknown} are not allowed for {table}; allowed: {list(columns)}")
    # SkyServer's CSV keeps the source column names; ``class`` is a T-SQL keyword there.
    cols = ", ".join(f"[{c}]" if c == "class" else c for c in names)
    return f"SELECT {cols} FROM {table}"


def photoobj_field_sql(fid: FieldId, columns: list[str] | None = None) -> str:
    """SQL for every PhotoObjAll row of one field.

    Examples
    --------
    >>> photoobj_field_sql(FieldId(4510, 4, 30), ["objID", "ra"])
    'SELECT objID, ra FROM PhotoObjAll WHERE run = 4510 AND rerun = 301 AND camcol = 4 AND field = 30'
    """
    return (
        _select("PhotoObjAll", PHOTOOBJ_COLUMNS, columns) + f" WHERE run = {fid.run:d} AND rerun = {fid.rerun:d}"
        f" AND camcol = {fid.camcol:d} AND field = {fid.field:d}"
    )


def specphoto_run_sql(run: int, rerun: int = 301, columns: list[str] | None = None) -> str:
    """SQL for every SpecPhoto row of one imaging run."""
    run = _check_int("run", run, 1, 999999)
    rerun = _check_int("rerun", rerun, 0, 9999)
    return _select("SpecPhoto", SPECPHOTO_COLUMNS, columns) + f" WHERE run = {run:d} AND rerun = {rerun:d}"


def field_table_sql(run: int, rerun: int = 301) -> str:
    """SQL for the fields of one imaging run (the Field table): the run's field index.

    Examples
    --------
    >>> field_table_sql(4510)
    'SELECT run, rerun, camcol, field FROM Field WHERE run = 4510 AND rerun = 301'
    """
    run = _check_int("run", run, 1, 999999)
    rerun = _check_int("rerun", rerun, 0, 9999)
    return _select("Field", FIELD_COLUMNS, None) + f" WHERE run = {run:d} AND rerun = {rerun:d}"
