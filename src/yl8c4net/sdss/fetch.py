"""Fetching one field's frames into the workflow's working area, with a manifest.

A field whose frames fail verification is *quarantined*: its manifest says so and why, the
bad file is not kept, and the rest of the survey goes on. A download that fails for network
reasons is not a bad field: it raises, so the job fails and can be retried.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Callable

from yl8c4net.errors import FrameVerificationError
from yl8c4net.io import sha256_of
from yl8c4net.sdss.fields import FRAME_SHAPE_XY, FieldId, frame_relpath, irg_jpeg_relpath
from yl8c4net.sdss.source import FileSource, verifier_for

log = logging.getLogger(__name__)
MANIFEST_VERSION = 1


def r_frame(manifest_path: str | Path):
    """The r-band `~yl8c4net.sdss.frames.Frame` of a fetched field, found through its manifest."""
    return band_frame(manifest_path, "r")


def band_frame(manifest_path: str | Path, band: str):
    """The ``band`` `~yl8c4net.sdss.frames.Frame` of a fetched field, found through its manifest."""
    from yl8c4net.sdss.frames import read_frame

    manifest_path = Path(manifest_path)
    manifest = json.loads(manifest_path.read_text())
    return read_frame(frame_file(manifest_path.parent, manifest["frames"][band]))


def frame_file(field_dir: str | Path, entry: dict) -> Path:
    """The file to read a fetched frame from: its uncompressed copy when the fetch wrote one
    (``sdss.frame_storage: fits``), else the archive's bz2 file.

    Parameters
    ----------
    field_dir : str or Path
        The field's directory (its manifest's).
    entry : dict
        The band's entry in the manifest's ``frames``.
    """
    field_dir = Path(field_dir)
    plain = entry.get("uncompressed")
    if plain:
        if (field_dir / plain).is_file():
            return field_dir / plain
        log.warning("%s: uncompressed copy missing, reading %s", field_dir / plain, entry["file"])
    return field_dir / entry["file"]


def fetched_bands(manifest_path: str | Path) -> list[str]:
    """The bands whose FITS frames a fetched field has, in ugriz order."""
    frames = json.loads(Path(manifest_path).read_text())["frames"]
    return [b for b in "ugriz" if b in frames]


def fetched_r_frame(manifest_path: str | Path) -> bool:
    """Whether a fetched field has its r frame (not in lean mode, or a field without JPEG)."""
    return "r" in json.loads(Path(manifest_path).read_text())["frames"]


def field_wcs(manifest_path: str | Path):
    """The WCS of a fetched field's r-band pixel grid: the r frame's own, or, in lean mode
    (no r frame fetched), the one fitted to the run's asTrans and kept in the manifest."""
    manifest_path = Path(manifest_path)
    manifest = json.loads(manifest_path.read_text())
    if "r" in manifest["frames"]:
        return r_frame(manifest_path).wcs
    if not manifest.get("wcs"):
        raise FrameVerificationError(f"{manifest_path}: neither an r frame nor an asTrans WCS was fetched")
    from astropy.io import fits
    from astropy.wcs import WCS

    wcs = WCS(fits.Header.fromstring(manifest["wcs"]["header"]))
    wcs.pixel_shape = FRAME_SHAPE_XY
    return wcs


def uncompressed_path(path: Path) -> Path:
    """Where the uncompressed copy of the bz2 frame ``path`` is kept: beside it, without ``.bz2``."""
    return path.with_name(path.name.removesuffix(".bz2"))


def verifier_keeping_uncompressed(plain: Path) -> Callable[[Path], None]:
    """A frame check that also keeps what it decompressed: it writes the bz2 file's content
    to ``plain`` (atomically) and verifies that copy, so a fetched frame is decompressed once.

    A file that fails leaves no copy at ``plain``; the error names the file checked.
    """
    from yl8c4net.io import atomic_output
    from yl8c4net.sdss.frames import frame_bytes, verify_frame_file

    def verify(path: Path) -> None:
        try:
            with atomic_output(plain) as tmp:
                Path(tmp).write_bytes(frame_bytes(Path(path)))
                try:
                    verify_frame_file(tmp)
                except FrameVerificationError as exc:
                    raise FrameVerificationError(str(exc).replace(str(tmp), str(path))) from None
        except FrameVerificationError:
            plain.unlink(missing_ok=True)
            raise

    return verify


def _fetch_unless_present(
    source: FileSource, relpath, dest: Path, verify: Callable[[Path], None] | None = None
) -> None:
    """Fetch a file, unless the archive is immutable and a verified copy is already there:
    a block job killed half-way then resumes without repeating its downloads. ``verify``
    replaces the check `verifier_for` picks (see `verifier_keeping_uncompressed`)."""
    verify = verify or verifier_for(relpath)
    if source.immutable and dest.is_file():
        try:
            verify(dest)
            log.info("%s already here and verified, not fetched again", dest.name)
            return
        except FrameVerificationError:
            dest.unlink()
    source.fetch(relpath, dest, verify)


#: Bands a composite needs from the FITS frames when a field has no usable irg JPEG
#: (r is always fetched: its WCS and pixels place every detection).
COMPOSITE_BANDS = ("g", "r", "i")


