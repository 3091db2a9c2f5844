"""sdss.frame_storage: fits keeps an uncompressed copy of each verified frame, which the
stages after the fetch read instead of decompressing bz2, with the same pixels, WCS and
checks; the manifest still describes the archive's file."""

import logging

import numpy as np
import pytest

from yl8c4net.errors import FrameVerificationError
from yl8c4net.sdss.fetch import band_frame, fetch_field
from yl8c4net.sdss.fields import FieldId
from yl8c4net.sdss.source import MirrorSource

FIELD = FieldId(9101, 3, 11)


@pytest.fixture()
def both_storages(sim_mirror, tmp_path):
    _, root = sim_mirror
    out = {}
    for storage in ("bz2", "fits"):
        field_dir = tmp_path / storage
        manifest = fetch_field(FIELD, MirrorSource(root), ("r",), field_dir, frame_storage=storage)
        assert manifest["status"] == "ok", manifest["reason"]
        (field_dir / "manifest.json").write_text(__import__("json").dumps(manifest))
        out[storage] = (field_dir, manifest)
    return out


def test_the_uncompressed_copy_is_read_without_bz2_and_gives_the_same_frame(both_storages, monkeypatch):
    (bz2_dir, bz2_manifest), (fits_dir, fits_manifest) = both_storages["bz2"], both_storages["fits"]
    entry = fits_manifest["frames"]["r"]
    # The archive's file is described as fetched (what a fresh run downloads), the copy named.
    assert {k: entry[k] for k in ("file", "sha256", "bytes")} == bz2_manifest["frames"]["r"]
    assert entry["file"].endswith(".fits.bz2") and entry["uncompressed"] == entry["file"].removesuffix(".bz2")
    assert "uncompressed" not in bz2_manifest["frames"]["r"]
    assert (fits_dir / entry["uncompressed"]).stat().st_size > 2 * entry["bytes"]
    expected = band_frame(bz2_dir / "manifest.json", "r")

    import bz2

    def no_bz2(data):
        raise AssertionError("bz2 decompressed")

    monkeypatch.setattr(bz2, "decompress", no_bz2)
    frame = band_frame(fits_dir / "manifest.json", "r")
    assert np.array_equal(frame.image, expected.image) and np.array_equal(frame.calib, expected.calib)
    assert np.array_equal(frame.sky, expected.sky)
    assert frame.wcs.to_header_string() == expected.wcs.to_header_string()
    with pytest.raises(AssertionError, match="bz2 decompressed"):
        band_frame(bz2_dir / "manifest.json", "r")


def test_a_missing_copy_falls_back_to_the_archive_file_with_a_warning(both_storages, caplog):
    fits_dir, manifest = both_storages["fits"]
    (fits_dir / manifest["frames"]["r"]["uncompressed"]).unlink()
    with caplog.at_level(logging.WARNING, logger="yl8c4net.sdss.fetch"):
        frame = band_frame(fits_dir / "manifest.json", "r")
    assert frame.image.shape == (1489, 2048)
    assert "uncompressed copy missing, reading frame-r-009101-3-0011.fits.bz2" in caplog.text


def test_a_damaged_copy_is_refused_by_the_frame_checks(both_storages):
    fits_dir, manifest = both_storages["fits"]
    plain = fits_dir / manifest["frames"]["r"]["uncompressed"]
    plain.write_bytes(plain.read_bytes()[:100_000])
    with pytest.raises(FrameVerificationError, match=plain.name):
        band_frame(fits_dir / "manifest.json", "r")


def test_a_resumed_fetch_rewrites_the_copy(sim_mirror, both_storages):
    _, root = sim_mirror
    fits_dir, first = both_storages["fits"]
    plain = fits_dir / first["frames"]["r"]["uncompressed"]
    plain.unlink()
    again = fetch_field(FIELD, MirrorSource(root), ("r",), fits_dir, frame_storage="fits")
    assert again["frames"] == first["frames"] and plain.is_file()


def test_the_fetch_decompresses_each_frame_once(sim_mirror, tmp_path, monkeypatch):
    import bz2

    _, root = sim_mirror
    real_decompress, calls = bz2.decompress, []

    def counting(data):
        calls.append(len(data))
        return real_decompress(data)

    monkeypatch.setattr(bz2, "decompress", counting)
    manifest = fetch_field(FIELD, MirrorSource(root), ("g", "r"), tmp_path, frame_storage="fits")
    assert manifest["status"] == "ok", manifest["reason"]
    # One decompression per frame, and its result is the copy the later stages read.
    assert sorted(calls) == sorted(manifest["frames"][b]["bytes"] for b in ("g", "r"))
    copy = tmp_path / manifest["frames"]["r"]["uncompressed"]
    assert copy.read_bytes() == real_decompress((tmp_path / manifest["frames"]["r"]["file"]).read_bytes())


def test_a_damaged_archive_frame_is_quarantined_and_leaves_no_copy(sim_mirror, tmp_path):
    import shutil

    from yl8c4net.sdss.fields import frame_relpath

    _, root = sim_mirror
    damaged = tmp_path / "mirror"
    shutil.copytree(root, damaged)
    rel = frame_relpath(FIELD, "r")
    path = damaged / rel
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    field_dir = tmp_path / "field"
    manifest = fetch_field(FIELD, MirrorSource(damaged), ("r",), field_dir, frame_storage="fits")
    assert manifest["status"] == "quarantined"
    assert str(path) in manifest["reason"] and "bz2 stream is corrupt or truncated" in manifest["reason"]
    assert not any(p.name.endswith(".fits") or ".part" in p.name for p in field_dir.iterdir())
