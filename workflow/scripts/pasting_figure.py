"""Rule pasting_figure: the source-pasting stages of one field, for the report."""

import json
from pathlib import Path

import numpy as np
import pandas as pd

from yl8c4net.figures import pasting_figure
from yl8c4net.imageio import load_image
from yl8c4net.pasting import paste_sources
from yl8c4net.sdss.frames import read_frame
from yl8c4net.steps import step
from yl8c4net.training_data import TrainingDataParams

with step(snakemake.log[0], "pasting_figure") as log:
    cfg = snakemake.config
    info = json.loads(Path(snakemake.input.info).read_text())
    params = TrainingDataParams.from_config(cfg)
    w = snakemake.wildcards
    if info["status"] != "ok":
        image = np.zeros((400, 400, 3), np.uint8)
        labels = pd.DataFrame({c: pd.Series([], dtype=float) for c in ("x", "y", "w", "h")})
    else:
        image = load_image(snakemake.input.image, flip=True)
        labels = pd.read_parquet(Path(snakemake.input.tiles) / "labels.parquet")
    result = paste_sources(image, labels, params.pasting)
    # The most crowded 400 x 400 region shows the most.
    counts, ye, xe = np.histogram2d(labels["y"], labels["x"], bins=(3, 5), range=[[0, 1489], [0, 2048]])
    iy, ix = np.unravel_index(np.argmax(counts), counts.shape) if len(labels) else (0, 0)
    x0 = int(min(max(xe[ix] + (xe[1] - xe[0]) / 2 - 200, 0), image.shape[1] - 400))
    y0 = int(min(max(ye[iy] + (ye[1] - ye[0]) / 2 - 200, 0), image.shape[0] - 400))
    pasting_figure(image, labels, result, snakemake.output[0], x0, y0, 400,
                   title=f"run {w.run} camcol {w.camcol} field {w.field}: source pasting")
    log.info("figure of region x0=%d y0=%d", x0, y0)
