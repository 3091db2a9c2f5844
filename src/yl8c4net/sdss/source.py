"""Where frames come from: the SDSS Science Archive Server (``sas``) or a local mirror.

Both backends implement `FileSource.fetch`, which puts one verified file at the output path
or raises; a file that fails verification is never left at the output path (it is written to
a temporary name in the same directory and renamed only after verification). The check is
the one `verifier_for` picks by the file's name, unless the caller passes its own (the fetch
passes one that also keeps a frame's decompressed bytes, `yl8c4net.sdss.fetch`).
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path, PurePosixPath
from typing import Callable

from yl8c4net.errors import DownloadError, FrameVerificationError, TransientError
from yl8c4net.sdss.fields import SAS_BASE_URL, sas_url
from yl8c4net.sdss.frames import verify_frame_file, verify_jpeg_file
from yl8c4net.sdss.http import RetryPolicy, check_answer

log = logging.getLogger(__name__)


def verifier_for(relpath: PurePosixPath) -> Callable[[Path], None]:
    """The verification function for a SAS file, chosen by its name."""
    name = relpath.name
    if name.endswith(".fits.bz2") and name.startswith("frame-"):
        return verify_frame_file
    if name.endswith(".jpg"):
        return verify_jpeg_file
    if name.startswith("asTrans-") and name.endswith(".fit"):
        from yl8c4net.sdss.astrom import verify_astrans_file

        return verify_astrans_file
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


def _current_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


#: The process's umask, read once (reading it means setting it, which is not thread-safe).
_UMASK = _current_umask()


def _install_verified(tmp: Path, dest: Path, verify: Callable[[Path], None], source: str) -> None:
    """Verify ``tmp`` and rename it to ``dest``, readable as the user's umask says (the
    temporary file was created private); a file that fails is removed, and the error names
    ``source``, the file to repair (the mirror's file or the archive's URL)."""
    try:
        verify(tmp)
    except FrameVerificationError as exc:
        tmp.unlink(missing_ok=True)
        raise FrameVerificationError(str(exc).replace(str(tmp), source)) from None
    os.chmod(tmp, 0o666 & ~_UMASK)
    os.replace(tmp, dest)


def _temp_beside(dest: Path) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    # The temporary name ends with the real one, so checks that go by suffix (.bz2, .jpg) work.
    fd, name = tempfile.mkstemp(prefix=".part-", suffix=f"-{dest.name}", dir=dest.parent)
    os.close(fd)
    return Path(name)


def check_mirror_root(root: Path) -> None:
    """A mirror root that is missing or unreadable is an outage of the storage (an unmounted
    disk, a network file system down): `TransientError`, so that no field is quarantined."""
    if not root.is_dir() or not os.access(root, os.R_OK | os.X_OK):
        raise TransientError(f"mirror root {root} is missing or unreadable (storage not mounted?)")


def mirror_file(root: Path, relpath: PurePosixPath) -> Path | None:
    """The mirror's file for ``relpath``, or None when the mirror does not have it.

    A missing file is the data's fault (the field is quarantined); a link whose target is
    gone, or a root that vanished, is the storage's (`TransientError`: the job fails and the
    rerun after the repair finishes the work)."""
    path = root / Path(*relpath.parts)
    if path.is_file():
        return path
    if path.is_symlink():
        raise TransientError(f"{path}: a link to a file that is not there (storage not mounted?)")
    check_mirror_root(root)
    return None


class FileSource:
    """Interface: fetch a SAS-relative path into a local file, verified."""

    #: Whether a file, once fetched, can never change at the source. The SAS serves
    #: released data (immutable); a local mirror may be rewritten (the simulator does).
    immutable = False

    def fetch(
        self, relpath: PurePosixPath, dest: str | Path, verify: Callable[[Path], None] | None = None
    ) -> Path:  # pragma: no cover
        """Put the verified file ``relpath`` at ``dest``; ``verify`` (default: `verifier_for`)
        is called on the downloaded file before it takes the name ``dest``."""
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
        check_mirror_root(self.root)

    def path_of(self, relpath: PurePosixPath) -> Path:
        return self.root / Path(*relpath.parts)

    def exists(self, relpath: PurePosixPath) -> bool:
        return mirror_file(self.root, relpath) is not None

    def fetch(self, relpath: PurePosixPath, dest: str | Path, verify: Callable[[Path], None] | None = None) -> Path:
        src = mirror_file(self.root, relpath)
        dest = Path(dest)
        if src is None:
            raise DownloadError(f"{self.path_of(relpath)}: not in mirror {self.root}")
        tmp = _temp_beside(dest)
        try:
            shutil.copyfile(src, tmp)
        except OSError as exc:  # an I/O error of the storage, not a fault of the data
            tmp.unlink(missing_ok=True)
            raise TransientError(f"{src}: could not be read ({exc.strerror or exc})") from None
        _install_verified(tmp, dest, verify or verifier_for(relpath), str(src))
        return dest


class SasSource(FileSource):
    """HTTP download from the SDSS Science Archive Server, retried by `RetryPolicy`.

    Parameters
    ----------
    base_url : str
        Archive root, ``https://data.sdss.org/sas`` by default.
    retries, backoff_s, timeout_s
        The `~yl8c4net.sdss.http.RetryPolicy` of every request (config ``sdss.download``).
    session : requests.Session, optional
        Injected for connection reuse; the retry policy is mounted on it.
    """

    immutable = True

    def __init__(
        self,
        base_url: str = SAS_BASE_URL,
        retries: int = 5,
        backoff_s: float = 2.0,
        timeout_s: float = 60.0,
        session=None,
    ):
        self.base_url = base_url
        self.policy = RetryPolicy(retries, backoff_s, timeout_s)
        self.session = self.policy.session(session)

    def exists(self, relpath: PurePosixPath) -> bool:
        """Whether the archive has the file: 200 yes, 404 no; anything else (after the
        retries) raises `TransientError` rather than silently calling the file absent."""
        import requests

        url = sas_url(relpath, self.base_url)
        try:
            resp = self.session.head(url, timeout=self.policy.timeout_s, allow_redirects=True)
        except requests.RequestException as exc:
            raise TransientError(f"{url}: existence check failed ({_reason(exc)})") from None
        if resp.status_code in (404, 410):
            return False
        check_answer(resp, f"{url}: existence check", DownloadError)
        return True

    def fetch(self, relpath: PurePosixPath, dest: str | Path, verify: Callable[[Path], None] | None = None) -> Path:
        import requests
        from urllib3.exceptions import MaxRetryError, ProtocolError

        url = sas_url(relpath, self.base_url)
        dest = Path(dest)
        body_retry = self.policy.retry()
        while True:
            tmp = _temp_beside(dest)
            try:
                try:
                    resp = self.session.get(url, stream=True, timeout=self.policy.timeout_s)
                except requests.RequestException as exc:
                    raise TransientError(
                        f"{url}: failed after {self.policy.retries + 1} attempts ({_reason(exc)})"
                    ) from None
                with resp:
                    check_answer(resp, url, DownloadError)
                    try:
                        with open(tmp, "wb") as out:
                            for chunk in resp.iter_content(chunk_size=1 << 20):
                                out.write(chunk)
                    except (requests.exceptions.ChunkedEncodingError, requests.ConnectionError) as exc:
                        # The body was cut off: retried here, on the same budget and backoff.
                        tmp.unlink(missing_ok=True)
                        try:
                            body_retry = body_retry.increment("GET", url, error=ProtocolError(str(exc)))
                        except MaxRetryError:
                            raise TransientError(f"{url}: body cut off on every attempt ({_reason(exc)})") from None
                        log.warning("retrying %s: body cut off (%s)", url, _reason(exc))
                        body_retry.sleep()
                        continue
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
            _install_verified(tmp, dest, verify or verifier_for(relpath), url)
            return dest


def _reason(exc: Exception) -> str:
    """The innermost cause of a requests/urllib3 error, one line."""
    inner = getattr(exc, "args", [None])[0]
    reason = getattr(inner, "reason", None) or inner or exc
    return f"{type(exc).__name__}: {str(reason).splitlines()[0][:160]}"


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
