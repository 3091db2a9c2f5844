"""Rule fine_tune_classifier_real: Conv4Net fine-tuned on the simulated training split and
weakly labelled cut-outs of real fields (`yl8c4net.classify.real_pixels`)."""

import numpy as np
import pandas as pd
import torch

from yl8c4net.classify.real_pixels import RealPixelParams, fine_tune_on_real, real_weak_set
from yl8c4net.classify.train import load_classifier, predict_proba
from yl8c4net.images.seeing import crop_settings
from yl8c4net.io import atomic_output, sha256_of, write_json_atomic
from yl8c4net.pipeline.model_files import record_model_checksum
from yl8c4net.pipeline.steps import step


def split_accuracy(model, norm, images, classes, names):
    proba = predict_proba(model, norm, images)
    return float((np.asarray(names)[proba.argmax(1)] == classes).mean())


with step(snakemake.log[0], "fine_tune_classifier_real") as log:
    cfg = snakemake.params.config
    params = RealPixelParams.from_config(cfg["real_pixels"])
    device = cfg["classifier"]["device"]
    images = np.load(snakemake.input.images)
    table = pd.read_parquet(snakemake.input.table)
    train = (table["split"] == "train").to_numpy()
    val = (table["split"] == "val").to_numpy()
    model, norm, _ = load_classifier(snakemake.input.weights, device="cpu")
    checkpoint = torch.load(snakemake.input.weights, map_location="cpu", weights_only=False)
    names = checkpoint["class_names"]
    val_before = split_accuracy(model, norm, images[val], table["class"].to_numpy()[val], names)
    real, real_images = real_weak_set(params, snakemake.params.files["frames"], crop_settings(checkpoint))
    log.info("%d weakly labelled real cut-outs from %d fields", len(real), len(params.fields))
    tuned, history = fine_tune_on_real(
        checkpoint,
        images[train],
        table["class"].to_numpy()[train],
        real_images,
        real["weak_label"].to_numpy(),
        params,
        device,
        progress=lambda e, loss: log.info("epoch %d/%d: train loss %.4f", e + 1, params.epochs, loss),
        real_r=real["r"].to_numpy(float),
    )
    with atomic_output(snakemake.output.weights) as tmp:
        torch.save(tuned, tmp)
    record_model_checksum(snakemake.output.weights)
    model, norm, _ = load_classifier(snakemake.output.weights, device="cpu")
    val_after = split_accuracy(model, norm, images[val], table["class"].to_numpy()[val], names)
    log.info("simulated validation accuracy %.4f before, %.4f after", val_before, val_after)
    per_field = real.groupby("field")["weak_label"].value_counts().unstack(fill_value=0)
    write_json_atomic(
        {
            "base_weights_sha256": sha256_of(snakemake.input.weights),
            "weights_sha256": sha256_of(snakemake.output.weights),
            "real_pixels": tuned["real_pixels"],
            "weak_labels_per_field": {f: {k: int(v) for k, v in row.items()} for f, row in per_field.iterrows()},
            "simulated_val_accuracy": {"before": val_before, "after": val_after, "n": int(val.sum())},
            "history": history,
        },
        snakemake.output.summary,
    )
