"""PhotoObjAll and SpecPhoto tables: SkyServer (SqlSearch, as astroquery asks it), CasJobs, or a local mirror.

Every backend returns a `pandas.DataFrame` with the pipeline's column names (see
`yl8c4net.sdss.sql`), validated by `validate_table`. Results are cached by the caller as
Parquet, one file per field (PhotoObjAll) or per run (SpecPhoto).
"""

from __future__ import annotations

import io
import logging
import os
import re
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd

from yl8c4net.errors import CatalogValidationError, QueryError, TransientError
from yl8c4net.sdss.fields import DATA_RELEASE, FieldId, _check_int, frame_relpath
from yl8c4net.sdss.http import RETRYABLE_STATUS, RetryPolicy, check_answer
from yl8c4net.sdss.sql import (
    FIELD_COLUMNS,
    PHOTOOBJ_COLUMNS,
    SPECPHOTO_COLUMNS,
    field_table_sql,
    photoobj_field_sql,
    specphoto_run_sql,
)

log = logging.getLogger(__name__)

PHOTOOBJ_DTYPES = {
    "objid": "int64",
    "run": "int32",
    "rerun": "int32",
    "camcol": "int16",
    "field": "int32",
    "ra": "float64",
    "dec": "float64",
    "type": "int16",
    "mode": "int16",
    "flags": "int64",
    "u": "float32",
    "g": "float32",
    "r": "float32",
    "i": "float32",
    "z": "float32",
    "err_u": "float32",
    "err_g": "float32",
    "err_r": "float32",
    "err_i": "float32",
    "err_z": "float32",
    "psfmag_u": "float32",
    "psfmag_g": "float32",
    "psfmag_r": "float32",
    "psfmag_i": "float32",
    "psfmag_z": "float32",
    "psfmagerr_u": "float32",
    "psfmagerr_g": "float32",
    "psfmagerr_r": "float32",
    "psfmagerr_i": "float32",
    "psfmagerr_z": "float32",
    "petror90_r": "float32",
}
#: PhotoObjAll ``flags`` bit SATURATED: the object holds saturated pixels.
PHOTO_FLAG_SATURATED = 1 << 18
SPECPHOTO_DTYPES = {
    "objid": "int64",
    "ra": "float64",
    "dec": "float64",
    "class": "string",
    "redshift": "float32",
    "zwarning": "int32",
    "r": "float32",
}
FIELD_DTYPES = {"run": "int32", "rerun": "int32", "camcol": "int16", "field": "int32"}
SPEC_CLASSES = ("GALAXY", "STAR", "QSO")


def empty_table(dtypes: dict[str, str]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series([], dtype=t) for c, t in dtypes.items()})


def validate_table(df: pd.DataFrame, dtypes: dict[str, str], source: str) -> pd.DataFrame:
    """Check a catalogue table's columns and values; return it with canonical dtypes.

    Raises
    ------
    CatalogValidationError
        Naming ``source`` and the first problem found: a missing column, a value that is not
        a number, ra outside [0, 360) or dec outside [-90, 90], an unknown spectral class.
    """
    missing = [c for c in dtypes if c not in df.columns]
    if missing:
        raise CatalogValidationError(f"{source}: missing column(s) {missing}")
    df = df[list(dtypes)].copy()
    for col, dtype in dtypes.items():
        if dtype == "string":
            df[col] = df[col].astype("string").str.strip().str.upper()
            continue
        values = pd.to_numeric(df[col], errors="coerce")
        bad = values.isna() & df[col].notna()
        if bad.any():
            raise CatalogValidationError(
                f"{source}: column {col} row {int(np.flatnonzero(bad.to_numpy())[0])} is not a number "
                f"({df[col][bad].iloc[0]!r})"
            )
        if dtype.startswith("int") and values.isna().any():
            raise CatalogValidationError(f"{source}: column {col} has empty values")
        df[col] = values.astype(dtype)
    if len(df) and "ra" in df:
        if not df["ra"].between(0, 360, inclusive="left").all():
            raise CatalogValidationError(f"{source}: ra outside [0, 360)")
        if not df["dec"].between(-90, 90).all():
            raise CatalogValidationError(f"{source}: dec outside [-90, 90]")
        if "class" in df:
            unknown = sorted(set(df["class"].dropna()) - set(SPEC_CLASSES))
            if unknown:
                raise CatalogValidationError(f"{source}: unknown spectral class(es) {unknown}")
    return df.reset_index(drop=True)


def _rename(table_or_df, mapping: dict[str, str]) -> pd.DataFrame:
    df = table_or_df if isinstance(table_or_df, pd.DataFrame) else table_or_df.to_pandas()
    # SkyServer echoes column names with the case of the database, which is not always the
    # case we asked for (objID vs objid): match case-insensitively.
    lower = {k.lower(): v for k, v in mapping.items()}
    return df.rename(columns={c: lower.get(c.lower(), c) for c in df.columns})


