"""Rule cutouts_block: 48x48 cut-outs of each field's spectroscopically classified sources."""

import numpy as np
import pandas as pd

from yl8c4net.pipeline.blocks import block_of_job, field_path, run_block
from yl8c4net.images.cutouts import crossmatch_spec, field_cutouts, select_for_classification
from yl8c4net.images.seeing import crop_scale, field_fwhm_arcsec
from yl8c4net.sdss.fetch import fetched_r_frame, field_wcs, r_frame
from yl8c4net.images.imageio import load_image
from yl8c4net.images.labels import BoxTable
from yl8c4net.io import write_parquet
from yl8c4net.pipeline.steps import step

with step(snakemake.log[0], "cutouts_block") as log:
    cfg = snakemake.params.config
    cd, td = cfg["classify_data"], cfg["training_data"]
    files = snakemake.params.files
    block = block_of_job(snakemake)
    spec = pd.read_parquet(snakemake.input.specphoto)
    box_table = BoxTable.from_config(td["box_table"])

    def cutouts(fid):
        photo = pd.read_parquet(field_path(files["photoobj"], fid))
        matched = select_for_classification(crossmatch_spec(photo, spec, cd["crossmatch_radius_arcsec"]), td["r_limit"])
        manifest = field_path(files["frames"], fid)
        wcs = field_wcs(manifest)
        image = load_image(field_path(files["composite"], fid), flip=True)
        scale = 1.0
        if cd["seeing_reference_arcsec"] is not None:
            if fetched_r_frame(manifest):
                # The seeing from the field's catalogued sources, as the classify step fits it from its detections.
                frame = r_frame(manifest)
                x, y = frame.wcs.all_world2pix(photo["ra"].to_numpy(), photo["dec"].to_numpy(), 0)
                scale = crop_scale(field_fwhm_arcsec(frame.image, x, y), cd["seeing_reference_arcsec"])
            else:
                log.warning("%s: no r frame (sdss.lean): cut-outs cropped at the reference seeing", fid)
        crops, table = field_cutouts(
            image if image.ndim == 3 else image[..., None], matched, wcs, box_table, cd["cutout_px"], scale
        )
        table = table.assign(run=fid.run, camcol=fid.camcol, field=fid.field)
        np.save(field_path(files["cutout_images"], fid), crops)
        write_parquet(table, field_path(files["cutout_table"], fid))
        log.info(
            "%s: %d classified sources cut out (%s), crop scale %.2f",
            fid,
            len(table),
            table["class"].value_counts().to_dict(),
            scale,
        )

    run_block(
        "cutouts",
        block,
        snakemake.output[0],
        [snakemake.input.frames, snakemake.input.composite, snakemake.input.photoobj],
        cutouts,
        log,
        files=snakemake.params.files,
        workers=snakemake.threads,
    )
