"""Rule classify_block: Conv4Net class and probabilities for every detection of each field,
its windowed centroid on the r frame, and that position on the sky through the r-frame WCS
(`yl8c4net.classify.field.FieldClassification`), ``field_workers.gpu`` fields at a time."""

from yl8c4net.pipeline.blocks import block_of_job, run_block
from yl8c4net.classify.field import FieldClassification
from yl8c4net.classify.infer import predict_batch
from yl8c4net.classify.model import CLASS_NAMES
from yl8c4net.classify.train import load_classifier
from yl8c4net.runtime.onnx import load_classifier_onnx
from yl8c4net.pipeline.model_files import check_model_before_use
from yl8c4net.pipeline.steps import step

with step(snakemake.log[0], "classify_block") as log:
    cfg = snakemake.params.config
    block = block_of_job(snakemake)
    channels = 3 + len(cfg["training_data"]["extra_bands"])
    check_model_before_use(snakemake.input.weights, "classifier", CLASS_NAMES, channels)
    if cfg["classifier"]["runtime"] == "onnx":
        model, norm, _ = load_classifier_onnx(snakemake.input.weights, CLASS_NAMES, channels, snakemake.threads)
    else:
        model, norm, _ = load_classifier(snakemake.input.weights, CLASS_NAMES, channels, cfg["classifier"]["device"])
    classify = FieldClassification(
        model,
        norm,
        snakemake.params.files,
        cfg["catalog"]["centroid_window_fwhm_arcsec"],
        lean=cfg["sdss"]["lean"],
        aperture_radius_arcsec=cfg["catalog"]["aperture_radius_arcsec"],
        saturation_counts=cfg["detector"]["bright_complement"]["saturation_counts"],
        near_bright_mag_r=cfg["catalog"]["near_bright_mag_r"],
        near_bright_radius_arcsec=cfg["catalog"]["near_bright_radius_arcsec"],
        predict_batch=predict_batch(cfg["classifier"]["predict_batch"], model),
    )
    run_block(
        "classify",
        block,
        snakemake.output[0],
        [snakemake.input.frames, snakemake.input.composite, snakemake.input.detections],
        classify,
        log,
        files=snakemake.params.files,
        workers=snakemake.threads,
    )
