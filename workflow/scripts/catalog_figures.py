"""Rule catalog_figures: detection overlay of one field coloured by class, and a sky map."""

import pandas as pd

from yl8c4net.detect.plots import plot_overlay, plot_sky_map
from yl8c4net.imageio import load_image
from yl8c4net.steps import step

with step(snakemake.log[0], "catalog_figures") as log:
    w = snakemake.wildcards
    image = load_image(snakemake.input.image, flip=True)
    det = pd.read_parquet(snakemake.input.classified).rename(columns={"class": "cls"})
    plot_overlay(image, det, snakemake.output.overlay,
                 title=f"run {w.run} camcol {w.camcol} field {w.field}: red galaxy, blue star, green QSO")
    plot_sky_map(pd.read_parquet(snakemake.input.catalog), snakemake.output.sky_map)
    log.info("%d detections drawn", len(det))
