"""Rule catalog: the whole catalogue from the per-run partitions (Parquet and FITS)."""

import pandas as pd
from astropy.table import Table

from yl8c4net.catalog import CATALOG_COLUMNS, UNMATCHED_COLUMNS, read_provenance, write_catalog_parquet
from yl8c4net.steps import step

with step(snakemake.log[0], "catalog") as log:
    for kind, paths, out, columns in (
        ("matched", snakemake.input.matched, snakemake.output.catalog, CATALOG_COLUMNS),
        ("unmatched", snakemake.input.unmatched, snakemake.output.unmatched, UNMATCHED_COLUMNS),
    ):
        df = pd.concat([pd.read_parquet(p) for p in paths], ignore_index=True)
        provenance = {"code_version": snakemake.params.code, "partitions": {p: read_provenance(p) for p in paths}}
        write_catalog_parquet(df, out, provenance, columns)
        log.info("%s: %d rows from %d run partitions", kind, len(df), len(paths))
    t = Table.from_pandas(pd.read_parquet(snakemake.output.catalog))
    t["class"] = t["class"].astype(str)
    t.meta["COMMENT"] = ["YL8C4Net catalogue; provenance in the Parquet file's metadata"]
    t.write(snakemake.output.fits, overwrite=True)
