"""Rule pasting_figure: the source-pasting stages of one field, for the report."""

from pathlib import Path

import numpy as np
import pandas as pd

from yl8c4net.pipeline.blocks import field_path, field_status
from yl8c4net.report.figures import pasting_figure
from yl8c4net.images.imageio import load_image
from yl8c4net.images.pasting import densest_window, paste_sources
from yl8c4net.sdss.fields import FieldId
from yl8c4net.pipeline.steps import step
from yl8c4net.images.training_data import TrainingDataParams

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
    x0, y0 = densest_window(labels, image.shape, 400)
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
