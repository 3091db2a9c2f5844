"""Rule evaluate_classifier: test-split metrics, confusion matrix and ROC curves."""

from yl8c4net.classify.metrics import classification_metrics, plot_confusion, plot_roc
from yl8c4net.classify.model import CLASS_NAMES
from yl8c4net.classify.train import predict_split
from yl8c4net.io import sha256_of, write_json_atomic
from yl8c4net.pipeline.steps import step

with step(snakemake.log[0], "evaluate_classifier") as log:
    cfg = snakemake.params.config
    rows, proba = predict_split(
        snakemake.input.images, snakemake.input.table, snakemake.input.weights, "test", cfg["classifier"]["device"]
    )
    y = rows["class"].map({c: k for k, c in enumerate(CLASS_NAMES)}).to_numpy()
    metrics = classification_metrics(y, proba, CLASS_NAMES)
    metrics["weights_sha256"] = sha256_of(snakemake.input.weights)
    write_json_atomic(metrics, snakemake.output.metrics)
    plot_confusion(metrics["confusion"], CLASS_NAMES, snakemake.output.confusion)
    plot_roc(y, proba, CLASS_NAMES, snakemake.output.roc)
    log.info("test accuracy %.4f, macro F1 %.4f on %d sources", metrics["accuracy"], metrics["macro_f1"], metrics["n"])
