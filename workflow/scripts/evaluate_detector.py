"""Rule evaluate_detector: metrics on the held-out (validation) fields against exact truth."""

import json
from pathlib import Path

from yl8c4net.detect.env import prepare_ultralytics

prepare_ultralytics(snakemake.params.run_dir)  # before ultralytics is imported below

from yl8c4net.detect.evaluate import detection_metrics, held_out_pairs  # noqa: E402
from yl8c4net.detect.plots import plot_pr_curve, plot_recall_by_mag  # noqa: E402
from yl8c4net.io import write_json_atomic  # noqa: E402
from yl8c4net.steps import step  # noqa: E402

with step(snakemake.log[0], "evaluate_detector") as log:
    split = json.loads(Path(snakemake.input.split).read_text())["split"]
    manifests = list(snakemake.input.detections) + list(snakemake.input.tiles)
    pairs, names = held_out_pairs(manifests, split, snakemake.params.files)
    metrics = detection_metrics(pairs, snakemake.params.config["detector"]["conf"])
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
