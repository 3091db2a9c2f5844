"""Rule stage_shipped_model: one of the package's models (``detector.weights``,
``classifier.weights`` or ``fusion.model`` set to ``shipped``) copied under the workflow's
tree, checked against the checksum the DAG was planned with."""

from yl8c4net.pipeline.model_files import SHIPPED_FILES, stage_shipped_model
from yl8c4net.pipeline.steps import step

with step(snakemake.log[0], "stage_shipped_model") as log:
    kind = {f: k for k, f in SHIPPED_FILES.items()}[snakemake.wildcards.model_file]
    stage_shipped_model(kind, snakemake.output[0], snakemake.params.sha256)
    log.info("shipped %s (SHA-256 %s) staged at %s", kind, snakemake.params.sha256, snakemake.output[0])