def skyserver_error_line(page: str) -> str:
    """The one informative line of a SkyServer HTML error page."""
    lines = [ln.strip() for ln in re.sub(r"<[^>]+>", "\n", page).splitlines() if ln.strip()]
    for k, ln in enumerate(lines):
        if re.match(r"(?i)error\s*:", ln):
            return ln[:200]
        if "following error" in ln and k + 1 < len(lines):
            return lines[k + 1][:200]
    useful = [ln for ln in lines if "rror" in ln and "error_message" not in ln]
    return (useful[0] if useful else " ".join(lines))[:200]


class CatalogBackend:
    """Interface of a catalogue source."""

    def photoobj_field(self, fid: FieldId) -> pd.DataFrame:  # pragma: no cover
        raise NotImplementedError

    def specphoto_run(self, run: int, rerun: int = 301) -> pd.DataFrame:  # pragma: no cover
        raise NotImplementedError

    def fields_of_run(self, run: int, rerun: int = 301) -> pd.DataFrame:  # pragma: no cover
        """The run's fields (columns run, rerun, camcol, field): its field index."""
        raise NotImplementedError


class _SqlBackend(CatalogBackend):
    def _query(self, sql: str) -> pd.DataFrame | None:  # pragma: no cover
        raise NotImplementedError

    def _table(self, sql: str, columns: dict, dtypes: dict, what: str) -> pd.DataFrame:
        """The answer to ``sql`` renamed and validated; an empty table (logged) for no rows."""
        df = self._query(sql)
        if df is None:
            log.warning("%s has no rows", what)
            return empty_table(dtypes)
        return validate_table(_rename(df, columns), dtypes, what)

    def photoobj_field(self, fid: FieldId) -> pd.DataFrame:
        return self._table(photoobj_field_sql(fid), PHOTOOBJ_COLUMNS, PHOTOOBJ_DTYPES, f"PhotoObjAll {fid}")

    def specphoto_run(self, run: int, rerun: int = 301) -> pd.DataFrame:
        return self._table(specphoto_run_sql(run, rerun), SPECPHOTO_COLUMNS, SPECPHOTO_DTYPES, f"SpecPhoto run {run}")

    def fields_of_run(self, run: int, rerun: int = 301) -> pd.DataFrame:
        sql = field_table_sql(run, rerun)
        df = self._query(sql)
        if df is None:
            raise QueryError(f"the Field table has no fields for run {run} rerun {rerun}")
        return validate_table(_rename(df, FIELD_COLUMNS), FIELD_DTYPES, f"Field run {run}")


class SkyServerBackend(_SqlBackend):
    """SkyServer SqlSearch, the request as astroquery's `astroquery.sdss.SDSSClass` forms it.

    The query string and the endpoint come from astroquery's public API
    (``query_sql_async(..., get_query_payload=True)``, ``QUERY_URL_SUFFIX_DR_NEW``); the
    request goes through this project's retry policy (`yl8c4net.sdss.http.RetryPolicy`),
    which astroquery's own session has no public hook for, and the CSV answer is read by
    astropy as astroquery reads it.

    Parameters
    ----------
    data_release : int
        SDSS data release, 17 by default.
    base_url : str, optional
        SkyServer root; astroquery's configured one (``https://skyserver.sdss.org``) if None.
    policy : RetryPolicy, optional
        Retries and the time limit of one query (120 s by default).
    """

    def __init__(self, data_release: int = 17, base_url: str | None = None, policy: RetryPolicy | None = None):
        self.data_release = data_release
        self.base_url = base_url
        self.policy = policy or RetryPolicy(timeout_s=120.0)

    def query_url(self) -> str:
        """The SqlSearch endpoint of this data release."""
        from astroquery.sdss import SDSSClass, conf

        root = (self.base_url or conf.skyserver_baseurl).rstrip("/")
        return root + SDSSClass.QUERY_URL_SUFFIX_DR_NEW.format(dr=self.data_release)

    def _query(self, sql: str) -> pd.DataFrame | None:
        import requests
        from astropy.table import Table
        from astroquery.sdss import SDSS

        payload = SDSS.query_sql_async(sql, data_release=self.data_release, get_query_payload=True)
        try:
            with self.policy.session() as session:
                response = session.get(self.query_url(), params=payload, timeout=self.policy.timeout_s)
        except requests.RequestException as exc:
            raise TransientError(
                f"SkyServer unreachable after {self.policy.retries + 1} attempts ({exc}): {sql}"
            ) from None
        check_answer(response, f"SkyServer query {sql}", QueryError)
        if "error_message" in response.text:
            raise QueryError(f"SkyServer rejected the query ({skyserver_error_line(response.text)}): {sql}")
        try:
            table = Table.read(response.text, format="ascii.csv", comment="#")
        except Exception as exc:  # astropy's CSV parser on a page that is not a table
            raise QueryError(
                f"SkyServer answer is not a table ({type(exc).__name__}: {str(exc)[:200]}): {sql}"
            ) from None
        return table.to_pandas() if len(table) else None


