"""Rule composite_block: each field's colour image on the r-band grid (official JPEG or FITS)."""

import json
from pathlib import Path

from yl8c4net.pipeline.blocks import block_of_job, field_path, run_block
from yl8c4net.images.composite import field_composite
from yl8c4net.config import lupton_stretch
from yl8c4net.io import write_json_atomic
from yl8c4net.images.imageio import save_image
from yl8c4net.pipeline.steps import step

with step(snakemake.log[0], "composite_block") as log:
    cfg = snakemake.params.config
    td = cfg["training_data"]
    files = snakemake.params.files
    block = block_of_job(snakemake)

    def composite(fid):
        manifest_path = Path(field_path(files["frames"], fid))
        manifest = json.loads(manifest_path.read_text())
        image, origin = field_composite(
            manifest_path.parent,
            manifest,
            lupton_stretch(cfg),
            td["use_official_jpeg"],
            td["extra_bands"],
            background_box_px=cfg["composite"]["background_box_px"],
        )
        save_image(image if image.shape[2] != 1 else image[..., 0], field_path(files["composite"], fid), flip=True)
        write_json_atomic({"origin": origin, "channels": image.shape[2]}, field_path(files["composite_info"], fid))
        log.info("%s: composite from %s, shape %s", fid, origin, image.shape)

    run_block(
        "composite",
        block,
        snakemake.output[0],
        [snakemake.input.frames],
        composite,
        log,
        files=snakemake.params.files,
        workers=snakemake.threads,
    )
