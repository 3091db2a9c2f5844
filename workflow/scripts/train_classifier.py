"""Rule train_classifier: Conv4Net on the cut-out dataset (resumable; best checkpoint kept)."""

import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from yl8c4net.classify.metrics import plot_history
from yl8c4net.classify.train import TrainParams, train_classifier
from yl8c4net.pipeline.code_version import training_run_key
from yl8c4net.io import write_json_atomic
from yl8c4net.pipeline.model_files import record_model_checksum
from yl8c4net.pipeline.steps import step

with step(snakemake.log[0], "train_classifier") as log:
    cfg = snakemake.params.config
    images = np.load(snakemake.input.images)
    table = pd.read_parquet(snakemake.input.table)
    out = Path(snakemake.output.weights).parent
    run_key = training_run_key(cfg, snakemake.params.code, [snakemake.input.images, snakemake.input.table])
    result = train_classifier(
        images,
        table,
        out / "work",
        TrainParams.from_config(cfg["classifier"]),
        run_key=run_key,
        seeing_reference_arcsec=cfg["classify_data"]["seeing_reference_arcsec"],
    )
    shutil.copyfile(out / "work" / "best.pt", snakemake.output.weights)
    record_model_checksum(snakemake.output.weights)
    plot_history(result["history"], snakemake.output.curves)
    write_json_atomic(result, snakemake.output.history)
    log.info(
        "best epoch %d, val accuracy %.4f on %s",
        result["best_epoch"] + 1,
        result["best_val_accuracy"],
        result["device"],
    )
