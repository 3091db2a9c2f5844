"""The SAS backend against an HTTP server on 127.0.0.1: urllib3's retry policy (statuses,
Retry-After, timeouts), cut-off bodies, existence checks, definite answers not retried."""

import time

import pytest

from yl8c4net.errors import DownloadError, FrameVerificationError, TransientError
from yl8c4net.sdss.fields import FieldId, frame_relpath
from yl8c4net.sdss.frames import read_frame
from yl8c4net.sdss.source import SasSource
from conftest import LocalHTTPServer, make_frame_bytes, sky_noise_image

REL = frame_relpath(FieldId(4510, 4, 30), "r")
GOOD = make_frame_bytes(sky_noise_image())


def flaky(failures: list, payload=GOOD):
    """Answer the given statuses (or full answers) in turn, then 200 with ``payload``."""
    queue = list(failures)

    def handler(method, path, query, body, headers):
        assert path == "/sas/" + REL.as_posix()
        if queue:
            answer = queue.pop(0)
            return answer if isinstance(answer, tuple) else (answer, b"busy")
        return 200, payload

    return handler


def _sas(srv, **kw):
    return SasSource(base_url=srv.url + "/sas", **{"retries": 4, "backoff_s": 0.0, "timeout_s": 5, **kw})


def test_transient_statuses_are_retried_with_exponential_backoff(tmp_path):
    with LocalHTTPServer(flaky([503, 500, 502])) as srv:
        t0 = time.perf_counter()
        dest = _sas(srv, backoff_s=0.1).fetch(REL, tmp_path / REL.name)
        elapsed = time.perf_counter() - t0
    assert len(srv.requests) == 4
    assert read_frame(dest).image.shape == (1489, 2048)
    # urllib3: no wait before the first retry, then 0.1 x 2 and 0.1 x 4 seconds.
    assert 0.6 <= elapsed < 3


def test_retry_after_is_honoured(tmp_path):
    with LocalHTTPServer(flaky([(503, b"busy", {"headers": {"Retry-After": "1"}})])) as srv:
        t0 = time.perf_counter()
        _sas(srv).fetch(REL, tmp_path / REL.name)
        elapsed = time.perf_counter() - t0
    assert len(srv.requests) == 2 and elapsed >= 1.0


def test_gives_up_after_the_retry_budget_as_a_transient_failure(tmp_path):
    with LocalHTTPServer(flaky([503] * 10)) as srv:
        with pytest.raises(TransientError, match=r"frame-r-004510-4-0030.fits.bz2: HTTP 503 after 3 attempts"):
            _sas(srv, retries=2).fetch(REL, tmp_path / REL.name)
    assert len(srv.requests) == 3
    assert list(tmp_path.iterdir()) == []


def test_not_found_is_not_retried(tmp_path):
    with LocalHTTPServer(flaky([404])) as srv:
        with pytest.raises(DownloadError, match="HTTP 404"):
            _sas(srv, retries=5).fetch(REL, tmp_path / REL.name)
    assert len(srv.requests) == 1


def test_corrupt_download_is_never_left_at_the_output_path(tmp_path):
    with LocalHTTPServer(flaky([], payload=GOOD[: len(GOOD) // 3])) as srv:
        # The error names what was fetched (the archive's URL), not a local temporary file.
        with pytest.raises(FrameVerificationError, match=f"^{srv.url}/sas/{REL}: bz2 stream is corrupt"):
            _sas(srv, retries=0).fetch(REL, tmp_path / REL.name)
    assert list(tmp_path.iterdir()) == []


def test_timeout_is_retried(tmp_path):
    calls = []

    def slow_then_fast(method, path, query, body, headers):
        calls.append(1)
        if len(calls) == 1:
            time.sleep(1.5)
        return 200, GOOD

    with LocalHTTPServer(slow_then_fast) as srv:
        _sas(srv, retries=2, timeout_s=0.5).fetch(REL, tmp_path / REL.name)
    assert len(calls) == 2 and (tmp_path / REL.name).is_file()


def test_a_body_cut_off_mid_download_is_retried_and_leaves_no_debris(tmp_path):
    cut = (200, GOOD, {"send_bytes": len(GOOD) // 2})
    with LocalHTTPServer(flaky([cut, cut])) as srv:
        dest = _sas(srv).fetch(REL, tmp_path / REL.name)
    assert len(srv.requests) == 3 and read_frame(dest).image.shape == (1489, 2048)
    assert [p.name for p in tmp_path.iterdir()] == [REL.name]
    with LocalHTTPServer(flaky([cut] * 10)) as srv:
        with pytest.raises(TransientError, match="body cut off on every attempt"):
            _sas(srv, retries=1).fetch(REL, tmp_path / "again" / REL.name)
    assert list((tmp_path / "again").iterdir()) == []


def test_existence_check_retries_and_never_calls_a_failure_absent():
    with LocalHTTPServer(flaky([503, 503])) as srv:
        assert _sas(srv).exists(REL) is True
        assert [r[0] for r in srv.requests] == ["HEAD"] * 3
    with LocalHTTPServer(flaky([404])) as srv:
        assert _sas(srv).exists(REL) is False
    with LocalHTTPServer(flaky([503] * 10)) as srv:
        with pytest.raises(TransientError, match="existence check: HTTP 503 after 3 attempts"):
            _sas(srv, retries=2).exists(REL)
