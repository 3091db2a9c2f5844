"""Catalogue files open with the right types and units in astropy, pandas and pyarrow, and
the FITS copy carries units, descriptions, EXTNAME and provenance (issue 17)."""

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from astropy.io import fits
from astropy.table import Table

import yl8c4net
from yl8c4net.catalog.columns import CATALOG_COLUMNS, DUPLICATE_COLUMNS, UNMATCHED_COLUMNS
from yl8c4net.catalog.files import astropy_unit, read_provenance, write_catalog_parquet
from yl8c4net.catalog.fits_copy import fits_unit, frames_digest, write_catalog_fits
from yl8c4net.catalog.partition import merge_partitions

REPO = Path(__file__).resolve().parents[1]

PROVENANCE = {
    "run": 9101,
    "code_version": "0.1.0+abc",
    "detector_sha256": ["d" * 64],
    "classifier_sha256": "c" * 64,
    "frames_sha256": {"9101-3-11": {"r": "a" * 64, "g": "b" * 64}, "9101-3-12": {"r": "e" * 64}},
    "match_radius_arcsec": 2.0,
    "dedup_radius_arcsec": 0.5,
}


def _rows(n=40, seed=1):
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "ra": 10 + rng.random(n) * 0.2,
            "dec": rng.random(n) * 0.2,
            "objid": 1237646012716073000 + np.arange(n),  # beyond float64's exact integers
            "run": 9101,
            "rerun": 301,
            "camcol": 3,
            "field": 11 + (rng.random(n) < 0.5),
            "x": rng.random(n) * 2048,
            "y": rng.random(n) * 1489,
            "x_box": rng.random(n) * 2048,
            "y_box": rng.random(n) * 1489,
            "centroid_flag": 0,
            "box": 12.0,
            "det_conf": rng.random(n),
            "det_method": (rng.random(n) < 0.1).astype(np.int16),
            "class": pd.Categorical(rng.choice(["GALAXY", "STAR", "QSO"], n)),
            "p_galaxy": 0.2,
            "p_star": 0.3,
            "p_qso": 0.5,
            "class_image_only": False,
            "class_image": "QSO",
            "p_galaxy_image": 0.1,
            "p_star_image": 0.3,
            "p_qso_image": 0.6,
            "photo_type": 6,
            **{b: 20.0 - k * 0.5 for k, b in enumerate("ugriz")},
            **{f"{q}_{b}": 0.05 for q in ("err", "psfmagerr") for b in "ugriz"},
            **{f"psfmag_{b}": 20.1 - k * 0.5 for k, b in enumerate("ugriz")},
            "photo_flags": (rng.random(n) < 0.1).astype(np.int64) << 18,
            "match_sep_arcsec": 0.1,
            "n_merged": 1,
            "flux_r": rng.random(n) * 100,
            "flux_err_r": 0.5,
            "snr_r": 20.0,
            "mag_r": 20.0,
            "mag_err_r": 0.05,
            "phot_flags": (rng.random(n) < 0.1).astype(np.int16),
            "unmatched_reason": "no_photoobj",
            "duplicate_reason": np.where(rng.random(n) < 0.5, "field_overlap", "earlier_run"),
        }
    )


def _check_astropy(table: Table, columns: dict, rows: pd.DataFrame):
    assert table.colnames == list(columns)
    for name, (dtype, unit, description) in columns.items():
        assert table[name].unit == astropy_unit(unit), name
        assert table[name].description == description, name
        if str(dtype).startswith("int"):
            assert table[name].dtype.kind == "i", name
    if "objid" in columns:
        assert table["objid"].dtype == np.int64
        assert (np.asarray(table["objid"]) == rows["objid"].to_numpy()).all()
    assert (np.asarray(table["class"]) == rows["class"].astype(str).to_numpy()).all()


def test_parquet_catalogue_reads_in_astropy_with_units_and_integer_ids(tmp_path):
    rows = _rows()
    path = write_catalog_parquet(rows, tmp_path / "catalog.parquet", PROVENANCE, CATALOG_COLUMNS)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. astropy guessing string lengths
        table = Table.read(path)
    _check_astropy(table, CATALOG_COLUMNS, rows)
    assert table.meta["yl8c4net"]["classifier_sha256"] == "c" * 64
    assert {c for c, (_, u, _) in CATALOG_COLUMNS.items() if u} >= {"ra", "dec", "x", "r", "match_sep_arcsec"}
    back = pd.read_parquet(path)
    assert back["objid"].dtype == np.int64 and back["class"].tolist() == rows["class"].astype(str).tolist()
    assert pq.read_schema(path).field("r").metadata[b"unit"] == b"mag"


