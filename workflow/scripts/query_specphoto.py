"""Rule query_specphoto: SpecPhoto rows of one run, cached as Parquet."""

from yl8c4net.config import catalog_backend
from yl8c4net.io import write_parquet
from yl8c4net.sdss.queries import checked_specphoto_run
from yl8c4net.pipeline.steps import step

with step(snakemake.log[0], "query_specphoto") as log:
    cfg = snakemake.params.config
    run = int(snakemake.wildcards.run)
    table = checked_specphoto_run(catalog_backend(cfg), run, cfg["sdss"]["rerun"])
    log.info("run %d: %d SpecPhoto rows", run, len(table))
    write_parquet(table, snakemake.output[0])
