"""Rule pasting_figure: the source-pasting stages of one field, for the report."""

from pathlib import Path

import numpy as np
import pandas as pd

from yl8c4net.blocks import field_path, field_status
from yl8c4net.figures import pasting_figure
from yl8c4net.imageio import load_image
from yl8c4net.pasting import paste_sources
from yl8c4net.sdss.fields import FieldId
from yl8c4net.steps import step
from yl8c4net.training_data import TrainingDataParams

with step(snakemake.log[0], "pasting_figure") as log:
    cfg = snakemake.params.config
    params = TrainingDataParams.from_config(cfg)
    w = snakemake.wildcards
    fid = FieldId(int(w.run), int(w.camcol), int(w.field), cfg["sdss"]["rerun"])
    reason = field_status([snakemake.input.composite, snakemake.input.tiles]).get(fid)
    if reason is not None:
        # The report still gets its picture, which says why it is empty.
        image = np.zeros((400, 400, 3), np.uint8)
        labels = pd.DataFrame({c: pd.Series([], dtype=float) for c in ("x", "y", "w", "h")})
        log.warning("%s is quarantined (%s): empty figure", fid, reason)
    else:
        image = load_image(field_path(snakemake.params.files["composite"], fid), flip=True)
        labels = pd.read_parquet(Path(field_path(snakemake.params.files["tiles"], fid)) / "labels.parquet")
    result = paste_sources(image, labels, params.pasting)
    # The most crowded 400 x 400 region shows the most.
    counts, ye, xe = np.histogram2d(labels["y"], labels["x"], bins=(3, 5), range=[[0, 1489], [0, 2048]])
    iy, ix = np.unravel_index(np.argmax(counts), counts.shape) if len(labels) else (0, 0)
    x0 = int(min(max(xe[ix] + (xe[1] - xe[0]) / 2 - 200, 0), image.shape[1] - 400))
    y0 = int(min(max(ye[iy] + (ye[1] - ye[0]) / 2 - 200, 0), image.shape[0] - 400))
    pasting_figure(
        image,
        labels,
        result,
        snakemake.output[0],
        x0,
        y0,
        400,
        title=f"run {w.run} camcol {w.camcol} field {w.field}: source pasting",
    )
    log.info("figure of region x0=%d y0=%d", x0, y0)
