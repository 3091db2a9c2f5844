"""Where frames come from: the SDSS Science Archive Server (``sas``) or a local mirror.

Both backends implement `FileSource.fetch`, which puts one verified file at the output path
or raises; a file that fails verification is never left at the output path (it is written to
a temporary name in the same directory and renamed only after verification).
"""

from __future__ import annotations

import logging
import os
import random
import shutil
import tempfile
import time
from pathlib import Path, PurePosixPath
from typing import Callable

from ..errors import DownloadError, FrameVerificationError
from .fields import SAS_BASE_URL, sas_url
from .frames import verify_frame_file, verify_jpeg_file

log = logging.getLogger(__name__)

#: HTTP statuses worth retrying: the archive's transient failures.
RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})


def verifier_for(relpath: PurePosixPath) -> Callable[[Path], None]:
    """The verification function for a SAS file, chosen by its name."""
    name = relpath.name
    if name.endswith(".fits.bz2") and name.startswith("frame-"):
        return verify_frame_file
    if name.endswith(".jpg"):
        return verify_jpeg_file
    if name.endswith(".fits"):
        from astropy.io import fits

        def verify_fits(path: Path) -> None:
            try:
                with fits.open(path) as hdul:
                    hdul.verify("exception")
            except Exception as exc:
                raise FrameVerificationError(f"{path}: not a valid FITS file ({exc})") from None

        return verify_fits
    raise FrameVerificationError(f"{relpath}: no verifier for this kind of file")


def _install_verified(tmp: Path, dest: Path, verify: Callable[[Path], None]) -> None:
    try:
        verify(tmp)
    except FrameVerificationError as exc:
        tmp.unlink(missing_ok=True)
        # Name the destination the user asked for, not our temporary file.
        raise FrameVerificationError(str(exc).replace(str(tmp), str(dest))) from None
    os.replace(tmp, dest)


def _temp_beside(dest: Path) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    # The temporary name ends with the real one, so checks that go by suffix (.bz2, .jpg) work.
    fd, name = tempfile.mkstemp(prefix=".part-", suffix=f"-{dest.name}", dir=dest.parent)
    os.close(fd)
    return Path(name)


class FileSource:
    """Interface: fetch a SAS-relative path into a local file, verified."""

    #: Whether a file, once fetched, can never change at the source. The SAS serves
    #: released data (immutable); a local mirror may be rewritten (the simulator does).
    immutable = False

    def fetch(self, relpath: PurePosixPath, dest: str | Path) -> Path:  # pragma: no cover
        raise NotImplementedError

    def exists(self, relpath: PurePosixPath) -> bool:  # pragma: no cover
        raise NotImplementedError


class MirrorSource(FileSource):
    """A local directory laid out like the SAS (``{root}/dr17/eboss/...``).

    Parameters
    ----------
    root : str or Path
        Directory whose ``dr17/eboss/...`` mirrors ``https://data.sdss.org/sas/dr17/eboss/...``.
    """

    def __init__(self, root: str | Path):
        self.root = Path(root)
        if not self.root.is_dir():
            raise DownloadError(f"mirror root {self.root} is not a directory")

    def path_of(self, relpath: PurePosixPath) -> Path:
        return self.root / Path(*relpath.parts)

    def exists(self, relpath: PurePosixPath) -> bool:
        return self.path_of(relpath).is_file()

    def fetch(self, relpath: PurePosixPath, dest: str | Path) -> Path:
        src = self.path_of(relpath)
        dest = Path(dest)
        if not src.is_file():
            raise DownloadError(f"{relpath}: not in mirror {self.root}")
        tmp = _temp_beside(dest)
        shutil.copyfile(src, tmp)
        _install_verified(tmp, dest, verifier_for(relpath))
        return dest


class SasSource(FileSource):
    """HTTP download from the SDSS Science Archive Server with retries.

    Parameters
    ----------
    base_url : str
        Archive root, ``https://data.sdss.org/sas`` by default.
    retries : int
        Attempts after the first one on a retryable HTTP status, a timeout or a dropped
        connection.
    backoff_s : float
        Base of the exponential backoff: the wait before attempt ``k`` (1-based retry) is
        ``backoff_s * 2**(k-1)`` seconds times a jitter factor in [0.5, 1].
    timeout_s : float
        Connect and read timeout of one request.
    session : requests.Session, optional
        Injected for connection reuse.
    sleep : callable
        ``time.sleep`` by default; tests pass a recorder.
    """

    immutable = True

    def __init__(
        self,
        base_url: str = SAS_BASE_URL,
        retries: int = 5,
        backoff_s: float = 2.0,
        timeout_s: float = 60.0,
        session=None,
        sleep: Callable[[float], None] = time.sleep,
        seed: int = 0,
    ):
        import requests

        self.base_url = base_url
        self.retries = retries
        self.backoff_s = backoff_s
        self.timeout_s = timeout_s
        self.session = session or requests.Session()
        self._sleep = sleep
        self._rng = random.Random(seed)

    def exists(self, relpath: PurePosixPath) -> bool:
        resp = self.session.head(sas_url(relpath, self.base_url), timeout=self.timeout_s)
        return resp.status_code == 200

    def _wait(self, attempt: int) -> float:
        delay = self.backoff_s * 2 ** (attempt - 1) * (0.5 + 0.5 * self._rng.random())
        self._sleep(delay)
        return delay

    def fetch(self, relpath: PurePosixPath, dest: str | Path) -> Path:
        import requests

        url = sas_url(relpath, self.base_url)
        dest = Path(dest)
        last_problem = "no attempt made"
        for attempt in range(self.retries + 1):
            if attempt:
                delay = self._wait(attempt)
                log.warning("retry %d/%d of %s in %.1f s (%s)", attempt, self.retries, url, delay, last_problem)
            tmp = _temp_beside(dest)
            try:
                with self.session.get(url, stream=True, timeout=self.timeout_s) as resp:
                    if resp.status_code in RETRYABLE_STATUS:
                        last_problem = f"HTTP {resp.status_code}"
                        tmp.unlink(missing_ok=True)
                        continue
                    if resp.status_code != 200:
                        tmp.unlink(missing_ok=True)
                        raise DownloadError(f"{url}: HTTP {resp.status_code}")
                    with open(tmp, "wb") as out:
                        for chunk in resp.iter_content(chunk_size=1 << 20):
                            out.write(chunk)
            except (requests.Timeout, requests.ConnectionError) as exc:
                last_problem = type(exc).__name__
                tmp.unlink(missing_ok=True)
                continue
            _install_verified(tmp, dest, verifier_for(relpath))
            return dest
        raise DownloadError(f"{url}: failed after {self.retries + 1} attempts ({last_problem})")


def make_source(
    kind: str,
    *,
    mirror_root: str | Path | None = None,
    base_url: str = SAS_BASE_URL,
    retries: int = 5,
    backoff_s: float = 2.0,
    timeout_s: float = 60.0,
) -> FileSource:
    """Build the frame source named in the config (``mirror`` or ``sas``)."""
    if kind == "mirror":
        if mirror_root is None:
            raise DownloadError("frame source 'mirror' needs sdss.mirror_root")
        return MirrorSource(mirror_root)
    if kind == "sas":
        return SasSource(base_url=base_url, retries=retries, backoff_s=backoff_s, timeout_s=timeout_s)
    raise DownloadError(f"unknown frame source {kind!r} (expected 'mirror' or 'sas')")
