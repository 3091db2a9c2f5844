"""Rule field_training_data: labels, source pasting and the 12 YOLO tiles of one field."""

import json
from pathlib import Path

import pandas as pd

from yl8c4net.fetch import write_json_atomic
from yl8c4net.imageio import load_image
from yl8c4net.sdss.frames import read_frame
from yl8c4net.steps import step
from yl8c4net.training_data import TrainingDataParams, build_field_tiles

with step(snakemake.log[0], "field_training_data") as log:
    cfg = snakemake.config
    w = snakemake.wildcards
    info = json.loads(Path(snakemake.input.info).read_text())
    out = Path(snakemake.output.tiles)
    stem = f"{int(w.run):06d}-{w.camcol}-{int(w.field):04d}"
    if info["status"] != "ok":
        for sub in ("images", "labels"):
            (out / sub).mkdir(parents=True, exist_ok=True)
        summary = {"status": info["status"], "n_labels": 0, "n_tile_boxes": 0}
        log.warning("%s quarantined: no tiles", stem)
    else:
        manifest = json.loads(Path(snakemake.input.manifest).read_text())
        wcs = read_frame(Path(snakemake.input.manifest).parent / manifest["frames"]["r"]["file"]).wcs
        photo = pd.read_parquet(snakemake.input.photoobj)
        if len(photo) == 0:
            log.warning("%s: PhotoObjAll has no rows; tiles get empty label files", stem)
        composite = load_image(snakemake.input.image, flip=True)
        if composite.ndim == 2:
            composite = composite[..., None]
        res = build_field_tiles(composite, photo, wcs, out, stem, TrainingDataParams.from_config(cfg))
        summary = {"status": "ok", "n_labels": res["n_labels"], "n_tile_boxes": res["n_tile_boxes"]}
    write_json_atomic(summary, snakemake.output.summary)
