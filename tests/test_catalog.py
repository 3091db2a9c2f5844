"""Catalogue queries: SQL building, SkyServer through astroquery against recorded-format
answers served on 127.0.0.1, CasJobs with an environment token, the mirror backend."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from yl8c4net.pipeline.blocks import FIELD_ERRORS
from yl8c4net.errors import BadFieldError, CatalogValidationError, QueryError, TransientError
from yl8c4net.sdss.http import RetryPolicy
from yl8c4net.sdss.queries import (
    PHOTOOBJ_DTYPES,
    CatalogBackend,
    CasJobsBackend,
    checked_photoobj_field,
    checked_specphoto_run,
    MirrorCatalogBackend,
    SkyServerBackend,
    validate_table,
)
from yl8c4net.sdss.fields import FieldId
from yl8c4net.sdss.sql import photoobj_field_sql, specphoto_run_sql
from conftest import LocalHTTPServer

FIX = Path(__file__).parent / "fixtures" / "skyserver"


def skyserver(method, path, query, body, headers):
    assert path == "/dr17/en/tools/search/x_results.aspx"
    assert query["format"] == "csv" and query["searchtool"] == "SQL"
    sql = query["cmd"]
    if "FROM SpecPhoto" in sql:
        return 200, (FIX / "specphoto_4510.csv").read_bytes()
    if "field = 30" in sql:
        return 200, (FIX / "photoobj_4510_4_30.csv").read_bytes()
    if "field = 31" in sql:
        return 200, (FIX / "empty.csv").read_bytes()
    return 200, (FIX / "error.html").read_bytes()


def test_sql_is_built_from_integers_and_whitelisted_columns():
    sql = photoobj_field_sql(FieldId(4510, 4, 30))
    assert sql.startswith("SELECT objID, run, rerun, camcol, field, ra, dec, type, mode, flags, modelMag_u")
    assert sql.endswith("FROM PhotoObjAll WHERE run = 4510 AND rerun = 301 AND camcol = 4 AND field = 30")
    assert "[class]" in specphoto_run_sql(4510)
    with pytest.raises(BadFieldError, match="not allowed"):
        photoobj_field_sql(FieldId(4510, 4, 30), ["objID", "ra; DROP TABLE x"])
    with pytest.raises(BadFieldError, match="run must be an integer"):
        specphoto_run_sql("4510 OR 1=1")


def test_skyserver_photoobj_rows_are_parsed_and_typed():
    with LocalHTTPServer(skyserver) as srv:
        df = SkyServerBackend(base_url=srv.url).photoobj_field(FieldId(4510, 4, 30))
    assert list(df.columns) == list(PHOTOOBJ_DTYPES)
    assert len(df) == 4
    assert df["objid"].iloc[0] == 1237665128003731457  # 64-bit IDs survive the CSV round trip
    assert df["type"].tolist() == [6, 3, 6, 3]
    assert df["r"].iloc[1] == pytest.approx(19.10321, abs=1e-5)
    assert df["petror90_r"].dtype == np.float32


def test_skyserver_empty_answer_gives_an_empty_table():
    with LocalHTTPServer(skyserver) as srv:
        df = SkyServerBackend(base_url=srv.url).photoobj_field(FieldId(4510, 4, 31))
    assert len(df) == 0 and list(df.columns) == list(PHOTOOBJ_DTYPES)


def test_skyserver_error_page_is_one_clear_line():
    with LocalHTTPServer(skyserver) as srv:
        with pytest.raises(QueryError) as err:
            SkyServerBackend(base_url=srv.url).photoobj_field(FieldId(4510, 4, 32))
    msg = str(err.value)
    assert "\n" not in msg
    assert "Invalid column name" in msg and "field = 32" in msg


def test_skyserver_specphoto_classes():
    with LocalHTTPServer(skyserver) as srv:
        df = SkyServerBackend(base_url=srv.url).specphoto_run(4510)
    assert df["class"].tolist() == ["STAR", "GALAXY", "QSO", "GALAXY"]
    assert df["zwarning"].tolist() == [0, 0, 0, 4]


def _failing_then(handler, statuses):
    """``handler`` behind a server that first answers the given statuses."""
    queue = list(statuses)

    def answer(method, path, query, body, headers):
        return (
            (queue.pop(0), b"<html>Service Unavailable</html>")
            if queue
            else handler(method, path, query, body, headers)
        )

    return answer


def test_skyserver_queries_are_retried_like_downloads():
    """Fails twice, then answers: the rows arrive (one retry policy, urllib3's Retry)."""
    policy = RetryPolicy(retries=3, backoff_s=0.0, timeout_s=5)
    with LocalHTTPServer(_failing_then(skyserver, [503, 502])) as srv:
        df = SkyServerBackend(base_url=srv.url, policy=policy).photoobj_field(FieldId(4510, 4, 30))
    assert len(srv.requests) == 3 and len(df) == 4
    # Still failing after the retries: a transient error (the job fails), not bad data.
    with LocalHTTPServer(_failing_then(skyserver, [503] * 10)) as srv:
        with pytest.raises(TransientError, match="HTTP 503 after 4 attempts") as err:
            SkyServerBackend(base_url=srv.url, policy=policy).photoobj_field(FieldId(4510, 4, 30))
    assert not isinstance(err.value, FIELD_ERRORS)


def test_casjobs_queries_are_retried(monkeypatch):
    monkeypatch.setenv("CASJOBS_TOKEN", "s3cret-token")

    def casjobs(method, path, query, body, headers):
        return 200, (FIX / "specphoto_4510.csv").read_bytes()

    policy = RetryPolicy(retries=2, backoff_s=0.0, timeout_s=5)
    with LocalHTTPServer(_failing_then(casjobs, [500, 503])) as srv:
        df = CasJobsBackend(base_url=srv.url + "/CasJobs/RestApi", policy=policy).specphoto_run(4510)
    assert len(srv.requests) == 3 and len(df) == 4


def test_casjobs_needs_a_token_and_never_shows_it(monkeypatch):
    monkeypatch.delenv("CASJOBS_TOKEN", raising=False)
    with pytest.raises(QueryError, match="CASJOBS_TOKEN"):
        CasJobsBackend()
    monkeypatch.setenv("CASJOBS_TOKEN", "s3cret-token")
    seen = []

    def casjobs(method, path, query, body, headers):
        seen.append((path, headers.get("X-Auth-Token"), body))
        return 200, (FIX / "specphoto_4510.csv").read_bytes()

    with LocalHTTPServer(casjobs) as srv:
        backend = CasJobsBackend(base_url=srv.url + "/CasJobs/RestApi")
        df = backend.specphoto_run(4510)
    assert len(df) == 4
    assert seen[0][0] == "/CasJobs/RestApi/contexts/DR17/query" and seen[0][1] == "s3cret-token"
    assert b"FROM SpecPhoto WHERE run = 4510" in seen[0][2]
    assert "s3cret" not in repr(backend)


def test_validation_names_the_bad_column():
    df = pd.read_csv(FIX / "photoobj_4510_4_30.csv", comment="#")
    df = df.rename(columns={"objID": "objid", "modelMag_r": "r"})
    with pytest.raises(CatalogValidationError, match=r"missing column\(s\)"):
        validate_table(df, PHOTOOBJ_DTYPES, "x.csv")
    good = pd.DataFrame({c: [1] for c in PHOTOOBJ_DTYPES})
    good.loc[0, "ra"] = 400.0
    with pytest.raises(CatalogValidationError, match="ra outside"):
        validate_table(good, PHOTOOBJ_DTYPES, "x.parquet")
    good["ra"] = good["ra"].astype(object)
    good.loc[0, "ra"] = "abc"
    with pytest.raises(CatalogValidationError, match="column ra row 0 is not a number"):
        validate_table(good, PHOTOOBJ_DTYPES, "x.parquet")


def test_mirror_backend_reports_missing_and_corrupt_files(tmp_path):
    backend = MirrorCatalogBackend(tmp_path)
    with pytest.raises(QueryError, match="is not in the mirror"):
        backend.photoobj_field(FieldId(1, 1, 1))
    rel = tmp_path / "catalogs/dr17/PhotoObjAll/301/1/1/photoObjAll-000001-1-0001.parquet"
    rel.parent.mkdir(parents=True)
    rel.write_bytes(b"PAR1 garbage")
    with pytest.raises(CatalogValidationError, match="not a readable Parquet file"):
        backend.photoobj_field(FieldId(1, 1, 1))


def test_mirror_storage_outages_are_transient_and_missing_tables_are_the_datas_fault(tmp_path):
    """A dangling link (an unmounted disk behind it) or a vanished mirror root fails the job
    (TransientError: nothing is quarantined, the rerun after the repair finishes); a table the
    mirror does not have is that field's fault (QueryError: the field is quarantined)."""
    from yl8c4net.errors import TransientError

    mirror = tmp_path / "mirror"
    rel = mirror / "catalogs/dr17/PhotoObjAll/301/1/1/photoObjAll-000001-1-0001.parquet"
    rel.parent.mkdir(parents=True)
    backend = MirrorCatalogBackend(mirror)
    with pytest.raises(QueryError, match="is not in the mirror"):
        backend.photoobj_field(FieldId(1, 1, 1))
    rel.symlink_to(tmp_path / "unmounted" / "disk.parquet")
    with pytest.raises(TransientError, match="a link to a file that is not there"):
        backend.photoobj_field(FieldId(1, 1, 1))
    gone = MirrorCatalogBackend(tmp_path / "not-mounted")
    with pytest.raises(TransientError, match="is missing or unreadable"):
        gone.photoobj_field(FieldId(1, 1, 2))


class _OneAnswer(CatalogBackend):
    """A backend that answers every PhotoObjAll / SpecPhoto query with a given table."""

    def __init__(self, table):
        self.table = table

    def photoobj_field(self, fid):
        return self.table

    def specphoto_run(self, run, rerun=301):
        return self.table


def _photoobj_rows(n=50, run=4510, camcol=4, field=30, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            **{c: np.zeros(n, t) for c, t in PHOTOOBJ_DTYPES.items()},
            "run": run,
            "camcol": camcol,
            "field": field,
            "ra": 10 + rng.random(n) * 0.2,
            "dec": rng.random(n) * 0.15,
        }
    )


