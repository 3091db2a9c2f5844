"""Rule catalog: the whole catalogue from the per-run partitions (Parquet and FITS)."""

from yl8c4net.catalog import CATALOG_COLUMNS, UNMATCHED_COLUMNS
from yl8c4net.catalog_io import write_catalog_fits
from yl8c4net.partition import merge_partitions
from yl8c4net.steps import step

with step(snakemake.log[0], "catalog") as log:
    for kind, partitions, out, columns in (
        ("matched", snakemake.input.matched, snakemake.output.catalog, CATALOG_COLUMNS),
        ("unmatched", snakemake.input.unmatched, snakemake.output.unmatched, UNMATCHED_COLUMNS),
    ):
        rows = merge_partitions(partitions, out, columns, snakemake.params.code)
        log.info("%s: %d rows from %d run partitions", kind, rows, len(partitions))
    write_catalog_fits(snakemake.output.catalog, snakemake.output.fits)
