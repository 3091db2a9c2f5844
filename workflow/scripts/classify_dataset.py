"""Rule classify_dataset: the cut-outs (gathered from the fields, or rendered by the
simulator), class-balanced, stratified 8:1:1 split."""

import numpy as np

from yl8c4net.config import simulated_galaxy_population, lupton_stretch, simulated_seeing_range
from yl8c4net.images.cutouts import balance_and_split, gather_field_cutouts
from yl8c4net.io import atomic_output, write_json_atomic, write_parquet
from yl8c4net.images.labels import BoxTable
from yl8c4net.pipeline.steps import step

with step(snakemake.log[0], "classify_dataset") as log:
    cfg = snakemake.params.config
    cd = cfg["classify_data"]
    if cd["source"] == "rendered":
        from yl8c4net.simulate.cutout_set import render_cutout_set

        log.info("rendering %d cut-outs per class (seed %d)", cd["per_class"], cd["seed"])
        stack, table = render_cutout_set(
            cd["seed"],
            cd["per_class"],
            faint_fraction=cd["rendered_faint_fraction"],
            faint_range=tuple(cd["rendered_faint_range"]),
            stretch=lupton_stretch(cfg),
            params=simulated_galaxy_population(cfg),
            fwhm_range=simulated_seeing_range(cfg),
            box_table=BoxTable.from_config(cfg["training_data"]["box_table"]),
            jpeg_quality=90 if cfg["training_data"]["use_official_jpeg"] else None,
            seeing_reference_arcsec=cd["seeing_reference_arcsec"],
        )
    else:
        stack, table = gather_field_cutouts(snakemake.input.cutouts, snakemake.params.files)
    sample = balance_and_split(table, cd["per_class"], tuple(cd["fractions"]), cd["seed"])
    with atomic_output(snakemake.output.images) as tmp, open(tmp, "wb") as fh:
        np.save(fh, stack[sample["row"].to_numpy()])
    write_parquet(sample.drop(columns=["row"]), snakemake.output.table)
    counts = sample.groupby(["split", "class"]).size().unstack(fill_value=0)
    log.info("classification dataset (%s):\n%s", cd["source"], counts.to_string())
    summary = {
        "source": cd["source"],
        "available": table["class"].value_counts().to_dict(),
        "per_split": counts.to_dict(orient="index"),
    }
    write_json_atomic(summary, snakemake.output.summary)
