import re

import numpy as np
import pytest

from yl8c4net.errors import FrameVerificationError
from yl8c4net.sdss.fetch import fetch_field
from yl8c4net.sdss.fields import FieldId, frame_relpath
from yl8c4net.sdss.frames import r_frame_pixel_noise, read_frame, read_irg_jpeg
from yl8c4net.sdss.source import MirrorSource
from conftest import SHARED_SAS, make_frame_bytes, needs_shared, real_frame_path, sky_noise_image


@needs_shared
def test_real_frame_reads_with_wcs_and_calibration():
    frame = read_frame(real_frame_path(4510, 4, 30, "r"))
    assert frame.image.shape == (1489, 2048) and frame.image.dtype == np.float32
    assert frame.calib.shape == (2048,) and 0.004 < np.median(frame.calib) < 0.006
    # The r frame's reference pixel sits at the recorded sky position.
    ra, dec = frame.wcs.all_pix2world(1024.0, 744.0, 0)
    assert ra == pytest.approx(200.454501361, abs=1e-6) and dec == pytest.approx(36.8083361051, abs=1e-6)


@needs_shared
@pytest.mark.parametrize(
    "run, camcol, field, crowded",
    [(4510, 4, 30, False), (1035, 6, 17, False), (1992, 1, 87, False), (5405, 6, 99, True), (2583, 2, 136, True)],
)
def test_r_frame_noise_from_sky_and_gain_ignores_crowding(run, camcol, field, crowded):
    from astropy.stats import sigma_clipped_stats

    frame = read_frame(real_frame_path(run, camcol, field, "r"))
    noise = r_frame_pixel_noise(frame, camcol)
    # Blank sky between sources scatters as the recipe says (median absolute pixel-to-pixel
    # difference, which unresolved stars barely inflate, over sqrt 2) ...
    diff = np.diff(frame.image, axis=1)
    scatter = 1.4826 * np.median(np.abs(diff - np.median(diff))) / np.sqrt(2)
    assert scatter == pytest.approx(noise, rel=0.5 if crowded else 0.1)
    # ... while the clipped rms of a crowded frame is dominated by its unresolved stars.
    _, _, clipped = sigma_clipped_stats(frame.image, sigma=3.0)
    assert (clipped / noise > 2.0) if crowded else (clipped / noise == pytest.approx(1.0, abs=0.1))


@needs_shared
def test_mirror_fetch_of_a_real_field_gives_verified_frames(tmp_path):
    manifest = fetch_field(FieldId(4510, 4, 30), MirrorSource(SHARED_SAS), "ugriz", tmp_path)
    assert manifest["status"] == "ok"
    assert set(manifest["frames"]) == set("ugriz")
    assert manifest["irg_jpeg"] == "frame-irg-004510-4-0030.jpg"
    assert read_frame(tmp_path / "frame-g-004510-4-0030.fits.bz2").image.shape == (1489, 2048)


@needs_shared
def test_field_without_official_jpeg_fetches_the_composite_bands_instead(tmp_path):
    manifest = fetch_field(FieldId(2583, 2, 136), MirrorSource(SHARED_SAS), "r", tmp_path)
    assert manifest["status"] == "ok" and manifest["irg_jpeg"] is None
    assert list(manifest["frames"]) == ["g", "r", "i"]


@needs_shared
@pytest.mark.parametrize(
    "bands, use_jpeg, fetched, jpeg",
    [("auto", True, "r", True), ("auto", False, "gri", False), (["u", "g", "r", "i", "z"], True, "ugriz", True)],
)
def test_a_field_fetches_only_what_the_config_reads_and_counts_its_bytes(tmp_path, bands, use_jpeg, fetched, jpeg):
    """Issue 16: a catalogue run on the official JPEG fetches it and the r frame only."""
    from yl8c4net.sdss.fetch import frame_bands

    fid = FieldId(4510, 4, 30)
    manifest = fetch_field(
        fid, MirrorSource(SHARED_SAS), frame_bands(bands, use_jpeg), tmp_path, use_official_jpeg=use_jpeg
    )
    assert "".join(manifest["frames"]) == fetched
    on_disk = sorted(p.name for p in tmp_path.iterdir())
    expected = [real_frame_path(4510, 4, 30, b).name for b in fetched] + (
        ["frame-irg-004510-4-0030.jpg"] if jpeg else []
    )
    assert on_disk == sorted(expected)
    assert manifest["bytes"] == sum((tmp_path / name).stat().st_size for name in on_disk)
    if bands == "auto" and use_jpeg:
        assert 2.5e6 < manifest["bytes"] < 6e6  # real SDSS: ~1 MB JPEG + ~3.4 MB r frame (not ~17 MB)


