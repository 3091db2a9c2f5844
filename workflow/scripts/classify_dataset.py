"""Rule classify_dataset: gather cut-outs, balance the classes, stratified 8:1:1 split."""

import numpy as np

from yl8c4net.cutouts import balance_and_split, gather_field_cutouts
from yl8c4net.io import atomic_output, write_json_atomic, write_parquet
from yl8c4net.steps import step

with step(snakemake.log[0], "classify_dataset") as log:
    cd = snakemake.params.config["classify_data"]
    stack, table = gather_field_cutouts(snakemake.input.cutouts, snakemake.params.files)
    sample = balance_and_split(table, cd["per_class"], tuple(cd["fractions"]), cd["seed"])
    with atomic_output(snakemake.output.images) as tmp, open(tmp, "wb") as fh:
        np.save(fh, stack[sample["row"].to_numpy()])
    write_parquet(sample.drop(columns=["row"]), snakemake.output.table)
    counts = sample.groupby(["split", "class"]).size().unstack(fill_value=0)
    log.info("classification dataset:\n%s", counts.to_string())
    summary = {"available": table["class"].value_counts().to_dict(), "per_split": counts.to_dict(orient="index")}
    write_json_atomic(summary, snakemake.output.summary)
