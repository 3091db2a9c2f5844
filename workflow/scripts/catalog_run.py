"""Rule catalog_run: one run's catalogue partition (field ownership of overlaps, dedup,
exclusion of sources already in earlier runs' partitions, one-to-one PhotoObjAll crossmatch),
sorted by sky position."""

from yl8c4net.catalog.partition import build_run_partition
from yl8c4net.pipeline.model_files import check_model_before_use
from yl8c4net.pipeline.steps import step

with step(snakemake.log[0], "catalog_run"):
    if snakemake.input.fusion:
        check_model_before_use(snakemake.input.fusion, "fusion")

    build_run_partition(
        int(snakemake.wildcards.run),
        snakemake.input.classified,
        snakemake.input.photoobj,
        snakemake.input.earlier,
        snakemake.input.classifier,
        snakemake.params.files,
        snakemake.params.config["catalog"],
        dict(snakemake.output.items()),
        snakemake.params.code,
        snakemake.params.blocks,
        snakemake.input.fusion or None,
        snakemake.params.config["fusion"],
        snakemake.params.data,
    )
