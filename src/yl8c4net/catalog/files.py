"""Catalogue files that open anywhere: Parquet that pandas, pyarrow, lsdb and astropy read
with the right types, units and descriptions, and a FITS copy with ``TUNITn``/``TCOMMn``,
``EXTNAME`` and the provenance in its header.

A Parquet file carries three descriptions of its columns, one per reader family: Arrow field
metadata (``unit``, ``description``), pandas' own metadata (so nullable integers come back
as nullable integers, not float NaN) and astropy's ``table_meta_yaml`` (so
``Table.read`` gives units, descriptions and the provenance as ``meta``). The provenance
JSON is also kept under the ``yl8c4net`` key for `read_provenance`.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from yl8c4net.catalog.provenance import DATA_CARDS
from yl8c4net.errors import CatalogValidationError
from yl8c4net.io import atomic_output

#: Rows per row group of a catalogue file: what a reader (the merge among them) holds of it
#: at a time.
ROW_GROUP_ROWS = 250_000

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


def astropy_unit(unit: str):
    """An astropy unit for a column spec's unit string ('' is no unit)."""
    import astropy.units as u

    return u.Unit(unit) if unit else None


def fits_unit(unit):
    """The FITS ``TUNITn`` string of an astropy unit, or None when the FITS standard has none
    (SDSS's nanomaggy)."""
    if unit is None:
        return None
    try:
        return unit.to_string("fits")
    except ValueError:
        return None


def to_schema(df: pd.DataFrame, columns: dict) -> pd.DataFrame:
    """Exactly the columns of ``columns``, in order, with their dtypes. Integer and boolean
    columns with missing values become pandas' nullable types."""
    nullable = {"int16": "Int16", "int32": "Int32", "int64": "Int64", "bool": "boolean"}
    out = {}
    for c, (t, _, _) in columns.items():
        missing = np.nan if str(t).startswith("float") else pd.NA
        col = df[c] if c in df else pd.Series(missing, index=df.index, dtype=nullable.get(t, t))
        if t in nullable and col.isna().any():
            t = nullable[t]
        out[c] = col.astype(str) if t == "str" else col.astype(t)
    return pd.DataFrame(out).reset_index(drop=True)


def _is_text(arrow_type) -> bool:
    return pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type)


def _astropy_metadata(sample: pd.DataFrame, columns: dict, provenance: dict, lengths: dict) -> dict[bytes, bytes]:
    """astropy's Parquet metadata (``table_meta_yaml`` and string lengths): column types from
    a one-row ``sample``, the longest value of each string column from ``lengths``."""
    from astropy.table import Table
    from astropy.table.meta import get_yaml_from_table

    table = Table.from_pandas(sample)
    meta = {f"table::len::{name}": str(max(1, n)) for name, n in lengths.items()}
    for name, (_, unit, description) in columns.items():
        table[name].unit = astropy_unit(unit)
        table[name].description = description
    table.meta = {"yl8c4net": provenance}
    meta["table_meta_yaml"] = "\n".join(get_yaml_from_table(table))
    return {k.encode(): v.encode() for k, v in meta.items()}


def _catalog_file_metadata(
    sample: pd.DataFrame, fields: pa.Schema, columns: dict, provenance: dict, lengths: dict
) -> dict:
    """The schema metadata of a catalogue file: pandas' (from a one-row ``sample`` with the
    written types, the Arrow ``fields``: nullable integers stay nullable in pandas, text is
    plain strings), astropy's and the provenance."""
    sample = sample.iloc[:1].astype({f.name: object for f in fields if _is_text(f.type)})
    pandas_meta = pa.Table.from_pandas(sample, preserve_index=False).schema.metadata or {}
    return {
        **pandas_meta,
        **_astropy_metadata(sample, columns, provenance, lengths),
        b"yl8c4net": json.dumps(provenance, sort_keys=True).encode(),
    }


def _repeating_columns(schema: pa.Schema) -> list[str]:
    # Dictionary pages only where values repeat: on float columns they are built and thrown away.
    return [f.name for f in schema if _is_text(f.type) or pa.types.is_int16(f.type) or pa.types.is_int32(f.type)]


