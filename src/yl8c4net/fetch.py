"""Fetching one field's frames into the workflow's working area, with a manifest.

A field whose frames fail verification is *quarantined*: its manifest says so and why, the
bad file is not kept, and the rest of the survey goes on. A download that fails for network
reasons is not a bad field: it raises, so the job fails and can be retried.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from .errors import FrameVerificationError
from .io import sha256_of
from .sdss.fields import FieldId, frame_relpath, irg_jpeg_relpath
from .sdss.source import FileSource, verifier_for

log = logging.getLogger(__name__)
MANIFEST_VERSION = 1


def r_frame(manifest_path: str | Path):
    """The r-band `~yl8c4net.sdss.frames.Frame` of a fetched field, found through its manifest."""
    from .sdss.frames import read_frame

    manifest_path = Path(manifest_path)
    manifest = json.loads(manifest_path.read_text())
    return read_frame(manifest_path.parent / manifest["frames"]["r"]["file"])


def r_frame_wcs(manifest_path: str | Path):
    """The r-band frame's WCS of a fetched field, found through its manifest."""
    return r_frame(manifest_path).wcs


def _fetch_unless_present(source: FileSource, relpath, dest: Path) -> None:
    """Fetch a file, unless the archive is immutable and a verified copy is already there:
    a block job killed half-way then resumes without repeating its downloads."""
    if source.immutable and dest.is_file():
        try:
            verifier_for(relpath)(dest)
            log.info("%s already here and verified, not fetched again", dest.name)
            return
        except FrameVerificationError:
            dest.unlink()
    source.fetch(relpath, dest)


def fetch_field(fid: FieldId, source: FileSource, bands, outdir: str | Path, data_release: int = 17) -> dict:
    """Fetch ``bands`` frames and the irg JPEG (when the archive has one) of a field.

    Returns
    -------
    dict
        The manifest: ``status`` ("ok" or "quarantined"), ``reason``, ``frames``
        ({band: {"file", "sha256"}}), ``irg_jpeg`` (file name or None).
    """
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    manifest = {
        "version": MANIFEST_VERSION,
        "run": fid.run,
        "rerun": fid.rerun,
        "camcol": fid.camcol,
        "field": fid.field,
        "status": "ok",
        "reason": None,
        "frames": {},
        "irg_jpeg": None,
    }
    try:
        for band in bands:
            rel = frame_relpath(fid, band, data_release)
            dest = outdir / rel.name
            _fetch_unless_present(source, rel, dest)
            manifest["frames"][band] = {"file": rel.name, "sha256": sha256_of(dest)}
            log.info("%s: %s verified", fid, rel.name)
        jpeg = irg_jpeg_relpath(fid, data_release)
        if source.exists(jpeg):
            _fetch_unless_present(source, jpeg, outdir / jpeg.name)
            manifest["irg_jpeg"] = jpeg.name
        else:
            log.info("%s: no official irg JPEG; the composite will be built from the FITS frames", fid)
    except FrameVerificationError as exc:
        manifest["status"] = "quarantined"
        manifest["reason"] = str(exc)
        log.error("QUARANTINED %s: %s", fid, exc)
    return manifest