def test_photoobj_answers_are_checked_for_content_and_quarantine_the_field(tmp_path):
    """Trial 3 of issue 18: an empty PhotoObjAll answer was accepted and moved 306 real
    sources to the unmatched table. Empty, foreign or off-field answers now quarantine."""
    fid = FieldId(4510, 4, 30)
    good = _photoobj_rows()
    assert checked_photoobj_field(_OneAnswer(good), fid) is good
    cases = {
        "the answer has 0 rows": good.iloc[:0],
        "3 of 50 rows belong to other fields": good.assign(field=np.r_[np.full(47, 30), [31, 31, 31]]),
        "2 of 50 rows lie more than 0.5 deg from the field": good.assign(dec=np.r_[good["dec"][:48], [5.0, -3.0]]),
    }
    for reason, table in cases.items():
        with pytest.raises(FIELD_ERRORS, match=reason):
            checked_photoobj_field(_OneAnswer(table), fid)
    # Near RA = 0 the field wraps: rows at 359.95 and 0.05 deg are one field.
    wrapped = good.assign(ra=np.where(np.arange(50) % 2, 359.95, 0.05))
    assert len(checked_photoobj_field(_OneAnswer(wrapped), fid)) == 50


def test_specphoto_answer_without_a_class_is_refused():
    table = pd.DataFrame({"class": ["STAR", "GALAXY", "GALAXY"]})
    with pytest.raises(QueryError, match=r"SpecPhoto run 4510: the answer \(3 rows\) has no QSO spectra"):
        checked_specphoto_run(_OneAnswer(table), 4510)
    full = pd.DataFrame({"class": ["STAR", "GALAXY", "QSO"]})
    assert checked_specphoto_run(_OneAnswer(full), 4510) is full
