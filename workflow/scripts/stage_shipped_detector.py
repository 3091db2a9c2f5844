"""Rule stage_shipped_detector: the package's detector (``detector.weights: shipped``) copied
under the workflow's tree, checked against the checksum the DAG was planned with."""

from yl8c4net.pipeline.model_files import stage_shipped_detector
from yl8c4net.pipeline.steps import step

with step(snakemake.log[0], "stage_shipped_detector") as log:
    stage_shipped_detector(snakemake.output[0], snakemake.params.sha256)
    log.info("shipped detector (SHA-256 %s) staged at %s", snakemake.params.sha256, snakemake.output[0])
