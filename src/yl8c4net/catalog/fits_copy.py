"""The catalogue's FITS copy: a binary table with ``TUNITn``/``TCOMMn``, ``EXTNAME`` and the
provenance in its header, converted from the catalogue Parquet file a row group at a time."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from yl8c4net.catalog.files import ROW_GROUP_ROWS, astropy_unit, is_text_type, nullable_columns
from yl8c4net.catalog.provenance import DATA_CARDS
from yl8c4net.errors import CatalogValidationError
from yl8c4net.io import atomic_output

#: Rows converted to FITS at a time by `write_catalog_fits`: one row group.
FITS_BATCH_ROWS = ROW_GROUP_ROWS

#: Header keyword -> provenance key of a run partition, for the FITS header.
_RUN_CARDS = {
    "MATCHRAD": ("match_radius_arcsec", "[arcsec] PhotoObjAll match radius"),
    "DEDUPRAD": ("dedup_radius_arcsec", "[arcsec] friends-of-friends merge radius"),
    "MERGEIOS": ("merge_min_ios", "same-field box merge: least IoS"),
    "MERGEOFF": ("merge_max_offset_box_fraction", "same-field box merge: most offset / box"),
}
#: Four-letter stems of the per-run keywords, used from partition 10 on: a FITS keyword has
#: at most 8 characters (a HIERARCH card cannot hold a SHA-256 value).
_SHORT_STEMS = {
    "DETSHA": "DSHA",
    "CLSSHA": "CSHA",
    "NFIELD": "NFLD",
    "NQUAR": "NQUA",
    "FRMSHA": "FSHA",
    "MATCHRAD": "MRAD",
    "DEDUPRAD": "DRAD",
    "MERGEIOS": "MIOS",
    "MERGEOFF": "MOFF",
}


def run_keyword(stem: str, k: int) -> str:
    """The FITS keyword of run partition ``k`` for ``stem``: ``stem[:7]`` + k for k < 10
    (MATCHRA1), the four-letter stem + k up to 9999 (MRAD12), RUN + k always."""
    if stem == "RUN" or k < 10:
        return f"{stem[:7]}{k}"
    if k > 9999:
        raise ValueError(f"FITS header: {k} run partitions, more than 9999")
    return f"{_SHORT_STEMS[stem]}{k}"


def fits_unit(unit):
    """The FITS ``TUNITn`` string of an astropy unit, or None when the FITS standard has none
    (SDSS's nanomaggy)."""
    if unit is None:
        return None
    try:
        return unit.to_string("fits")
    except ValueError:
        return None


def _provenance_header(provenance: dict, n_rows: int):
    """FITS header cards for a merged catalogue's provenance (one set per partition)."""
    from astropy.io import fits

    from yl8c4net import __version__

    header = fits.Header()
    header["EXTNAME"] = ("CATALOG", "YL8C4Net source catalogue")
    header["ORIGIN"] = ("YL8C4Net", "SDSS frames -> YOLOv8 + Conv4Net")
    header["CREATOR"] = (f"yl8c4net {__version__}", "package that wrote this file")
    header["DATE"] = (provenance.get("created", "")[:19], "UTC time the catalogue was built")
    header["CODEVER"] = (provenance.get("code_version", ""), "package version + module hash")
    header["NROWS"] = (n_rows, "catalogue rows")
    parts = provenance.get("partitions", {})
    header["NRUNS"] = (len(parts), "run partitions in this catalogue")
    # One config builds every partition: its data provenance is the first one's.
    data = next(iter(parts.values()), {}).get("data") or {}
    for key, (name, comment) in DATA_CARDS.items():
        if name in data:
            value = data[name]
            header[key] = ("" if value is None else value, comment)
    for k, prov in enumerate(parts.values(), start=1):
        header[run_keyword("RUN", k)] = (prov.get("run", -1), f"SDSS run of partition {k}")
        # A SHA-256 fills a card: the keywords' meaning is in the COMMENT cards below.
        header[run_keyword("DETSHA", k)] = ",".join(prov.get("detector_sha256", []))
        header[run_keyword("CLSSHA", k)] = prov.get("classifier_sha256", "")
        header[run_keyword("NFIELD", k)] = (len(prov.get("frames_sha256", {})), "fields catalogued in this run")
        header[run_keyword("NQUAR", k)] = (len(prov.get("quarantined", {})), "fields of this run quarantined")
        header[run_keyword("FRMSHA", k)] = frames_digest(prov)
        for key, (name, comment) in _RUN_CARDS.items():
            if name in prov:
                header[run_keyword(key, k)] = (prov[name], comment)
    header.add_comment("RUNk, DETSHAk, CLSSHAk, NFIELDk, NQUARk: run, SHA-256 of the detector and")
    header.add_comment("classifier weights, catalogued and quarantined fields of run partition k.")
    header.add_comment("FRMSHAk: SHA-256 of the JSON of every frame's SHA-256 in partition k;")
    header.add_comment("the per-frame list is in the yl8c4net metadata of catalog.parquet.")
    if len(parts) >= 10:
        header.add_comment("From partition 10 on: DSHAk, CSHAk, NFLDk, NQUAk, FSHAk, MRADk, DRADk,")
        header.add_comment("MIOSk, MOFFk stand for DETSHA, CLSSHA, NFIELD, NQUAR, FRMSHA, MATCHRA,")
        header.add_comment("DEDUPRA, MERGEIO, MERGEOF (FITS keywords have at most 8 characters).")
    return header


def frames_digest(prov: dict) -> str:
    """SHA-256 of a partition's frame checksums (field tag -> band -> SHA-256, as canonical
    JSON): one header card that pins every frame read; the list itself is in the Parquet
    file's metadata."""
    import hashlib

    return hashlib.sha256(json.dumps(prov.get("frames_sha256", {}), sort_keys=True).encode()).hexdigest()


def _fits_table_hdu(batch: pa.Table, lengths: dict):
    """One batch of a catalogue Parquet file as a FITS binary table HDU (astropy): units as
    ``TUNITn`` (or, with no FITS unit string, opening the description), descriptions,
    strings as wide as the file's longest (``lengths``), so every batch has one format."""
    from astropy.io import fits
    from astropy.table import MaskedColumn, Table

    table = Table.from_pandas(batch.to_pandas())
    nullable = {name for name, dtype in nullable_columns(batch.schema).items() if dtype != "boolean"}
    comments = {}
    for field in batch.schema:
        name, meta = field.name, field.metadata or {}
        column = table[name]
        if is_text_type(field.type):
            table[name] = np.asarray(column, dtype=f"U{max(1, lengths.get(name, 1))}")
        elif name in nullable:
            if not isinstance(column, MaskedColumn):
                table[name] = MaskedColumn(column, mask=np.zeros(len(column), bool))
            # TNULL: the type's smallest value (astropy's default, 999999, fits no int16).
            table[name].fill_value = np.iinfo(table[name].dtype).min
        unit, description = meta.get(b"unit", b"").decode(), meta.get(b"description", b"").decode()
        fits_string = fits_unit(astropy_unit(unit))
        if unit and fits_string is None:
            # No FITS unit string for it (nanomaggies): the unit opens the comment instead.
            description = f"[{unit}] {description}"
        table[name].unit = fits_string
        comments[name] = description
    hdu = fits.table_to_hdu(table)
    for k, name in enumerate(table.colnames, start=1):
        if comments[name]:
            hdu.header[f"TCOMM{k}"] = comments[name][:68]
    return hdu


def write_catalog_fits(parquet_path: str | Path, fits_path: str | Path, batch_rows: int = FITS_BATCH_ROWS) -> None:
    """The catalogue Parquet as a FITS binary table (astropy): units as ``TUNITn``,
    descriptions as ``TCOMMn`` (the comment keyword TOPCAT and fv show), ``EXTNAME``
    CATALOG, the provenance as header cards. One table extension only, so that
    ``Table.read`` and TOPCAT open it without being told which. An integer column with nulls
    stays an integer column, its nulls marked by ``TNULLn`` (the type's smallest value).

    The table is written ``batch_rows`` rows at a time (FITS's "very large file from
    scratch" recipe: the header with the final row count, then each batch's rows as
    astropy writes them), so a catalogue larger than memory converts too.
    """
    from astropy.io import fits

    with pq.ParquetFile(parquet_path) as parquet:
        schema = parquet.schema_arrow
        provenance = json.loads((schema.metadata or {}).get(b"yl8c4net", b"{}"))
        lengths = {
            k.decode().removeprefix("table::len::"): int(v)
            for k, v in (schema.metadata or {}).items()
            if k.startswith(b"table::len::")
        }
        total = parquet.metadata.num_rows
        batches = _row_batches(parquet, batch_rows)
        first = next(batches, None)
        first_hdu = _fits_table_hdu(first if first is not None else schema.empty_table(), lengths)
        header = first_hdu.header.copy()
        header["NAXIS2"] = total
        header.update(_provenance_header(provenance, total))
        row_bytes = header["NAXIS1"]
        with atomic_output(fits_path) as tmp, open(tmp, "wb") as out:
            primary = fits.PrimaryHDU()
            primary.header["EXTEND"] = True
            out.write(primary.header.tostring().encode("ascii"))
            out.write(header.tostring().encode("ascii"))
            written = _write_rows(first_hdu, out, first_hdu) if first is not None else 0
            for batch in batches:
                written += _write_rows(_fits_table_hdu(batch, lengths), out, first_hdu)
            if written != total * row_bytes:
                raise CatalogValidationError(
                    f"{parquet_path}: {written} bytes of rows written to FITS, expected {total * row_bytes}"
                )
            out.write(b"\0" * (-written % 2880))


def _row_batches(parquet, batch_rows: int):
    """The rows of an open Parquet file, ``batch_rows`` at a time, read row group by row
    group (iter_batches holds more and more of the file)."""
    schema = parquet.schema_arrow
    for i in range(parquet.num_row_groups):
        group = parquet.read_row_group(i).replace_schema_metadata(schema.metadata)
        for start in range(0, group.num_rows, batch_rows):
            yield group.slice(start, batch_rows)


def _write_rows(hdu, out, first_hdu) -> int:
    """Append ``hdu``'s rows, as astropy writes them, to the open FITS file ``out``; returns
    the bytes written. ``hdu`` must have ``first_hdu``'s columns and formats."""
    import io

    from astropy.io import fits

    if hdu.columns.formats != first_hdu.columns.formats or hdu.columns.nulls != first_hdu.columns.nulls:
        raise CatalogValidationError(
            f"FITS batches differ in their formats ({hdu.columns.formats} against {first_hdu.columns.formats})"
        )
    buffer = io.BytesIO()
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(buffer)
    n_bytes = hdu.header["NAXIS1"] * hdu.header["NAXIS2"]
    start = 2880 + len(hdu.header.tostring())
    out.write(buffer.getbuffer()[start : start + n_bytes])
    return n_bytes
