"""Rule detect_field: YOLOv8 on the 12 tiles of one field, overlaps merged (GPU when present)."""

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from yl8c4net.detect.env import prepare_ultralytics
from yl8c4net.fetch import sha256_of
from yl8c4net.steps import step

with step(snakemake.log[0], "detect_field") as log:
    cfg = snakemake.config["detector"]
    prepare_ultralytics(snakemake.params.run_dir)
    from ultralytics import YOLO

    from yl8c4net.classify.train import pick_device
    from yl8c4net.detect.infer import DETECTION_COLUMNS, detect_field
    from yl8c4net.imageio import load_image

    info = json.loads(Path(snakemake.input.info).read_text())
    checksum = sha256_of(snakemake.input.weights)
    timings = {}
    if info["status"] == "ok":
        device = pick_device(cfg["device"])
        model = YOLO(snakemake.input.weights, task="detect")
        image = load_image(snakemake.input.image, flip=True)
        table = detect_field(model, image, snakemake.config["training_data"]["tile_px"], cfg["conf"], cfg["iou"],
                             cfg["merge"], cfg["merge_iou"], cfg["max_det"], device=str(device), timings=timings)
        log.info("%d detections (%s)", len(table), timings)
    else:
        import pandas as pd

        table = pd.DataFrame({c: pd.Series([], dtype="float64") for c in DETECTION_COLUMNS})
        log.warning("field quarantined: no detections")
    meta = {b"model_sha256": checksum.encode(), b"timings": json.dumps(timings).encode(),
            b"field_status": info["status"].encode()}
    t = pa.Table.from_pandas(table, preserve_index=False)
    pq.write_table(t.replace_schema_metadata({**(t.schema.metadata or {}), **meta}), snakemake.output[0])
