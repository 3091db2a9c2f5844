"""Rule fetch_block: the official irg JPEG and the verified frames the config needs
(`yl8c4net.sdss.fetch.frame_bands`), and a manifest, for every field of a block. Frames already on disk with the right checksum are not fetched again, so a killed
block job resumes without repeating its downloads."""

from pathlib import Path

from yl8c4net.pipeline.blocks import block_of_job, field_path, run_block
from yl8c4net.config import frame_source
from yl8c4net.sdss.fetch import fetch_field
from yl8c4net.io import write_json_atomic
from yl8c4net.pipeline.steps import step

with step(snakemake.log[0], "fetch_block") as log:
    cfg = snakemake.params.config
    block = block_of_job(snakemake)
    source = frame_source(cfg)

    def fetch(fid):
        out = Path(field_path(snakemake.params.files["frames"], fid))
        manifest = fetch_field(
            fid,
            source,
            cfg["sdss"]["bands"],
            out.parent,
            cfg["sdss"]["data_release"],
            use_official_jpeg=cfg["training_data"]["use_official_jpeg"],
            astrans=snakemake.input.astrans[0] if snakemake.input.astrans else None,
            frame_storage=cfg["sdss"]["frame_storage"],
        )
        write_json_atomic(manifest, out)
        return None if manifest["status"] == "ok" else manifest["reason"]

    # Downloads: connections, not cores (the rule keeps threads 1; not a param, so changing
    # it reruns nothing).
    run_block(
        "fetch",
        block,
        snakemake.output[0],
        list(snakemake.input.sim),
        fetch,
        log,
        files=snakemake.params.files,
        workers=snakemake.config["field_workers"]["downloads"],
    )
