"""Rule evaluate_classifier: test-split metrics, confusion matrix and ROC curves."""

import numpy as np
import pandas as pd

from yl8c4net.classify.metrics import classification_metrics, plot_confusion, plot_roc
from yl8c4net.classify.model import CLASS_NAMES
from yl8c4net.classify.train import load_classifier, predict_proba
from yl8c4net.io import sha256_of, write_json_atomic
from yl8c4net.steps import step

with step(snakemake.log[0], "evaluate_classifier") as log:
    cfg = snakemake.params.config
    images = np.load(snakemake.input.images)
    table = pd.read_parquet(snakemake.input.table)
    test = (table["split"] == "test").to_numpy()
    model, norm, meta = load_classifier(
        snakemake.input.weights, CLASS_NAMES, images.shape[-1], cfg["classifier"]["device"]
    )
    proba = predict_proba(model, norm, images[test])
    y = table.loc[test, "class"].map({c: k for k, c in enumerate(CLASS_NAMES)}).to_numpy()
    metrics = classification_metrics(y, proba, CLASS_NAMES)
    metrics["weights_sha256"] = sha256_of(snakemake.input.weights)
    write_json_atomic(metrics, snakemake.output.metrics)
    plot_confusion(metrics["confusion"], CLASS_NAMES, snakemake.output.confusion)
    plot_roc(y, proba, CLASS_NAMES, snakemake.output.roc)
    log.info("test accuracy %.4f, macro F1 %.4f on %d sources", metrics["accuracy"], metrics["macro_f1"], metrics["n"])
