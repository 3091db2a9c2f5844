"""Rule classify_field: Conv4Net class and probabilities for every detection of a field."""

import json
from pathlib import Path

import pandas as pd

from yl8c4net.catalog import pixels_to_sky
from yl8c4net.classify.infer import classify_detections
from yl8c4net.classify.model import CLASS_NAMES
from yl8c4net.classify.train import load_classifier
from yl8c4net.imageio import load_image
from yl8c4net.sdss.catalog import write_parquet
from yl8c4net.sdss.frames import read_frame
from yl8c4net.steps import step

with step(snakemake.log[0], "classify_field") as log:
    cfg = snakemake.config
    info = json.loads(Path(snakemake.input.info).read_text())
    det = pd.read_parquet(snakemake.input.detections)
    channels = 3 + len(cfg["training_data"]["extra_bands"])
    model, norm, _ = load_classifier(snakemake.input.weights, CLASS_NAMES, channels, cfg["classifier"]["device"])
    if info["status"] == "ok" and len(det):
        image = load_image(snakemake.input.image, flip=True)
        out = classify_detections(model, norm, image if image.ndim == 3 else image[..., None], det)
        manifest = json.loads(Path(snakemake.input.manifest).read_text())
        wcs = read_frame(Path(snakemake.input.manifest).parent / manifest["frames"]["r"]["file"]).wcs
        out = pixels_to_sky(out, wcs)
        log.info("%d detections classified: %s", len(out), out["class"].value_counts().to_dict())
    else:
        out = det.assign(
            **{"class": pd.Series([], dtype="string"), **{f"p_{c.lower()}": pd.Series([], dtype="float32")
                                                        for c in CLASS_NAMES}},
            ra=pd.Series([], dtype="float64"), dec=pd.Series([], dtype="float64"))
        log.warning("no detections to classify (field status %s)", info["status"])
    write_parquet(out, snakemake.output[0])