@needs_shared
def test_official_jpeg_is_flipped_onto_the_fits_grid():
    """SDSS stores JPEGs top row first; read_irg_jpeg returns FITS row order."""
    r = read_frame(real_frame_path(4510, 4, 30, "r")).image
    green = read_irg_jpeg(SHARED_SAS / frame_relpath(FieldId(4510, 4, 30), "r").parent / "frame-irg-004510-4-0030.jpg")[
        ..., 1
    ].astype(float)
    stretched = np.arcsinh(np.clip(r, 0, None) / 0.05)
    aligned = np.corrcoef(stretched.ravel(), green.ravel())[0, 1]
    flipped = np.corrcoef(stretched[::-1].ravel(), green.ravel())[0, 1]
    assert aligned > 0.7 and abs(flipped) < 0.1


def _mirror_with(tmp_path, data: bytes) -> tuple[MirrorSource, object]:
    fid = FieldId(4510, 4, 30)
    rel = frame_relpath(fid, "r")
    dest = tmp_path / "mirror" / rel
    dest.parent.mkdir(parents=True)
    dest.write_bytes(data)
    return MirrorSource(tmp_path / "mirror"), rel


def test_mirror_outages_fail_the_fetch_without_blaming_the_field(tmp_path):
    """A dangling link or a vanished root is the storage's fault (TransientError: the block
    job fails and nothing is quarantined); a file the mirror lacks is the field's (DownloadError)."""
    from yl8c4net.errors import DownloadError, TransientError

    source, rel = _mirror_with(tmp_path, make_frame_bytes(sky_noise_image()))
    source.path_of(rel).unlink()
    with pytest.raises(DownloadError, match="not in mirror"):
        source.fetch(rel, tmp_path / "out" / rel.name)
    source.path_of(rel).symlink_to(tmp_path / "unmounted" / rel.name)
    with pytest.raises(TransientError, match="a link to a file that is not there"):
        source.fetch(rel, tmp_path / "out" / rel.name)
    with pytest.raises(TransientError, match="is missing or unreadable"):
        MirrorSource(tmp_path / "not-mounted")
    manifest_dir = tmp_path / "fields"
    with pytest.raises(TransientError):
        fetch_field(FieldId(4510, 4, 30), source, "r", manifest_dir, use_official_jpeg=False)
    assert not list(manifest_dir.rglob("manifest.json"))  # nothing recorded, nothing quarantined


