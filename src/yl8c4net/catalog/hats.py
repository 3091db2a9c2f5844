"""The catalogue as a HATS catalogue (HEALPix-partitioned Parquet with a margin cache),
written with lsdb: users who crossmatch with other surveys at scale open it with
``lsdb.open_catalog`` and never load the whole catalogue."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd

from yl8c4net.errors import ConfigError


def write_hats(catalog_parquet: str | Path, out_dir: str | Path, partition_rows: int = 500_000) -> int:
    """Write ``catalog_parquet`` as the HATS catalogue ``out_dir`` (its last path part is the
    catalogue name) and return the number of rows the written catalogue reports.

    lsdb partitions an in-memory table; that serves catalogues up to a few million rows. A
    previous catalogue at ``out_dir`` is replaced.
    """
    try:
        import lsdb
    except ImportError:
        raise ConfigError("catalog.hats is true but lsdb is not installed (pip install -e '.[hats]')") from None
    out_dir = Path(out_dir)
    df = pd.read_parquet(catalog_parquet)
    # Plain strings: HATS readers need not know pandas' categorical dtype.
    for col in ("class", "class_image"):
        df[col] = df[col].astype("string")
    catalog = lsdb.from_dataframe(
        df, ra_column="ra", dec_column="dec", partition_rows=partition_rows, margin_threshold=5.0
    )
    shutil.rmtree(out_dir, ignore_errors=True)
    catalog.write_catalog(out_dir, catalog_name=out_dir.name, overwrite=True, progress_bar=False)
    return int(lsdb.open_catalog(out_dir).hc_structure.catalog_info.total_rows)
