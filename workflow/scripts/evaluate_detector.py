"""Rule evaluate_detector: metrics on the held-out (validation) fields against exact truth."""

import json
from pathlib import Path

import pandas as pd

from yl8c4net.detect.env import prepare_ultralytics

prepare_ultralytics(snakemake.params.run_dir)  # before ultralytics is imported below

from yl8c4net.blocks import field_path, field_tag, ok_fields  # noqa: E402
from yl8c4net.detect.evaluate import detection_metrics  # noqa: E402
from yl8c4net.detect.plots import plot_pr_curve, plot_recall_by_mag  # noqa: E402
from yl8c4net.io import write_json_atomic  # noqa: E402
from yl8c4net.steps import step  # noqa: E402

with step(snakemake.log[0], "evaluate_detector") as log:
    cfg = snakemake.params.config
    split = json.loads(Path(snakemake.input.split).read_text())["split"]
    files = snakemake.params.files
    pairs, names = [], []
    for fid in ok_fields(list(snakemake.input.detections) + list(snakemake.input.tiles)):
        if split.get(field_tag(fid)) != "val":
            continue
        labels = pd.read_parquet(Path(field_path(files["tiles"], fid)) / "labels.parquet")
        pairs.append((labels, pd.read_parquet(field_path(files["detections"], fid))))
        names.append(field_tag(fid))
    metrics = detection_metrics(pairs, cfg["detector"]["conf"])
    metrics["fields"] = names
    metrics["truth"] = "labels of PhotoObjAll rows with r <= r_limit (simulated: exact positions)"
    write_json_atomic(metrics, snakemake.output.metrics)
    plot_recall_by_mag(metrics["recall_by_r_mag"], snakemake.output.recall_plot)
    plot_pr_curve(metrics["pr_curve_iou50"], snakemake.output.pr_curve, metrics["ap50"])
    log.info(
        "held-out fields %s: P %.3f R %.3f F1 %.3f AP50 %.3f AP50:95 %.3f, recall(r<21) %s",
        names,
        metrics["precision"],
        metrics["recall"],
        metrics["f1"],
        metrics["ap50"],
        metrics["ap50_95"],
        metrics["recall_r_lt_21"],
    )