@needs_shared
def test_truncated_bz2_is_rejected_and_not_left_behind(tmp_path):
    data = real_frame_path(4510, 4, 30, "r").read_bytes()
    source, rel = _mirror_with(tmp_path, data[: len(data) // 2])
    dest = tmp_path / "out" / rel.name
    with pytest.raises(
        FrameVerificationError, match=r"frame-r-004510-4-0030.fits.bz2: bz2 stream is corrupt or truncated"
    ):
        source.fetch(rel, dest)
    assert not dest.exists() and list(dest.parent.iterdir()) == []


def test_fits_of_wrong_shape_is_rejected(tmp_path):
    source, rel = _mirror_with(tmp_path, make_frame_bytes(np.zeros((100, 200), np.float32)))
    with pytest.raises(FrameVerificationError, match="HDU0 is 200x100, expected 2048x1489"):
        source.fetch(rel, tmp_path / "out" / rel.name)
    assert not (tmp_path / "out" / rel.name).exists()


def test_frame_without_wcs_is_rejected(tmp_path):
    source, rel = _mirror_with(tmp_path, make_frame_bytes(np.zeros((1489, 2048), np.float32), with_wcs=False))
    with pytest.raises(FrameVerificationError, match="no celestial WCS"):
        source.fetch(rel, tmp_path / "out" / rel.name)


def test_float64_frame_is_rejected(tmp_path):
    source, rel = _mirror_with(tmp_path, make_frame_bytes(np.zeros((1489, 2048), np.float64)))
    with pytest.raises(FrameVerificationError, match="expected float32"):
        source.fetch(rel, tmp_path / "out" / rel.name)


def test_bad_frame_quarantines_the_field_and_keeps_nothing(tmp_path):
    source, rel = _mirror_with(tmp_path, b"BZh9 this is not a frame")
    manifest = fetch_field(FieldId(4510, 4, 30), source, "r", tmp_path / "out", use_official_jpeg=False)
    assert manifest["status"] == "quarantined"
    assert "frame-r-004510-4-0030.fits.bz2" in manifest["reason"]
    assert not (tmp_path / "out" / rel.name).exists()


class _CountingArchive(MirrorSource):
    """A mirror that behaves like the immutable SAS and counts what it serves."""

    immutable = True

    def __init__(self, root):
        super().__init__(root)
        self.served = []

    def fetch(self, relpath, dest, verify=None):
        self.served.append(relpath.name)
        return super().fetch(relpath, dest, verify)


@needs_shared
def test_a_resumed_fetch_from_the_archive_skips_verified_files_and_replaces_bad_ones(tmp_path):
    archive = _CountingArchive(SHARED_SAS)
    fid = FieldId(4510, 4, 30)
    first = fetch_field(fid, archive, "gr", tmp_path)
    assert sorted(archive.served) == [
        "frame-g-004510-4-0030.fits.bz2",
        "frame-irg-004510-4-0030.jpg",
        "frame-r-004510-4-0030.fits.bz2",
    ]
    # A job killed mid-download leaves a truncated g frame: only that one is fetched again.
    g = tmp_path / "frame-g-004510-4-0030.fits.bz2"
    g.write_bytes(g.read_bytes()[:5000])
    archive.served.clear()
    again = fetch_field(fid, archive, "gr", tmp_path)
    assert archive.served == ["frame-g-004510-4-0030.fits.bz2"]
    assert again == first
    # A mirror may be rewritten (the simulator does), so it is always copied.
    plain = MirrorSource(SHARED_SAS)
    assert not plain.immutable


@needs_shared
def test_r_frame_wcs_is_found_through_the_field_manifest(tmp_path):
    from yl8c4net.sdss.fetch import field_wcs
    from yl8c4net.io import write_json_atomic

    manifest = fetch_field(FieldId(4510, 4, 30), MirrorSource(SHARED_SAS), "gr", tmp_path)
    wcs = field_wcs(write_json_atomic(manifest, tmp_path / "manifest.json"))
    assert wcs.to_header_string() == read_frame(real_frame_path(4510, 4, 30, "r")).wcs.to_header_string()


def _real_frame_with(tmp_path, mutate, band="r"):
    """The real 4510/4/30 frame with its image or calibration changed by ``mutate(hdul)``."""
    import bz2
    import io

    from astropy.io import fits

    with fits.open(io.BytesIO(bz2.decompress(real_frame_path(4510, 4, 30, band).read_bytes()))) as hdul:
        hdul = fits.HDUList([h.copy() for h in hdul])
    mutate(hdul)
    buf = io.BytesIO()
    hdul.writeto(buf)
    return _mirror_with(tmp_path, bz2.compress(buf.getvalue(), 1))


@needs_shared
@pytest.mark.parametrize(
    "mutate, reason",
    [
        (lambda h: h[0].data.fill(np.nan), "100.0% of the pixels are not finite"),
        (lambda h: h[0].data.__setitem__(slice(0, 300), np.inf), r"20.1% of the pixels are not finite"),
        (lambda h: h[0].data.fill(0.0), "constant pixels, outside SDSS's range"),
        (lambda h: h[0].data.__imul__(1000.0), "pixel noise 2[0-9.]+ nanomaggies, outside SDSS's range"),
        (lambda h: h[1].data.__setitem__(5, -1.0), "calibration vector is not positive and finite"),
        (lambda h: h[2].data["ALLSKY"].__imul__(0.0), "sky 0 nanomaggies per pixel, outside SDSS's range"),
    ],
)
def test_frames_whose_pixels_are_not_sdss_like_quarantine_the_field(tmp_path, mutate, reason):
    """Well-formed files with broken content (trial 2 of issue 18: an all-NaN r frame passed
    and lost 84 % of the detections) are defects of the data: the field is quarantined."""
    source, rel = _real_frame_with(tmp_path, mutate)
    manifest = fetch_field(FieldId(4510, 4, 30), source, "r", tmp_path / "out", use_official_jpeg=False)
    assert manifest["status"] == "quarantined"
    assert re.search(reason, manifest["reason"]) and rel.name in manifest["reason"]
    assert not (tmp_path / "out" / rel.name).exists()


@needs_shared
def test_every_real_frame_passes_the_content_checks():
    from conftest import REAL_FIELDS

    for field in REAL_FIELDS:
        for band in "ugriz":
            read_frame(real_frame_path(*field, band))  # raises on a content problem


def test_a_bad_mirror_file_is_named_at_its_source_and_good_files_follow_the_umask(tmp_path):
    """The quarantine reason names the file to repair (the mirror's), and fetched files are as
    readable as the user's umask allows (not private to the fetching job)."""
    import os
    import stat

    source, rel = _mirror_with(tmp_path, b"BZh9 this is not a frame")
    manifest = fetch_field(FieldId(4510, 4, 30), source, "r", tmp_path / "out", use_official_jpeg=False)
    assert str(source.path_of(rel)) in manifest["reason"]
    assert str(tmp_path / "out") not in manifest["reason"]
    good, rel = _mirror_with(tmp_path / "good", make_frame_bytes(sky_noise_image()))
    old = os.umask(0o027)
    try:
        import yl8c4net.sdss.source as source_module

        source_module._UMASK = 0o027
        out = good.fetch(rel, tmp_path / "fetched" / rel.name)
    finally:
        os.umask(old)
        source_module._UMASK = source_module._current_umask()
    assert stat.S_IMODE(out.stat().st_mode) == 0o640
