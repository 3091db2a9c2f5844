"""Rule training_data_block: labels, source pasting and the 12 YOLO tiles of each field."""

from pathlib import Path

import pandas as pd

from yl8c4net.pipeline.blocks import block_of_job, field_path, run_block
from yl8c4net.sdss.fetch import field_wcs
from yl8c4net.io import write_json_atomic
from yl8c4net.images.imageio import load_image
from yl8c4net.pipeline.steps import step
from yl8c4net.images.training_data import TrainingDataParams, build_field_tiles

with step(snakemake.log[0], "training_data_block") as log:
    cfg = snakemake.params.config
    files = snakemake.params.files
    block = block_of_job(snakemake)
    params = TrainingDataParams.from_config(cfg)

    def tiles(fid):
        wcs = field_wcs(field_path(files["frames"], fid))
        photo = pd.read_parquet(field_path(files["photoobj"], fid))
        if len(photo) == 0:
            log.warning("%s: PhotoObjAll has no rows; tiles get empty label files", fid)
        composite = load_image(field_path(files["composite"], fid), flip=True)
        if composite.ndim == 2:
            composite = composite[..., None]
        res = build_field_tiles(composite, photo, wcs, Path(field_path(files["tiles"], fid)), fid.tag, params)
        write_json_atomic(
            {"n_labels": res["n_labels"], "n_tile_boxes": res["n_tile_boxes"]}, field_path(files["tiles_summary"], fid)
        )

    run_block(
        "tiles",
        block,
        snakemake.output[0],
        [snakemake.input.frames, snakemake.input.composite, snakemake.input.photoobj],
        tiles,
        log,
        files=snakemake.params.files,
        workers=snakemake.threads,
    )
