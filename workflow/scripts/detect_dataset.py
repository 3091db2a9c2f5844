"""Rule detect_dataset: the ultralytics dataset YAML, train/val split by field."""

from pathlib import Path

from yl8c4net.pipeline.blocks import field_path, field_tag, ok_fields
from yl8c4net.io import write_json_atomic
from yl8c4net.pipeline.steps import step
from yl8c4net.images.training_data import write_dataset_yaml

with step(snakemake.log[0], "detect_dataset") as log:
    cfg = snakemake.params.config["training_data"]
    dirs = {
        field_tag(f): Path(field_path(snakemake.params.files["tiles"], f)) for f in ok_fields(snakemake.input.tiles)
    }
    summary = write_dataset_yaml(
        dirs, snakemake.output.yaml, cfg["val_fraction"], cfg["split_seed"], channels=3 + len(cfg["extra_bands"])
    )
    log.info("%d fields: %d train tiles, %d val tiles", len(dirs), summary["n_train_tiles"], summary["n_val_tiles"])
    write_json_atomic(summary, snakemake.output.summary)
