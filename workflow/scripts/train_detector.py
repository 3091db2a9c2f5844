"""Rule train_detector: YOLOv8 from its model YAML (offline, resumable)."""

import shutil
from pathlib import Path

from yl8c4net.pipeline.code_version import training_run_key
from yl8c4net.detect.train import DetectorParams, dataset_files, train_detector
from yl8c4net.pipeline.model_files import record_model_checksum
from yl8c4net.pipeline.steps import step

with step(snakemake.log[0], "train_detector") as log:
    params = DetectorParams.from_config(snakemake.params.config["detector"])
    run_dir = Path(snakemake.params.run_dir)
    # The run key covers the starting weights' bytes too: other weights under the same path
    # start a fresh run.
    inputs = dataset_files(snakemake.input.dataset) + [Path(p) for p in snakemake.input.init_weights]
    run_key = training_run_key(snakemake.params.config, snakemake.params.code, inputs)
    result = train_detector(snakemake.input.dataset, run_dir, params, run_key, threads=snakemake.threads)
    shutil.copyfile(result["weights"], snakemake.output.weights)
    record_model_checksum(snakemake.output.weights)
    shutil.copyfile(result["results_csv"], snakemake.output.results)
    curves = result["train_dir"] / "results.png"
    if curves.is_file():
        shutil.copyfile(curves, snakemake.output.curves)
    else:
        from yl8c4net.detect.plots import plot_training_curves

        plot_training_curves(snakemake.output.results, snakemake.output.curves)
    log.info("detector weights: %s", snakemake.output.weights)