def test_side_tables_keep_integers_and_nulls(tmp_path):
    rows = _rows()
    unmatched = write_catalog_parquet(rows, tmp_path / "u.parquet", PROVENANCE, UNMATCHED_COLUMNS)
    _check_astropy(Table.read(unmatched), UNMATCHED_COLUMNS, rows)
    assert "objid" not in pd.read_parquet(unmatched)  # no PhotoObjAll object: no PhotoObjAll columns
    # owner_field is null for earlier_run rows: pandas gets a nullable integer, pyarrow a null.
    dup = rows.assign(owner_field=np.where(rows["duplicate_reason"] == "field_overlap", 12, None))
    path = write_catalog_parquet(dup, tmp_path / "d.parquet", PROVENANCE, DUPLICATE_COLUMNS)
    owner = pd.read_parquet(path)["owner_field"]
    assert owner.dtype == "Int32"
    assert owner.isna().tolist() == (rows["duplicate_reason"] == "earlier_run").tolist()
    assert pq.read_table(path).column("owner_field").null_count == (rows["duplicate_reason"] == "earlier_run").sum()
    assert pd.read_parquet(path)["run"].dtype == np.int32


def test_fits_copy_has_units_comments_extname_and_provenance(tmp_path):
    rows = _rows()
    part = write_catalog_parquet(rows, tmp_path / "9101.parquet", PROVENANCE, CATALOG_COLUMNS)
    merged = tmp_path / "catalog.parquet"
    assert merge_partitions([part], merged, CATALOG_COLUMNS, "0.1.0+merge") == len(rows)
    assert read_provenance(merged)["partitions"][str(part)]["run"] == 9101
    fits_path = tmp_path / "catalog.fits"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no card truncated, no invalid header
        write_catalog_fits(merged, fits_path)
    with fits.open(fits_path) as hdul:
        header = hdul["CATALOG"].header
        for k, (name, (_, unit, description)) in enumerate(CATALOG_COLUMNS.items(), start=1):
            assert header[f"TTYPE{k}"] == name
            if fits_unit(astropy_unit(unit)) is None and unit:
                # No FITS string for nanomaggies: the unit opens the comment.
                assert f"TUNIT{k}" not in header and unit == "nmgy", name
                description = f"[{unit}] {description}"
            else:
                assert header.get(f"TUNIT{k}", "") == unit, name
            assert description.startswith(header[f"TCOMM{k}"]), name
        assert header["CODEVER"] == "0.1.0+merge" and header["RUN1"] == 9101
        assert header["CLSSHA1"] == "c" * 64 and header["DETSHA1"] == "d" * 64
        assert header["NFIELD1"] == 2 and header["MATCHRA1"] == 2.0 and header["NROWS"] == len(rows)
        assert header["FRMSHA1"] == frames_digest(PROVENANCE) and len(hdul) == 2
        other = frames_digest({"frames_sha256": {**PROVENANCE["frames_sha256"], "9101-3-12": {"r": "f" * 64}}})
        assert other != header["FRMSHA1"]  # one frame changed: another digest
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # one table: no "hdu= was not specified" warning
        table = Table.read(fits_path)
    assert table["objid"].dtype.kind == "i" and table["objid"].dtype.itemsize == 8
    assert (table["objid"] == rows["objid"]).all()
    assert table["ra"].unit == "deg" and table["r"].unit == "mag"


def test_coverage_of_the_catalogue_is_summed_over_partitions(tmp_path):
    from yl8c4net.catalog.partition import coverage_summary

    lost = {
        "9102-1-5": {"stage": "fetch", "reason": "all NaN", "retry": "resources/frames/9102/1/block-0005-0006.json"}
    }
    a = write_catalog_parquet(_rows(), tmp_path / "a.parquet", PROVENANCE | {"fields_asked": 2}, CATALOG_COLUMNS)
    b = write_catalog_parquet(
        _rows(),
        tmp_path / "b.parquet",
        PROVENANCE | {"run": 9102, "fields_asked": 3, "quarantined": lost},
        CATALOG_COLUMNS,
    )
    assert coverage_summary([a, b]) == (5, 4, lost)
    merge_partitions([a, b], tmp_path / "c.parquet", CATALOG_COLUMNS)
    write_catalog_fits(tmp_path / "c.parquet", tmp_path / "c.fits")
    header = fits.getheader(tmp_path / "c.fits", "CATALOG")
    assert (header["NQUAR1"], header["NQUAR2"], header["RUN2"]) == (0, 1, 9102)


