"""Rule query_photoobj_block: PhotoObjAll rows of every field of a block, cached as Parquet."""

from yl8c4net.pipeline.blocks import block_of_job, field_path, run_block
from yl8c4net.config import catalog_backend
from yl8c4net.io import write_parquet
from yl8c4net.sdss.queries import checked_photoobj_field
from yl8c4net.pipeline.steps import step

with step(snakemake.log[0], "query_photoobj_block") as log:
    cfg = snakemake.params.config
    block = block_of_job(snakemake)
    backend = catalog_backend(cfg)

    def query(fid):
        table = checked_photoobj_field(backend, fid)
        log.info("%s: %d PhotoObjAll rows", fid, len(table))
        write_parquet(table, field_path(snakemake.params.files["photoobj"], fid))

    run_block(
        "photoobj", block, snakemake.output[0], list(snakemake.input.sim), query, log, files=snakemake.params.files
    )