def frame_bands(bands, use_official_jpeg: bool = True, extra_bands=(), lean: bool = False) -> tuple[str, ...]:
    """The bands every field of a run fetches, in ugriz order.

    Parameters
    ----------
    bands : "auto" or sequence of str
        ``sdss.bands``. ``"auto"`` is what the stages read: r (WCS, centroids, the bright-source
        complement), the ``extra_bands`` image channels, and g and i when the composite is
        built from the FITS frames instead of SDSS's irg JPEG. A list is fetched as given,
        plus r and the extra bands.
    use_official_jpeg : bool
        ``training_data.use_official_jpeg``.
    extra_bands : sequence of str
        ``training_data.extra_bands``.
    lean : bool
        ``sdss.lean``: no frame at all (the WCS comes from the run's asTrans).

    Fields without an irg JPEG in the archive also fetch g, r and i (`fetch_field`).
    """
    if lean and use_official_jpeg:
        return ()
    wanted = {"r", *extra_bands}
    if bands == "auto":
        if not use_official_jpeg:
            wanted |= set(COMPOSITE_BANDS)
    else:
        wanted |= set(bands)
    return tuple(b for b in "ugriz" if b in wanted)


def _astrans_wcs_entry(fid: FieldId, astrans) -> dict:
    from yl8c4net.sdss.astrom import astrans_wcs, read_run_astrans

    if astrans is None:
        raise FrameVerificationError(f"{fid}: no r frame fetched and no asTrans file given for its WCS")
    wcs = astrans_wcs(read_run_astrans(astrans, fid.camcol, fid.field, "r"))
    return {"source": Path(astrans).name, "header": wcs.to_header(relax=True).tostring()}


def fetch_field(
    fid: FieldId,
    source: FileSource,
    bands,
    outdir: str | Path,
    data_release: int = 17,
    use_official_jpeg: bool = True,
    astrans: str | Path | None = None,
    frame_storage: str = "bz2",
) -> dict:
    """Fetch the irg JPEG (when used and the archive has one) and the ``bands`` frames of a
    field. With ``use_official_jpeg``, a field whose archive has no JPEG also gets g, r and i,
    from which its composite is built; without it, ``bands`` must hold them.

    Returns
    -------
    dict
        The manifest: ``status`` ("ok" or "quarantined"), ``reason``, ``frames``
        ({band: {"file", "sha256", "bytes"}}), ``irg_jpeg`` (file name or None),
        ``irg_jpeg_sha256``, ``irg_jpeg_bytes`` and ``bytes`` (all the field's files, in bytes: what a fresh
        run downloads for it), and, when no r frame was fetched (lean mode), ``wcs``: the
        TAN-SIP WCS fitted to the field's row of the run's ``astrans`` file
        (`yl8c4net.sdss.astrom`), as {"source", "header"}. With ``frame_storage`` "fits"
        (``sdss.frame_storage``), each verified frame is also written uncompressed, and its
        entry names that copy as ``uncompressed``: the stages after the fetch read it
        without decompressing bz2 (about 0.45 s per frame read on one core), at 12.4 MB
        more disk per frame (its bz2 file is 3-4 MB).
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
        "irg_jpeg_bytes": 0,
        "bytes": 0,
    }
    try:
        jpeg = irg_jpeg_relpath(fid, data_release)
        if use_official_jpeg and source.exists(jpeg):
            _fetch_unless_present(source, jpeg, outdir / jpeg.name)
            manifest["irg_jpeg"] = jpeg.name
            manifest["irg_jpeg_bytes"] = (outdir / jpeg.name).stat().st_size
            manifest["irg_jpeg_sha256"] = sha256_of(outdir / jpeg.name)
        elif use_official_jpeg:
            log.info("%s: no official irg JPEG; its composite will be built from the g, r, i frames", fid)
        need = set(bands) | (set(COMPOSITE_BANDS) if use_official_jpeg and not manifest["irg_jpeg"] else set())
        for band in (b for b in "ugriz" if b in need):
            rel = frame_relpath(fid, band, data_release)
            dest = outdir / rel.name
            keep = frame_storage == "fits" and dest.name.endswith(".bz2")
            verify = verifier_keeping_uncompressed(uncompressed_path(dest)) if keep else None
            _fetch_unless_present(source, rel, dest, verify)
            manifest["frames"][band] = {"file": rel.name, "sha256": sha256_of(dest), "bytes": dest.stat().st_size}
            if keep:
                manifest["frames"][band]["uncompressed"] = uncompressed_path(dest).name
            log.info("%s: %s verified", fid, rel.name)
        manifest["bytes"] = manifest["irg_jpeg_bytes"] + sum(f["bytes"] for f in manifest["frames"].values())
        if "r" not in manifest["frames"]:
            manifest["wcs"] = _astrans_wcs_entry(fid, astrans)
    except FrameVerificationError as exc:
        manifest["status"] = "quarantined"
        manifest["reason"] = str(exc)
        log.error("QUARANTINED %s: %s", fid, exc)
    return manifest