def write_catalog_parquet(df: pd.DataFrame, path: str | Path, provenance: dict, columns: dict) -> Path:
    """Parquet with column units/descriptions (Arrow, pandas and astropy metadata) and the
    provenance in the file metadata.

    Categorical columns (``class``) are written as plain strings: astropy cannot read
    dictionary-encoded Arrow columns (Parquet still stores the repeated values in dictionary
    pages). The conversion is an Arrow cast, not a pandas one: 10 M rows stay cheap.

    The provenance also names the package version that wrote the file (``package_version``).
    The data pages depend only on the rows, so two builds give byte-identical data; only
    the ``created`` timestamp in the metadata differs.
    """
    import pyarrow.compute as pc

    path = Path(path)
    provenance = _stamped(provenance)
    frame = to_schema(df, columns)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    fields = [
        f.with_type(pa.string() if pa.types.is_dictionary(f.type) else f.type).with_metadata(
            {b"unit": u.encode(), b"description": d.encode()}
        )
        for f, (_, u, d) in zip(table.schema, columns.values())
    ]
    table = table.cast(pa.schema(fields))
    lengths = {
        f.name: int(pc.max(pc.utf8_length(table.column(f.name))).as_py() or 0) for f in fields if _is_text(f.type)
    }
    table = table.replace_schema_metadata(_catalog_file_metadata(frame, table.schema, columns, provenance, lengths))
    with atomic_output(path) as tmp:
        pq.write_table(
            table,
            tmp,
            compression="zstd",
            write_statistics=True,
            use_dictionary=_repeating_columns(table.schema),
            row_group_size=ROW_GROUP_ROWS,
        )
    return path


def _stamped(provenance: dict) -> dict:
    from yl8c4net import __version__

    return {**provenance, "package_version": __version__, "created": datetime.now(timezone.utc).isoformat()}


_NULLABLE = {"Int16": "Int16", "Int32": "Int32", "Int64": "Int64", "boolean": "boolean"}


def concat_catalog_parquet(parts, path: str | Path, provenance: dict, columns: dict) -> int:
    """One catalogue file from files that `write_catalog_parquet` wrote with ``columns``,
    their rows in order, `ROW_GROUP_ROWS` rows in memory at a time (a catalogue of many runs
    is far larger than any of them); returns the row count. The file is what
    `write_catalog_parquet` would write from all their rows at once: the same types (an
    integer column is nullable when it is in any part), string lengths and column metadata.

    Raises
    ------
    CatalogValidationError
        If a part's columns or types differ from the first part's (written by another
        version: rebuild it).
    """
    if not parts:
        raise CatalogValidationError(f"{path}: no partition to merge")
    schemas = [pq.read_schema(p) for p in parts]
    fields = pa.schema(list(schemas[0]))  # without the file's own metadata
    nullable, lengths = {}, {}
    for part, part_schema in zip(parts, schemas):
        if not pa.schema(list(part_schema)).equals(fields, check_metadata=True):
            raise CatalogValidationError(
                f"{part}: its columns differ from {parts[0]}'s (another version wrote it): rebuild it"
            )
        meta = part_schema.metadata or {}
        for col in json.loads(meta.get(b"pandas", b"{}")).get("columns", []):
            if col.get("numpy_type") in _NULLABLE:
                nullable[col["name"]] = _NULLABLE[col["numpy_type"]]
        for key, value in meta.items():
            if key.startswith(b"table::len::"):
                name = key.decode().removeprefix("table::len::")
                lengths[name] = max(lengths.get(name, 0), int(value))
    with pq.ParquetFile(parts[0]) as first_file:
        first = first_file.read_row_group(0).slice(0, 1) if first_file.num_row_groups else fields.empty_table()
    sample = to_schema(first.cast(fields).to_pandas(), columns).astype(nullable)
    provenance = _stamped(provenance)
    schema = fields.with_metadata(_catalog_file_metadata(sample, fields, columns, provenance, lengths))
    rows = 0
    with atomic_output(Path(path)) as tmp:
        with pq.ParquetWriter(
            tmp, schema, compression="zstd", write_statistics=True, use_dictionary=_repeating_columns(schema)
        ) as writer:
            # One part open at a time: an open reader keeps what it read of its file.
            for part in parts:
                with pq.ParquetFile(part) as part_file:
                    for i in range(part_file.num_row_groups):
                        group = part_file.read_row_group(i).replace_schema_metadata(schema.metadata)
                        writer.write_table(group)
                        rows += group.num_rows
    return rows


def read_provenance(path: str | Path) -> dict:
    """The provenance a catalogue Parquet file was written with."""
    meta = pq.read_schema(path).metadata or {}
    return json.loads(meta.get(b"yl8c4net", b"{}"))


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
    nullable = _nullable_integer_names(batch.schema)
    comments = {}
    for field in batch.schema:
        name, meta = field.name, field.metadata or {}
        column = table[name]
        if _is_text(field.type):
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


def _nullable_integer_names(schema: pa.Schema) -> set[str]:
    pandas_meta = json.loads((schema.metadata or {}).get(b"pandas", b"{}"))
    return {c["name"] for c in pandas_meta.get("columns", []) if c.get("numpy_type") in ("Int16", "Int32", "Int64")}


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
