"""Rule classify_dataset: gather cut-outs, balance the classes, stratified 8:1:1 split."""

import numpy as np
import pandas as pd

from yl8c4net.blocks import field_path, ok_fields
from yl8c4net.cutouts import balance_and_split
from yl8c4net.io import write_json_atomic
from yl8c4net.io import write_parquet
from yl8c4net.steps import step

with step(snakemake.log[0], "classify_dataset") as log:
    cd = snakemake.params.config["classify_data"]
    images, tables = [], []
    files = snakemake.params.files
    for fid in ok_fields(snakemake.input.cutouts):
        t = pd.read_parquet(field_path(files["cutout_table"], fid))
        if len(t):
            images.append(np.load(field_path(files["cutout_images"], fid)))
            tables.append(t)
    table = pd.concat(tables, ignore_index=True)
    stack = np.concatenate(images)
    # A source seen in two overlapping fields is one source: keep its first cut-out.
    first = ~table.duplicated("objid")
    table, stack = table[first].reset_index(drop=True), stack[first.to_numpy()]
    sample = balance_and_split(table, cd["per_class"], tuple(cd["fractions"]), cd["seed"])
    np.save(snakemake.output.images, stack[sample["row"].to_numpy()])
    write_parquet(sample.drop(columns=["row"]), snakemake.output.table)
    counts = sample.groupby(["split", "class"]).size().unstack(fill_value=0)
    log.info("classification dataset:\n%s", counts.to_string())
    write_json_atomic(
        {
            "available": table["class"].value_counts().to_dict(),
            "per_split": {s: counts.loc[s].to_dict() for s in counts.index},
        },
        snakemake.output.summary,
    )
