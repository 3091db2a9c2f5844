"""Rule field_cutouts: 48x48 cut-outs of the field's spectroscopically classified sources."""

import json
from pathlib import Path

import numpy as np
import pandas as pd

from yl8c4net.cutouts import crossmatch_spec, field_cutouts, select_for_classification
from yl8c4net.imageio import load_image
from yl8c4net.labels import BoxTable
from yl8c4net.sdss.catalog import write_parquet
from yl8c4net.sdss.frames import read_frame
from yl8c4net.steps import step

with step(snakemake.log[0], "field_cutouts") as log:
    cfg = snakemake.config
    cd, td = cfg["classify_data"], cfg["training_data"]
    w = snakemake.wildcards
    info = json.loads(Path(snakemake.input.info).read_text())
    channels = 3 + len(td["extra_bands"])
    crops = np.zeros((0, cd["cutout_px"], cd["cutout_px"], channels), np.uint8)
    table = pd.DataFrame()
    if info["status"] == "ok":
        photo = pd.read_parquet(snakemake.input.photoobj)
        spec = pd.read_parquet(snakemake.input.specphoto)
        matched = select_for_classification(crossmatch_spec(photo, spec, cd["crossmatch_radius_arcsec"]),
                                            td["r_limit"])
        manifest = json.loads(Path(snakemake.input.manifest).read_text())
        wcs = read_frame(Path(snakemake.input.manifest).parent / manifest["frames"]["r"]["file"]).wcs
        image = load_image(snakemake.input.image, flip=True)
        crops, table = field_cutouts(image if image.ndim == 3 else image[..., None], matched, wcs,
                                     BoxTable.from_config(td["box_table"]), cd["cutout_px"])
        table = table.assign(run=int(w.run), camcol=int(w.camcol), field=int(w.field))
        log.info("%d classified sources cut out (%s)", len(table), table["class"].value_counts().to_dict())
    else:
        log.warning("field quarantined: no cut-outs")
    np.save(snakemake.output.images, crops)
    write_parquet(table, snakemake.output.table)