def test_fits_header_of_a_catalogue_of_many_runs_has_valid_keywords(tmp_path):
    """Keywords stay within FITS's 8 characters for any number of run partitions (a
    catalogue extended run by run passes 10 and 100 partitions)."""
    parts = [
        write_catalog_parquet(
            _rows(3, seed=k), tmp_path / f"{k}.parquet", PROVENANCE | {"run": 9000 + k}, CATALOG_COLUMNS
        )
        for k in range(1, 121)
    ]
    merge_partitions(parts, tmp_path / "c.parquet", CATALOG_COLUMNS)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no HIERARCH card, no truncated value
        write_catalog_fits(tmp_path / "c.parquet", tmp_path / "c.fits")
    header = fits.getheader(tmp_path / "c.fits", "CATALOG")
    assert header["NRUNS"] == 120 and sorted(header[f"RUN{k}"] for k in range(1, 121)) == list(range(9001, 9121))
    assert header["DETSHA9"] == "d" * 64 and header["DSHA120"] == "d" * 64 and header["MRAD57"] == 2.0
    assert all(len(card.keyword) <= 8 for card in header.cards)


def test_data_provenance_reaches_the_parquet_the_fits_header_and_the_report(tmp_path):
    """Where the frames and PhotoObjAll rows came from, the release, rerun and thresholds, the
    package version and the detector's model card, in every place a user looks."""
    import yaml

    from yl8c4net.catalog.provenance import data_provenance
    from yl8c4net.config import validate_config
    from yl8c4net.io import sha256_of
    from yl8c4net.pipeline.model_files import shipped_detector
    from yl8c4net.report.tables import metrics_page

    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    cfg["sdss"].update(frame_source="sas", catalog_source="skyserver")
    cfg["simulate"]["enabled"] = False
    cfg["detector"]["bright_complement"]["enabled"] = True
    cfg = validate_config(cfg)
    data = data_provenance(cfg, [sha256_of(shipped_detector())])
    assert data == {
        "frames_from": "https://data.sdss.org/sas",
        "catalog_from": "https://skyserver.sdss.org",
        "data_release": 17,
        "rerun": 301,
        "lean": False,
        "detector_conf": cfg["detector"]["conf"],
        "verify_min_snr": cfg["detector"]["verify"]["min_snr"],
        "bright_complement_r_max": 16.0,
        "detector_card": "yl8c4net/models/detector-card.md",
    }
    # A fine-tuned detector has no card; a mirror names its root.
    cfg["sdss"].update(frame_source="mirror", catalog_source="mirror")
    other = data_provenance(cfg, ["e" * 64])
    assert other["detector_card"] is None and other["frames_from"] == "mirror resources/sim_mirror"
    part = write_catalog_parquet(_rows(), tmp_path / "9101.parquet", PROVENANCE | {"data": data}, CATALOG_COLUMNS)
    merge_partitions([part], tmp_path / "catalog.parquet", CATALOG_COLUMNS, "0.1.0+merge")
    prov = read_provenance(tmp_path / "catalog.parquet")
    assert prov["package_version"] == yl8c4net.__version__
    assert prov["partitions"][str(part)]["data"] == data
    write_catalog_fits(tmp_path / "catalog.parquet", tmp_path / "catalog.fits")
    header = fits.getheader(tmp_path / "catalog.fits", "CATALOG")
    assert (header["FRAMESRC"], header["CATSRC"]) == ("https://data.sdss.org/sas", "https://skyserver.sdss.org")
    assert (header["DATAREL"], header["RERUN"], header["BRIGHTRM"]) == (17, 301, 16.0)
    assert header["DETCARD"] == "yl8c4net/models/detector-card.md"
    assert header["CREATOR"] == f"yl8c4net {yl8c4net.__version__}"
    page = metrics_page(None, None, pd.DataFrame({"status": ["ok"]}), _rows(), _rows(), None, prov)
    assert "Data and thresholds" in page and "https://data.sdss.org/sas" in page
    assert f'<td>package version</td><td class="num">{yl8c4net.__version__}</td>' in page


