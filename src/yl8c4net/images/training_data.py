"""Detection training data of one field (paper section 2.1): labels, source pasting, tiles,
and the dataset YAML that gathers fields into an ultralytics dataset split by field.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from yl8c4net.images.imageio import image_suffix, save_image
from yl8c4net.images.labels import BoxTable, make_labels
from yl8c4net.images.pasting import PastingParams, paste_sources
from yl8c4net.images.tiling import labels_in_tile, tile_origins, yolo_label_lines

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainingDataParams:
    """The ``training_data`` section of the config, parsed."""

    r_limit: float = 22.2
    box_table: BoxTable = field(default_factory=BoxTable)
    petro_scale: float = 2.0
    max_side_px: float = 160.0
    tile: int = 640
    min_visible: float = 0.5
    paste: bool = True
    pasting: PastingParams = field(default_factory=PastingParams)
    val_fraction: float = 0.17
    split_seed: int = 0

    @classmethod
    def from_config(cls, cfg: dict) -> "TrainingDataParams":
        t = cfg["training_data"]
        p = t["pasting"]
        return cls(
            r_limit=t["r_limit"],
            box_table=BoxTable.from_config(t["box_table"]),
            petro_scale=t["petro_scale"],
            max_side_px=t["max_side_px"],
            tile=t["tile_px"],
            min_visible=t["min_visible_fraction"],
            paste=p["enabled"],
            pasting=PastingParams(p["nsigma"], p["npixels"], p["box_size"], p["filter_size"], p["dilate_px"]),
            val_fraction=t.get("val_fraction", cls.val_fraction),
            split_seed=t.get("split_seed", cls.split_seed),
        )


def build_field_tiles(
    composite: np.ndarray,
    photo: pd.DataFrame,
    wcs,
    outdir: str | Path,
    stem: str,
    params: TrainingDataParams = TrainingDataParams(),
) -> dict:
    """Labels, pasted image and the 12 tiles (image + YOLO label file) of one field.

    Writes ``{outdir}/images/{stem}_t{k:02d}.png``, ``{outdir}/labels/{stem}_t{k:02d}.txt``,
    ``{outdir}/labels.parquet`` (frame-pixel boxes) and returns a summary with the
    `~yl8c4net.images.pasting.PastingResult` under ``"pasting"`` (not serialisable; for pictures).
    """
    outdir = Path(outdir)
    labels = make_labels(
        photo,
        wcs,
        params.box_table,
        params.r_limit,
        params.petro_scale,
        params.max_side_px,
        shape_xy=(composite.shape[1], composite.shape[0]),
    )
    result = paste_sources(composite, labels, params.pasting) if params.paste else None
    image = result.pasted if result is not None else composite
    # Tiles are cut from the image as displayed (top row first), like the JPEGs YOLO sees;
    # labels follow: y_display = (rows - 1) - y_fits.
    display = image[::-1]
    height, width = composite.shape[:2]
    shown = labels.assign(y=(height - 1) - labels["y"])
    (outdir / "images").mkdir(parents=True, exist_ok=True)
    (outdir / "labels").mkdir(parents=True, exist_ok=True)
    suffix = image_suffix(composite.shape[2])
    n_boxes = 0
    for k, (x0, y0) in enumerate(tile_origins(width, height, params.tile)):
        tile_img = display[y0 : y0 + params.tile, x0 : x0 + params.tile]
        tile_lab = labels_in_tile(shown, x0, y0, params.tile, params.min_visible)
        save_image(tile_img, outdir / "images" / f"{stem}_t{k:02d}{suffix}")
        (outdir / "labels" / f"{stem}_t{k:02d}.txt").write_text(yolo_label_lines(tile_lab, params.tile))
        n_boxes += len(tile_lab)
    labels.to_parquet(outdir / "labels.parquet", index=False)
    log.info("%s: %d labels (r <= %.1f), %d tile boxes", stem, len(labels), params.r_limit, n_boxes)
    return {"n_labels": int(len(labels)), "n_tile_boxes": int(n_boxes), "pasting": result, "labels": labels}


def split_fields(field_tags: list[str], val_fraction: float, seed: int = 0) -> dict[str, str]:
    """Deterministic train/val assignment by field (overlapping tiles never straddle it).

    Fields are ordered by a seeded hash of their tag and the first ``round(val_fraction * n)``
    (at least one when there are two or more fields) go to validation.
    """
    order = sorted(field_tags, key=lambda t: hashlib.sha256(f"{seed}:{t}".encode()).hexdigest())
    n_val = int(round(val_fraction * len(order)))
    if len(order) >= 2:
        n_val = min(max(n_val, 1), len(order) - 1)
    return {t: ("val" if k < n_val else "train") for k, t in enumerate(order)}


def write_dataset_yaml(
    tile_dirs: dict[str, Path], out_yaml: str | Path, val_fraction: float, seed: int = 0, channels: int = 3
) -> dict:
    """An ultralytics dataset YAML: ``train`` and ``val`` list files of tile image paths.

    Parameters
    ----------
    tile_dirs : dict
        Field tag -> directory written by `build_field_tiles`.
    """
    out_yaml = Path(out_yaml)
    split = split_fields(list(tile_dirs), val_fraction, seed)
    lists = {"train": [], "val": []}
    for tag in sorted(tile_dirs):
        images = sorted((Path(tile_dirs[tag]) / "images").iterdir())
        lists[split[tag]].extend(str(p.resolve()) for p in images)
    out_yaml.parent.mkdir(parents=True, exist_ok=True)
    for name, paths in lists.items():
        (out_yaml.parent / f"{name}.txt").write_text("\n".join(paths) + ("\n" if paths else ""))
    spec = {
        "path": str(out_yaml.parent.resolve()),
        "train": "train.txt",
        "val": "val.txt",
        "names": {0: "source"},
        "channels": channels,
    }
    out_yaml.write_text(yaml.safe_dump(spec, sort_keys=False))
    return {"split": split, "n_train_tiles": len(lists["train"]), "n_val_tiles": len(lists["val"])}
