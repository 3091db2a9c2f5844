"""The SAS backend against an HTTP server on 127.0.0.1."""

import numpy as np
import pytest

from yl8c4net.errors import DownloadError, FrameVerificationError
from yl8c4net.sdss.fields import FieldId, frame_relpath
from yl8c4net.sdss.frames import read_frame
from yl8c4net.sdss.source import SasSource
from conftest import LocalHTTPServer, make_frame_bytes

REL = frame_relpath(FieldId(4510, 4, 30), "r")
GOOD = make_frame_bytes(np.zeros((1489, 2048), np.float32))


def flaky(failures: list[int], payload=GOOD):
    """Answer the given statuses in turn, then 200 with ``payload``."""
    queue = list(failures)

    def handler(method, path, query, body, headers):
        assert path == "/sas/" + REL.as_posix()
        if queue:
            return queue.pop(0), b"busy"
        return 200, payload

    return handler


def test_retries_with_exponential_backoff_then_succeeds(tmp_path):
    waits = []
    with LocalHTTPServer(flaky([503, 500, 502])) as srv:
        src = SasSource(base_url=srv.url + "/sas", retries=4, backoff_s=1.0, sleep=waits.append, timeout_s=5)
        dest = src.fetch(REL, tmp_path / REL.name)
    assert len(srv.requests) == 4
    assert read_frame(dest).image.shape == (1489, 2048)
    # k-th retry waits backoff * 2**(k-1) times a jitter in [0.5, 1].
    for k, w in enumerate(waits, start=1):
        assert 0.5 * 2 ** (k - 1) <= w <= 2 ** (k - 1)
    assert waits[2] > waits[0]


def test_gives_up_after_the_retry_budget(tmp_path):
    with LocalHTTPServer(flaky([503] * 10)) as srv:
        src = SasSource(base_url=srv.url + "/sas", retries=2, backoff_s=0.0, sleep=lambda s: None, timeout_s=5)
        with pytest.raises(
            DownloadError, match=r"frame-r-004510-4-0030.fits.bz2: failed after 3 attempts \(HTTP 503\)"
        ):
            src.fetch(REL, tmp_path / REL.name)
    assert len(srv.requests) == 3
    assert list(tmp_path.iterdir()) == []


def test_not_found_is_not_retried(tmp_path):
    with LocalHTTPServer(flaky([404])) as srv:
        src = SasSource(base_url=srv.url + "/sas", retries=5, backoff_s=0.0, sleep=lambda s: None, timeout_s=5)
        with pytest.raises(DownloadError, match="HTTP 404"):
            src.fetch(REL, tmp_path / REL.name)
    assert len(srv.requests) == 1


def test_corrupt_download_is_never_left_at_the_output_path(tmp_path):
    with LocalHTTPServer(flaky([], payload=GOOD[: len(GOOD) // 3])) as srv:
        src = SasSource(base_url=srv.url + "/sas", retries=0, sleep=lambda s: None, timeout_s=5)
        with pytest.raises(FrameVerificationError, match=str(tmp_path / REL.name)):
            src.fetch(REL, tmp_path / REL.name)
    assert list(tmp_path.iterdir()) == []


def test_timeout_is_retried(tmp_path):
    import time

    calls = []

    def slow_then_fast(method, path, query, body, headers):
        calls.append(1)
        if len(calls) == 1:
            time.sleep(1.5)
        return 200, GOOD

    with LocalHTTPServer(slow_then_fast) as srv:
        src = SasSource(base_url=srv.url + "/sas", retries=2, backoff_s=0.0, sleep=lambda s: None, timeout_s=0.5)
        src.fetch(REL, tmp_path / REL.name)
    assert len(calls) == 2 and (tmp_path / REL.name).is_file()
