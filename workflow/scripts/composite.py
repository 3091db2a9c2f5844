"""Rule composite: the field's colour image on the r-band grid (official JPEG or from FITS)."""

import json
from pathlib import Path

import numpy as np

from yl8c4net.composite import field_composite
from yl8c4net.config import lupton_stretch
from yl8c4net.fetch import write_json_atomic
from yl8c4net.imageio import save_image
from yl8c4net.steps import step

with step(snakemake.log[0], "composite") as log:
    cfg = snakemake.config
    td = cfg["training_data"]
    manifest_path = Path(snakemake.input.manifest)
    manifest = json.loads(manifest_path.read_text())
    info = {"status": manifest["status"], "reason": manifest["reason"], "origin": None,
            "channels": 3 + len(td["extra_bands"])}
    if manifest["status"] == "ok":
        image, info["origin"] = field_composite(manifest_path.parent, manifest, lupton_stretch(cfg),
                                                td["use_official_jpeg"], td["extra_bands"])
        log.info("composite from %s, shape %s", info["origin"], image.shape)
    else:
        # A quarantined field keeps a 1-pixel placeholder so the DAG stays whole; every
        # consumer reads the status next to it and writes empty results.
        image = np.zeros((1, 1, info["channels"]), np.uint8)
        log.warning("field quarantined, placeholder composite: %s", manifest["reason"])
    save_image(image if image.shape[2] != 1 else image[..., 0], snakemake.output.image, flip=True)
    write_json_atomic(info, snakemake.output.info)
