"""Rule classify_block: Conv4Net class and probabilities for every detection of each field,
its windowed centroid on the r frame, and that position on the sky through the r-frame WCS."""

import pandas as pd

from yl8c4net.pipeline.blocks import block_of_job, field_path, run_block
from yl8c4net.catalog.sky import pixels_to_sky
from yl8c4net.classify.infer import classify_detections
from yl8c4net.classify.model import CLASS_NAMES
from yl8c4net.classify.train import load_classifier
from yl8c4net.sdss.fetch import fetched_r_frame, field_wcs, r_frame
from yl8c4net.images.imageio import load_image
from yl8c4net.catalog.positions import refine_positions
from yl8c4net.io import write_parquet
from yl8c4net.runtime.onnx import load_classifier_onnx
from yl8c4net.pipeline.model_files import check_model_before_use
from yl8c4net.pipeline.steps import step

with step(snakemake.log[0], "classify_block") as log:
    cfg = snakemake.params.config
    files = snakemake.params.files
    block = block_of_job(snakemake)
    channels = 3 + len(cfg["training_data"]["extra_bands"])
    check_model_before_use(snakemake.input.weights, "classifier", CLASS_NAMES, channels)
    if cfg["classifier"]["runtime"] == "onnx":
        model, norm, _ = load_classifier_onnx(snakemake.input.weights, CLASS_NAMES, channels, snakemake.threads)
    else:
        model, norm, _ = load_classifier(snakemake.input.weights, CLASS_NAMES, channels, cfg["classifier"]["device"])

    def classify(fid):
        det = pd.read_parquet(field_path(files["detections"], fid))
        image = load_image(field_path(files["composite"], fid), flip=True)
        classified = classify_detections(model, norm, image if image.ndim == 3 else image[..., None], det)
        manifest_path = field_path(files["frames"], fid)
        if cfg["sdss"]["lean"] and image.ndim == 3 and not fetched_r_frame(manifest_path):
            # Lean mode: centroids on the irg JPEG's r channel (a monotonic stretch keeps a
            # symmetric profile's centre), sky through the run's asTrans.
            pixels, wcs = image[..., 1].astype("float32"), field_wcs(manifest_path)
        else:
            frame = r_frame(manifest_path)
            pixels, wcs = frame.image, frame.wcs
        measured = refine_positions(classified, pixels, cfg["catalog"]["centroid_window_fwhm_arcsec"])
        out = pixels_to_sky(measured, wcs)
        write_parquet(out, field_path(files["classified"], fid))
        log.info(
            "%s: %d detections classified: %s; %d centroids measured, %d keep the box centre",
            fid,
            len(out),
            out["class"].value_counts().to_dict(),
            int((out["centroid_flag"] == 0).sum()),
            int((out["centroid_flag"] != 0).sum()),
        )

    run_block(
        "classify",
        block,
        snakemake.output[0],
        [snakemake.input.frames, snakemake.input.composite, snakemake.input.detections],
        classify,
        log,
        files=snakemake.params.files,
    )
