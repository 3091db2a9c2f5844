"""Rule evaluate_detector: metrics on the held-out (validation) fields against exact truth.
The held-out fields are detected again here down to detector.eval_conf (ultralytics'
validator floor), so AP and the PR curve rank every detection, not only the catalogue's."""

import json
from pathlib import Path

from yl8c4net.detect.env import prepare_ultralytics

prepare_ultralytics(snakemake.params.run_dir)  # before ultralytics is imported below

from ultralytics import YOLO  # noqa: E402

from yl8c4net.detect.env import use_cpu_threads  # noqa: E402

from yl8c4net.pipeline.blocks import field_path  # noqa: E402
from yl8c4net.detect.evaluate import detection_metrics, held_out_pairs  # noqa: E402
from yl8c4net.detect.infer import detect_field  # noqa: E402
from yl8c4net.detect.plots import plot_pr_curve, plot_recall_by_mag  # noqa: E402
from yl8c4net.runtime.device import pick_device  # noqa: E402
from yl8c4net.images.imageio import load_image  # noqa: E402
from yl8c4net.io import write_json_atomic  # noqa: E402
from yl8c4net.pipeline.steps import step  # noqa: E402

with step(snakemake.log[0], "evaluate_detector") as log:
    cfg = snakemake.params.config["detector"]
    files = snakemake.params.files
    model = YOLO(snakemake.input.weights, task="detect")
    use_cpu_threads(snakemake.threads)
    device = str(pick_device(cfg["device"]))

    def detect(fid):
        image = load_image(field_path(files["composite"], fid), flip=True)
        tile = snakemake.params.config["training_data"]["tile_px"]
        args = (cfg["iou"], cfg["merge"], cfg["merge_iou"], cfg["max_det"])
        return detect_field(model, image, tile, cfg["eval_conf"], *args, device=device, imgsz=cfg["imgsz"])

    split = json.loads(Path(snakemake.input.split).read_text())["split"]
    manifests = list(snakemake.input.detections) + list(snakemake.input.tiles)
    pairs, names = held_out_pairs(manifests, split, files, detect)
    metrics = detection_metrics(pairs, cfg["conf"], target_purity=cfg["target_purity"])
    metrics["fields"] = names
    metrics["truth"] = "labels of PhotoObjAll rows with r <= r_limit (simulated: exact positions)"
    write_json_atomic(metrics, snakemake.output.metrics)
    plot_recall_by_mag(metrics["recall_by_r_mag"], snakemake.output.recall_plot, cfg["conf"])
    plot_pr_curve(metrics, snakemake.output.pr_curve)
    log.info(
        "held-out fields %s (%d truth boxes, %d detections >= %g): at conf %g P %.3f R %.3f F1 %.3f;"
        " AP50 %.3f AP50:95 %.3f, recall(r<21) %s",
        names,
        metrics["n_truth"],
        metrics["n_pred"],
        cfg["eval_conf"],
        cfg["conf"],
        metrics["precision"],
        metrics["recall"],
        metrics["f1"],
        metrics["ap50"],
        metrics["ap50_95"],
        metrics["recall_r_lt_21"],
    )
    op = metrics["operating_point"]
    if op["conf"] is None:
        log.warning("no confidence reaches precision %.2f on the held-out fields", op["target_purity"])
    else:
        log.info(
            "operating point for precision >= %.2f: conf %.3f (P %.3f, R %.3f); detector.conf is %g",
            op["target_purity"],
            op["conf"],
            op["precision"],
            op["recall"],
            cfg["conf"],
        )
