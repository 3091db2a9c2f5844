"""Rule sky_map: one run's catalogue sources on the sky, coloured by class."""

import pandas as pd

from yl8c4net.detect.plots import plot_sky_map
from yl8c4net.pipeline.steps import step

with step(snakemake.log[0], "sky_map") as log:
    run = snakemake.wildcards.run
    catalog = pd.read_parquet(snakemake.input[0], columns=["ra", "dec", "class"])
    plot_sky_map(catalog, snakemake.output[0], title=f"run {run}: {len(catalog)} catalogue sources")
    log.info("run %s: %d sources drawn", run, len(catalog))
