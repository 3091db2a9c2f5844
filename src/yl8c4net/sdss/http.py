"""One retry policy for every HTTP request of the package (SAS frames and JPEGs, SkyServer
and CasJobs queries): urllib3's `~urllib3.util.Retry` mounted on a `requests.Session`.

urllib3 retries connection errors, read timeouts and the archive's transient statuses
(408, 425, 429, 5xx) with exponential backoff, and honours a server's ``Retry-After``. A
body cut off mid-download happens after urllib3 has handed the response over, so
`SasSource` retries it itself with the same `Retry` object (`RetryPolicy.body_retry`).
"""

from __future__ import annotations

from dataclasses import dataclass

#: HTTP statuses worth retrying: the archive's and SkyServer's transient failures.
RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
RETRIED_METHODS = frozenset({"HEAD", "GET", "POST"})


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently one request is tried (config ``sdss.download``).

    Parameters
    ----------
    retries : int
        Tries after the first one.
    backoff_s : float
        urllib3's backoff factor, seconds: no wait before the first retry, then
        ``backoff_s * 2**(n-1)`` plus a random jitter of up to ``backoff_s / 2`` before the
        n-th, at most ``backoff_max_s``; a server's ``Retry-After`` takes precedence.
    timeout_s : float
        Connect and read timeout of one try, seconds.
    backoff_max_s : float
        Longest single wait, seconds (also caps ``Retry-After``).
    """

    retries: int = 5
    backoff_s: float = 2.0
    timeout_s: float = 60.0
    backoff_max_s: float = 120.0

    @classmethod
    def from_config(cls, download: dict) -> "RetryPolicy":
        return cls(download["retries"], download["backoff_s"], download["timeout_s"])

    def retry(self):
        """The urllib3 `Retry` of this policy."""
        from urllib3.util import Retry

        return Retry(
            total=self.retries,
            connect=self.retries,
            read=self.retries,
            status=self.retries,
            other=0,
            backoff_factor=self.backoff_s,
            backoff_max=self.backoff_max_s,
            # Up to half a backoff step of random extra wait, so that many cluster jobs
            # that failed together do not retry in lockstep.
            backoff_jitter=self.backoff_s / 2,
            status_forcelist=RETRYABLE_STATUS,
            allowed_methods=RETRIED_METHODS,
            respect_retry_after_header=True,
            raise_on_status=False,  # the last answer comes back; callers name its status
            raise_on_redirect=False,
        )

    def session(self, session=None):
        """``session`` (a new `requests.Session` if None) with this policy on http and https."""
        import requests
        from requests.adapters import HTTPAdapter

        session = session or requests.Session()
        adapter = HTTPAdapter(max_retries=self.retry())
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        return session


def attempts_of(response) -> int:
    """How many tries a response took (1 + urllib3's retry history)."""
    retries = getattr(getattr(response, "raw", None), "retries", None)
    return 1 + len(retries.history) if retries is not None else 1


def check_answer(response, what: str, definite_error) -> None:
    """Raise unless ``response`` is HTTP 200: a retryable status (still failing after the
    retries) is `~yl8c4net.errors.TransientError`, anything else ``definite_error`` (the
    caller's: a missing file or a refused query is a fault of the field)."""
    from yl8c4net.errors import TransientError

    status = response.status_code
    if status in RETRYABLE_STATUS:
        raise TransientError(f"{what}: HTTP {status} after {attempts_of(response)} attempts")
    if status != 200:
        raise definite_error(f"{what}: HTTP {status}")
