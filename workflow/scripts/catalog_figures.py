"""Rule catalog_figures: detection overlay of one field coloured by class, with scale bar and compass."""

import pandas as pd

from yl8c4net.pipeline.blocks import field_path, field_status
from yl8c4net.detect.plots import plot_overlay
from yl8c4net.errors import BlockManifestError
from yl8c4net.sdss.fetch import field_wcs
from yl8c4net.images.imageio import load_image
from yl8c4net.sdss.fields import FieldId
from yl8c4net.pipeline.steps import step

with step(snakemake.log[0], "catalog_figures") as log:
    w = snakemake.wildcards
    fid = FieldId(int(w.run), int(w.camcol), int(w.field), snakemake.params.config["sdss"]["rerun"])
    reason = field_status([snakemake.input.frames, snakemake.input.composite, snakemake.input.classified]).get(fid)
    if reason is not None:
        raise BlockManifestError(f"{fid} is quarantined ({reason}): pick another field for the overlay")
    image = load_image(field_path(snakemake.params.files["composite"], fid), flip=True)
    det = pd.read_parquet(field_path(snakemake.params.files["classified"], fid)).rename(columns={"class": "cls"})
    plot_overlay(
        image,
        det,
        snakemake.output.overlay,
        title=f"run {w.run} camcol {w.camcol} field {w.field}: central 600 x 600 pixels",
        wcs=field_wcs(field_path(snakemake.params.files["frames"], fid)),
    )
    log.info("%d detections drawn", len(det))