class CasJobsBackend(_SqlBackend):
    """CasJobs REST API (SciServer) for large queries.

    Credentials come only from the environment: ``CASJOBS_TOKEN`` (a SciServer
    authentication token). They are sent in the ``X-Auth-Token`` header and never logged.

    Parameters
    ----------
    base_url : str
        CasJobs REST root, ``https://skyserver.sdss.org/CasJobs/RestApi`` by default.
    context : str
        Database context, ``DR17``.
    """

    TOKEN_ENV = "CASJOBS_TOKEN"

    def __init__(
        self,
        base_url: str = "https://skyserver.sdss.org/CasJobs/RestApi",
        context: str = "DR17",
        policy: RetryPolicy | None = None,
    ):
        if context not in {"DR16", "DR17", "DR18"}:
            raise QueryError(f"CasJobs context {context!r} is not one of DR16, DR17, DR18")
        token = os.environ.get(self.TOKEN_ENV)
        if not token:
            raise QueryError(f"CasJobs backend needs the environment variable {self.TOKEN_ENV}")
        self._token = token
        self.base_url = base_url.rstrip("/")
        self.context = context
        self.policy = policy or RetryPolicy(timeout_s=600.0)

    def __repr__(self) -> str:  # never show the token
        return f"CasJobsBackend(base_url={self.base_url!r}, context={self.context!r})"

    def _query(self, sql: str) -> pd.DataFrame | None:
        import requests

        url = f"{self.base_url}/contexts/{self.context}/query"
        try:
            resp = self.policy.session().post(
                url,
                json={"Query": sql, "TaskName": "yl8c4net"},
                headers={"X-Auth-Token": self._token, "Accept": "text/plain"},
                timeout=self.policy.timeout_s,
            )
        except requests.RequestException as exc:
            raise TransientError(f"CasJobs unreachable ({type(exc).__name__}): {sql}") from None
        if resp.status_code in RETRYABLE_STATUS:
            check_answer(resp, f"CasJobs query {sql}", QueryError)
        if resp.status_code != 200:
            raise QueryError(f"CasJobs answered HTTP {resp.status_code}: {resp.text[:200]!r} for: {sql}")
        text = resp.text
        body = "\n".join(ln for ln in text.splitlines() if not ln.startswith("#"))
        if not body.strip():
            return None
        df = pd.read_csv(io.StringIO(body))
        return None if df.empty else df


def mirror_catalog_relpath(
    kind: str, fid: FieldId | None = None, run: int | None = None, rerun: int = 301
) -> PurePosixPath:
    """Where a mirror keeps its catalogue tables (not an SDSS path: SDSS serves these by SQL).

    ``catalogs/dr17/PhotoObjAll/{rerun}/{run}/{camcol}/photoObjAll-{run:06d}-{camcol}-{field:04d}.parquet``
    and ``catalogs/dr17/SpecPhoto/{rerun}/specPhoto-{run:06d}.parquet``.
    """
    if kind == "PhotoObjAll":
        return PurePosixPath(
            "catalogs",
            DATA_RELEASE,
            "PhotoObjAll",
            str(fid.rerun),
            str(fid.run),
            str(fid.camcol),
            f"photoObjAll-{fid.tag}.parquet",
        )
    if kind == "SpecPhoto":
        run = _check_int("run", run, 1, 999999)
        return PurePosixPath("catalogs", DATA_RELEASE, "SpecPhoto", str(int(rerun)), f"specPhoto-{run:06d}.parquet")
    raise QueryError(f"unknown catalogue kind {kind!r}")


#: Largest distance (deg) of a field's PhotoObjAll row from the rows' centre: a
#: frame spans 0.23 x 0.15 deg, so anything beyond half a degree is not in the field.
FIELD_RADIUS_DEG = 0.5