def test_merge_streams_the_partitions_into_what_one_write_of_all_rows_gives(tmp_path):
    """The merge holds one row group at a time; its file is the one write of every row would
    give: the same rows and types, an integer column nullable when any part has a null."""
    rows = [_rows(40, seed=1), _rows(30, seed=2), _rows(0, seed=3)]
    rows[1] = rows[1].assign(owner_field=np.where(rows[1]["duplicate_reason"] == "field_overlap", 12, None))
    rows[0], rows[2] = rows[0].assign(owner_field=7), rows[2].assign(owner_field=7)
    parts = [
        write_catalog_parquet(r, tmp_path / f"{k}.parquet", PROVENANCE, DUPLICATE_COLUMNS) for k, r in enumerate(rows)
    ]
    assert pd.read_parquet(parts[0])["owner_field"].dtype == np.int32  # no null in this part
    merged = tmp_path / "merged.parquet"
    assert merge_partitions(parts, merged, DUPLICATE_COLUMNS) == 70
    at_once = write_catalog_parquet(
        pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True),
        tmp_path / "at_once.parquet",
        {},
        DUPLICATE_COLUMNS,
    )
    back, expected = pd.read_parquet(merged), pd.read_parquet(at_once)
    assert (
        back["owner_field"].dtype == "Int32" and back["owner_field"].isna().sum() == rows[1]["owner_field"].isna().sum()
    )
    pd.testing.assert_frame_equal(back, expected)
    assert pq.read_table(merged).equals(pq.read_table(at_once))
    merged_table, at_once_table = Table.read(merged), Table.read(at_once)
    assert [(c.name, c.unit, c.description) for c in merged_table.itercols()] == [
        (c.name, c.unit, c.description) for c in at_once_table.itercols()
    ]


def test_a_table_goes_to_parquet_a_row_group_at_a_time_as_in_one(tmp_path, monkeypatch):
    """The writer converts a row group at a time: row groups of 7 rows give the file one
    conversion gives (the same rows, types and metadata), with string lengths and nullable
    integers decided by every row, not by the first row group's."""
    import yl8c4net.catalog.files as files

    monkeypatch.setattr(files, "_stamped", lambda provenance: {**provenance, "created": "fixed"})
    rows = _rows(50, seed=5)
    rows = rows.assign(owner_field=np.where(np.arange(50) == 48, None, 7))  # one null, in the last group
    rows.loc[49, "duplicate_reason"] = "a reason longer than any other in the table"
    whole = write_catalog_parquet(rows, tmp_path / "whole.parquet", PROVENANCE, DUPLICATE_COLUMNS)
    monkeypatch.setattr(files, "ROW_GROUP_ROWS", 7)
    grouped = write_catalog_parquet(rows, tmp_path / "grouped.parquet", PROVENANCE, DUPLICATE_COLUMNS)
    assert pq.ParquetFile(grouped).num_row_groups == 8 and pq.ParquetFile(whole).num_row_groups == 1
    assert pq.read_table(grouped).equals(pq.read_table(whole))
    assert pq.read_schema(grouped).equals(pq.read_schema(whole), check_metadata=True)
    back = pd.read_parquet(grouped)
    assert back["owner_field"].dtype == "Int32" and back["owner_field"].isna().sum() == 1
    assert Table.read(grouped)["duplicate_reason"].dtype.itemsize >= len(rows.loc[49, "duplicate_reason"])


def test_a_partition_of_other_columns_is_named(tmp_path):
    import pytest

    from yl8c4net.errors import CatalogValidationError

    good = write_catalog_parquet(_rows(5), tmp_path / "9101.parquet", PROVENANCE, CATALOG_COLUMNS)
    other = write_catalog_parquet(_rows(5), tmp_path / "9102.parquet", PROVENANCE, UNMATCHED_COLUMNS)
    with pytest.raises(CatalogValidationError, match="9102.parquet: its columns differ"):
        merge_partitions([good, other], tmp_path / "c.parquet", CATALOG_COLUMNS)
    assert not (tmp_path / "c.parquet").exists()


def test_fits_is_written_in_batches_byte_for_byte_as_in_one(tmp_path):
    """The FITS copy converts a batch of rows at a time: any batch size gives the same file
    (but the DATE of writing), and integer nulls stay integer nulls (TNULL)."""
    rows = _rows(50, seed=4)
    rows = rows.assign(owner_field=np.where(rows["duplicate_reason"] == "field_overlap", 12, None))
    part = write_catalog_parquet(rows, tmp_path / "d.parquet", PROVENANCE, DUPLICATE_COLUMNS)
    files = {}
    for batch in (7, 50, 1000):
        files[batch] = tmp_path / f"{batch}.fits"
        write_catalog_fits(part, files[batch], batch_rows=batch)
    data = {}
    for batch, path in files.items():
        with fits.open(path) as hdul:
            data[batch] = path.read_bytes()[hdul[1]._data_offset :]
            header = hdul[1].header
            assert header["NAXIS2"] == 50 and path.stat().st_size % 2880 == 0
    assert data[7] == data[50] == data[1000]
    k = list(DUPLICATE_COLUMNS).index("owner_field") + 1
    assert header[f"TFORM{k}"] == "J" and header[f"TNULL{k}"] == np.iinfo(np.int32).min
    owner = Table.read(files[7])["owner_field"]
    assert (
        owner.dtype.kind == "i"
        and owner.dtype.itemsize == 4
        and owner.mask.tolist() == rows["owner_field"].isna().tolist()
    )
    assert (owner[~owner.mask] == 12).all()
