"""Rule metrics_table: every metric of the run in one HTML table for the report."""

import json
from pathlib import Path

import pandas as pd

from yl8c4net.catalog.files import read_provenance
from yl8c4net.io import write_text_atomic
from yl8c4net.report.tables import metrics_page
from yl8c4net.pipeline.steps import step

with step(snakemake.log[0], "metrics_table") as log:
    inputs = snakemake.input
    read = lambda key: json.loads(Path(inputs[key]).read_text()) if key in inputs.keys() else None  # noqa: E731
    page = metrics_page(
        read("detector"),
        read("classifier"),
        pd.read_csv(inputs.field_status, sep="\t"),
        pd.read_parquet(inputs.catalog, columns=["class", "class_image"]),
        pd.read_parquet(inputs.unmatched, columns=["ra"]),
        read("fusion"),
        read_provenance(inputs.catalog),
    )
    write_text_atomic(page, snakemake.output[0])
    log.info("metrics table written to %s", snakemake.output[0])