def checked_photoobj_field(backend: CatalogBackend, fid: FieldId) -> pd.DataFrame:
    """A field's PhotoObjAll rows, checked for content as well as format.

    Raises
    ------
    QueryError
        The answer has no rows (every SDSS field has catalogued objects; an empty answer
        would move all the field's sources to the unmatched table).
    CatalogValidationError
        Rows that belong to another run/camcol/field, or lie outside the field's footprint.
    """
    table = backend.photoobj_field(fid)
    if len(table) == 0:
        raise QueryError(f"PhotoObjAll {fid}: the answer has 0 rows (every SDSS field has catalogued objects)")
    ident = table[["run", "camcol", "field"]].to_numpy()
    foreign = int((ident != (fid.run, fid.camcol, fid.field)).any(axis=1).sum())
    if foreign:
        raise CatalogValidationError(f"PhotoObjAll {fid}: {foreign} of {len(table)} rows belong to other fields")
    ra, dec = table["ra"].to_numpy(float), table["dec"].to_numpy(float)
    # The rows' centre: a circular mean in RA (a field may straddle RA 0), the median in Dec.
    ra0 = np.degrees(np.arctan2(np.sin(np.radians(ra)).mean(), np.cos(np.radians(ra)).mean()))
    dec0 = np.median(dec)
    dra = (ra - ra0 + 180.0) % 360.0 - 180.0
    far = int((np.hypot(dra * np.cos(np.radians(dec0)), dec - dec0) > FIELD_RADIUS_DEG).sum())
    if far:
        raise CatalogValidationError(
            f"PhotoObjAll {fid}: {far} of {len(table)} rows lie more than {FIELD_RADIUS_DEG} deg from the field"
        )
    return table


def checked_specphoto_run(backend: CatalogBackend, run: int, rerun: int = 301, classes=SPEC_CLASSES) -> pd.DataFrame:
    """A run's SpecPhoto rows, which must hold every class the classifier learns.

    Raises
    ------
    QueryError
        A class is missing from the answer (a classifier cannot be trained on this run).
    """
    table = backend.specphoto_run(run, rerun)
    missing = sorted(set(classes) - set(table["class"].astype(str)))
    if missing:
        raise QueryError(f"SpecPhoto run {run}: the answer ({len(table)} rows) has no {', '.join(missing)} spectra")
    return table


class MirrorCatalogBackend(CatalogBackend):
    """Catalogue tables stored as Parquet in a local SAS-layout mirror."""

    def __init__(self, root: str | Path, data_release: int = 17):
        self.root = Path(root)
        self.data_release = data_release

    def _read(self, rel: PurePosixPath, dtypes, what: str) -> pd.DataFrame:
        from yl8c4net.sdss.source import mirror_file

        path = mirror_file(self.root, rel)  # TransientError when the storage is away
        if path is None:
            raise QueryError(f"{what}: {self.root / Path(*rel.parts)} is not in the mirror")
        try:
            df = pd.read_parquet(path)
        except OSError as exc:
            if exc.errno is not None:  # an I/O error of the storage, not a bad table
                raise TransientError(f"{path}: could not be read ({exc.strerror})") from None
            raise CatalogValidationError(f"{path}: not a readable Parquet file ({exc})") from None
        except Exception as exc:
            raise CatalogValidationError(f"{path}: not a readable Parquet file ({exc})") from None
        return validate_table(df, dtypes, str(path))

    def photoobj_field(self, fid: FieldId) -> pd.DataFrame:
        return self._read(mirror_catalog_relpath("PhotoObjAll", fid), PHOTOOBJ_DTYPES, f"PhotoObjAll {fid}")

    def specphoto_run(self, run: int, rerun: int = 301) -> pd.DataFrame:
        return self._read(
            mirror_catalog_relpath("SpecPhoto", run=run, rerun=rerun), SPECPHOTO_DTYPES, f"SpecPhoto run {run}"
        )

    def fields_of_run(self, run: int, rerun: int = 301) -> pd.DataFrame:
        """The mirror's listing: every field with an r frame, in every camcol of the run."""
        rows = []
        for camcol in range(1, 7):
            folder = self.root / Path(
                *frame_relpath(FieldId(run, camcol, 0, rerun), "r", self.data_release).parent.parts
            )
            for frame in folder.glob(f"frame-r-{int(run):06d}-{camcol}-*.fits.bz2"):
                rows.append((run, rerun, camcol, int(frame.name.split("-")[-1].split(".")[0])))
        if not rows:
            raise QueryError(f"the mirror {self.root} has no r frames of run {run} rerun {rerun}")
        return validate_table(pd.DataFrame(rows, columns=list(FIELD_DTYPES)), FIELD_DTYPES, f"mirror run {run}")


def make_catalog_backend(
    kind: str, *, mirror_root=None, skyserver_url=None, data_release=17, policy: RetryPolicy | None = None
) -> CatalogBackend:
    """Build the catalogue backend named in the config (``mirror``, ``skyserver`` or ``casjobs``)."""
    if kind == "mirror":
        if mirror_root is None:
            raise QueryError("catalogue backend 'mirror' needs sdss.mirror_root")
        return MirrorCatalogBackend(mirror_root, data_release)
    if kind == "skyserver":
        return SkyServerBackend(data_release=data_release, base_url=skyserver_url, policy=policy)
    if kind == "casjobs":
        return CasJobsBackend(context=f"DR{int(data_release)}", policy=policy)
    raise QueryError(f"unknown catalogue backend {kind!r} (expected mirror, skyserver or casjobs)")
