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
from yl8c4net.io import atomic_output

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

    from yl8c4net import __version__

    path = Path(path)
    provenance = {**provenance, "package_version": __version__, "created": datetime.now(timezone.utc).isoformat()}
    frame = to_schema(df, columns)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    fields = [
        f.with_type(pa.string() if pa.types.is_dictionary(f.type) else f.type).with_metadata(
            {b"unit": u.encode(), b"description": d.encode()}
        )
        for f, (_, u, d) in zip(table.schema, columns.values())
    ]
    # What pandas and astropy record of the columns, from one row with the written types.
    sample = frame.iloc[:1].astype({f.name: object for f in fields if _is_text(f.type)})
    pandas_meta = pa.Table.from_pandas(sample, preserve_index=False).schema.metadata or {}
    table = table.cast(pa.schema(fields))
    lengths = {
        f.name: int(pc.max(pc.utf8_length(table.column(f.name))).as_py() or 0) for f in fields if _is_text(f.type)
    }
    meta = {
        **pandas_meta,  # nullable integers stay nullable in pandas
        **_astropy_metadata(sample, columns, provenance, lengths),
        b"yl8c4net": json.dumps(provenance, sort_keys=True).encode(),
    }
    table = table.replace_schema_metadata(meta)
    # Dictionary pages only where values repeat: on float columns they are built and thrown away.
    repeating = [
        f.name for f in table.schema if _is_text(f.type) or pa.types.is_int16(f.type) or pa.types.is_int32(f.type)
    ]
    with atomic_output(path) as tmp:
        pq.write_table(table, tmp, compression="zstd", write_statistics=True, use_dictionary=repeating)
    return path


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


def write_catalog_fits(parquet_path: str | Path, fits_path: str | Path) -> None:
    """The catalogue Parquet as a FITS binary table (astropy): units as ``TUNITn``,
    descriptions as ``TCOMMn`` (the comment keyword TOPCAT and fv show), ``EXTNAME``
    CATALOG, the provenance as header cards. One table extension only, so that
    ``Table.read`` and TOPCAT open it without being told which."""
    from astropy.io import fits
    from astropy.table import Table

    table = Table.read(parquet_path, format="parquet")
    provenance = table.meta.pop("yl8c4net", {})
    table.meta.clear()
    comments = {}
    for name in table.colnames:
        comments[name] = table[name].description or ""
        unit = fits_unit(table[name].unit)
        if table[name].unit is not None and unit is None:
            # No FITS unit string for it (nanomaggies): the unit opens the comment instead.
            comments[name] = f"[{table[name].unit}] {comments[name]}"
            table[name].unit = None
    hdu = fits.table_to_hdu(table)
    for k, name in enumerate(table.colnames, start=1):
        if comments[name]:
            hdu.header[f"TCOMM{k}"] = comments[name][:68]
    hdu.header.update(_provenance_header(provenance, len(table)))
    hdul = fits.HDUList([fits.PrimaryHDU(), hdu])
    with atomic_output(fits_path) as tmp:
        hdul.writeto(tmp)
