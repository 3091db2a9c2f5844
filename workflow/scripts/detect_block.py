"""Rule detect_block: YOLOv8 on the 12 tiles of each field, overlaps merged (GPU when present)."""

import json

import pyarrow as pa
import pyarrow.parquet as pq

from yl8c4net.device import pick_device
from yl8c4net.io import atomic_output
from yl8c4net.blocks import block_of_job, field_path, run_block
from yl8c4net.detect.env import prepare_ultralytics
from yl8c4net.io import sha256_of
from yl8c4net.steps import step

with step(snakemake.log[0], "detect_block") as log:
    cfg = snakemake.params.config["detector"]
    files = snakemake.params.files
    block = block_of_job(snakemake)
    prepare_ultralytics(snakemake.params.run_dir)
    from ultralytics import YOLO

    from yl8c4net.detect.infer import detect_field
    from yl8c4net.imageio import load_image

    checksum = sha256_of(snakemake.input.weights)
    device = pick_device(cfg["device"])
    model = YOLO(snakemake.input.weights, task="detect")  # loaded once for the whole block
    log.info("detector %s on %s", snakemake.input.weights, device)

    def detect(fid):
        timings = {}
        image = load_image(field_path(files["composite"], fid), flip=True)
        table = detect_field(
            model,
            image,
            snakemake.params.config["training_data"]["tile_px"],
            cfg["conf"],
            cfg["iou"],
            cfg["merge"],
            cfg["merge_iou"],
            cfg["max_det"],
            device=str(device),
            timings=timings,
            imgsz=cfg["imgsz"],
        )
        meta = {b"model_sha256": checksum.encode(), b"timings": json.dumps(timings).encode()}
        t = pa.Table.from_pandas(table, preserve_index=False)
        with atomic_output(field_path(files["detections"], fid)) as tmp:
            pq.write_table(t.replace_schema_metadata({**(t.schema.metadata or {}), **meta}), tmp)
        log.info("%s: %d detections (%s)", fid, len(table), timings)

    run_block("detect", block, snakemake.output[0], [snakemake.input.composite], detect, log)
