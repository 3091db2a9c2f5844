"""Catalogue files that open anywhere: Parquet that pandas, pyarrow, lsdb and astropy read
with the right types, units and descriptions (the FITS copy: `yl8c4net.catalog.fits_copy`).

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

from yl8c4net.errors import CatalogValidationError
from yl8c4net.io import atomic_output

#: Rows per row group of a catalogue file: what a reader (the merge among them) holds of it
#: at a time.
ROW_GROUP_ROWS = 250_000


def astropy_unit(unit: str):
    """An astropy unit for a column spec's unit string ('' is no unit)."""
    import astropy.units as u

    return u.Unit(unit) if unit else None


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
    # Columns already of their type are not copied: a run's table is gigabytes.
    return pd.DataFrame(out, copy=False).reset_index(drop=True)


def is_text_type(arrow_type) -> bool:
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
    sample = sample.iloc[:1].astype({f.name: object for f in fields if is_text_type(f.type)})
    pandas_meta = pa.Table.from_pandas(sample, preserve_index=False).schema.metadata or {}
    return {
        **pandas_meta,
        **_astropy_metadata(sample, columns, provenance, lengths),
        b"yl8c4net": json.dumps(provenance, sort_keys=True).encode(),
    }


def _repeating_columns(schema: pa.Schema) -> list[str]:
    # Dictionary pages only where values repeat: on float columns they are built and thrown away.
    return [f.name for f in schema if is_text_type(f.type) or pa.types.is_int16(f.type) or pa.types.is_int32(f.type)]


def write_catalog_parquet(df: pd.DataFrame, path: str | Path, provenance: dict, columns: dict) -> Path:
    """Parquet with column units/descriptions (Arrow, pandas and astropy metadata) and the
    provenance in the file metadata.

    Categorical columns (``class``) are written as plain strings: astropy cannot read
    dictionary-encoded Arrow columns (Parquet still stores the repeated values in dictionary
    pages). The conversion is an Arrow cast, not a pandas one: 10 M rows stay cheap.

    The provenance also names the package version that wrote the file (``package_version``).
    The data pages depend only on the rows, so two builds give byte-identical data; only
    the ``created`` timestamp in the metadata differs. The rows go to Arrow one row group
    (`ROW_GROUP_ROWS`) at a time.
    """
    import pyarrow.compute as pc

    path = Path(path)
    provenance = _stamped(provenance)
    frame = to_schema(df, columns)

    def arrow_rows(start: int, stop: int, names=None) -> pa.Table:
        rows = frame.iloc[start:stop] if names is None else frame[names].iloc[start:stop]
        return pa.Table.from_pandas(rows, preserve_index=False)

    # The Arrow table is built a row group at a time: a whole run's table in Arrow as well
    # as in pandas would double the gather job's memory for its last step.
    starts = range(0, max(len(frame), 1), ROW_GROUP_ROWS)
    first = arrow_rows(0, ROW_GROUP_ROWS)
    fields = [
        f.with_type(pa.string() if pa.types.is_dictionary(f.type) else f.type).with_metadata(
            {b"unit": u.encode(), b"description": d.encode()}
        )
        for f, (_, u, d) in zip(first.schema, columns.values())
    ]
    schema = pa.schema(fields)
    text = [f.name for f in fields if is_text_type(f.type)]
    lengths = dict.fromkeys(text, 0)
    for start in starts:
        # Only the text columns: every column is converted once, in the write below.
        rows = first if start == 0 else arrow_rows(start, start + ROW_GROUP_ROWS, text)
        for name in text:
            longest = pc.max(pc.utf8_length(rows.column(name).cast(pa.string()))).as_py()
            lengths[name] = max(lengths[name], int(longest or 0))
    schema = schema.with_metadata(_catalog_file_metadata(frame, schema, columns, provenance, lengths))
    with atomic_output(path) as tmp:
        with pq.ParquetWriter(
            tmp, schema, compression="zstd", write_statistics=True, use_dictionary=_repeating_columns(schema)
        ) as writer:
            for start in starts:
                rows = first if start == 0 else arrow_rows(start, start + ROW_GROUP_ROWS)
                writer.write_table(rows.cast(schema))
    return path


def _stamped(provenance: dict) -> dict:
    from yl8c4net import __version__

    return {**provenance, "package_version": __version__, "created": datetime.now(timezone.utc).isoformat()}


def nullable_columns(schema: pa.Schema) -> dict[str, str]:
    """Column -> pandas' nullable dtype (Int16, ..., boolean) of the columns a catalogue file's
    pandas metadata marks nullable (those that had a missing value when it was written)."""
    pandas_meta = json.loads((schema.metadata or {}).get(b"pandas", b"{}"))
    return {
        c["name"]: c["numpy_type"]
        for c in pandas_meta.get("columns", [])
        if c.get("numpy_type") in ("Int16", "Int32", "Int64", "boolean")
    }


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
        nullable.update(nullable_columns(part_schema))
        for key, value in (part_schema.metadata or {}).items():
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
