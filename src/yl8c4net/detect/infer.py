"""Tiled inference on a whole frame: the 12 tiles of training, predicted in one batch (with
the tiles of other fields of the block: `BatchedFieldDetector`), boxes shifted to frame
pixels, duplicates in the tile overlaps merged.

Merging (``merge`` in the config):

- ``nms``: torchvision NMS over all tiles' boxes at ``merge_iou``.
- ``sahi``: SAHI's sliced-prediction merge (greedy NMM on intersection over smaller >= 0.5,
  merged boxes become their union), for comparison.
- ``owned_nms`` (default): each frame pixel is *owned* by the tile whose centre is nearest
  (the overlaps are split at their mid-lines); a box is kept only from the tile that owns its
  centre (with an 8-pixel tolerance, so none is lost on a mid-line), then NMS at
  ``merge_iou`` removes the near-identical pairs the tolerance lets through. A source cut by
  a tile edge is thereby taken whole from the neighbouring tile instead of being kept twice
  (a clipped box and a full one can overlap less than any sensible IoU threshold), and two
  distinct close sources are never merged just because their boxes overlap.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
import torchvision

from yl8c4net.images.tiling import tile_origins
from yl8c4net.runtime.device import batch_for_device

DETECTION_COLUMNS = ["x", "y", "w", "h", "conf", "tile"]
OWNERSHIP_TOLERANCE_PX = 8.0


@dataclass
class TileBoxes:
    """Raw boxes of all tiles in frame pixels of the *display* image (top row first)."""

    xyxy: np.ndarray  # (n, 4), pixel-edge coordinates: the image spans [0, width] x [0, height]
    conf: np.ndarray
    tile: np.ndarray


def cut_tiles(display: np.ndarray, tile: int = 640) -> tuple[list[np.ndarray], list[tuple[int, int]]]:
    """The tiles of a display-orientation image (rows, cols, channels), as in training."""
    height, width = display.shape[:2]
    origins = tile_origins(width, height, tile)
    return [np.ascontiguousarray(display[y0 : y0 + tile, x0 : x0 + tile]) for x0, y0 in origins], origins


def owner_tile(cx: np.ndarray, cy: np.ndarray, origins, tile: int) -> np.ndarray:
    """Index of the tile whose centre is nearest to each point (per axis, so the overlaps
    split at their mid-lines)."""
    xs = sorted({x0 for x0, _ in origins})
    ys = sorted({y0 for _, y0 in origins})
    xc = np.array(xs) + tile / 2
    yc = np.array(ys) + tile / 2
    ix = np.abs(cx[:, None] - xc[None, :]).argmin(axis=1)
    iy = np.abs(cy[:, None] - yc[None, :]).argmin(axis=1)
    return iy * len(xs) + ix


def _owned(boxes: TileBoxes, origins, tile: int, tol: float) -> np.ndarray:
    cx = (boxes.xyxy[:, 0] + boxes.xyxy[:, 2]) / 2
    cy = (boxes.xyxy[:, 1] + boxes.xyxy[:, 3]) / 2
    keep = owner_tile(cx, cy, origins, tile) == boxes.tile
    if tol > 0:
        for dx, dy in ((tol, 0), (-tol, 0), (0, tol), (0, -tol)):
            keep |= owner_tile(cx + dx, cy + dy, origins, tile) == boxes.tile
    return keep


def merge_tile_boxes(
    boxes: TileBoxes, origins, tile: int = 640, method: str = "owned_nms", iou: float = 0.5
) -> np.ndarray:
    """Indices of the boxes kept after merging the overlaps (see module docstring)."""
    idx = np.arange(len(boxes.conf))
    if len(idx) == 0:
        return idx
    if method == "owned_nms":
        idx = idx[_owned(boxes, origins, tile, OWNERSHIP_TOLERANCE_PX)]
    elif method != "nms":
        raise ValueError(f"unknown merge method {method!r} (nms or owned_nms)")
    keep = torchvision.ops.nms(
        torch.as_tensor(boxes.xyxy[idx], dtype=torch.float32),
        torch.as_tensor(boxes.conf[idx], dtype=torch.float32),
        iou,
    )
    return np.sort(idx[keep.numpy()])


def sahi_merge(boxes: TileBoxes, match_metric: str = "IOS", match_threshold: float = 0.5) -> TileBoxes:
    """SAHI's sliced-prediction merge (its defaults: greedy NMM, IoS >= 0.5): lower-scored
    overlapping boxes are merged into the best one, whose box becomes their union."""
    from sahi.postprocess.combine import greedy_nmm

    if len(boxes.conf) == 0:
        return boxes
    preds = np.column_stack([boxes.xyxy, boxes.conf, np.zeros(len(boxes.conf))])
    groups = greedy_nmm(preds, match_metric=match_metric, match_threshold=match_threshold)
    keep = sorted(groups)
    xyxy = np.array(
        [
            [
                boxes.xyxy[[k, *groups[k]], 0].min(),
                boxes.xyxy[[k, *groups[k]], 1].min(),
                boxes.xyxy[[k, *groups[k]], 2].max(),
                boxes.xyxy[[k, *groups[k]], 3].max(),
            ]
            for k in keep
        ]
    )
    return TileBoxes(xyxy.reshape(-1, 4), boxes.conf[keep], boxes.tile[keep])


def to_frame_table(boxes: TileBoxes, kept: np.ndarray, height: int) -> pd.DataFrame:
    """Detections in FITS-order frame pixels: centre x, y (0-based pixel centres), w, h."""
    b = boxes.xyxy[kept]
    x = (b[:, 0] + b[:, 2]) / 2 - 0.5
    y_display = (b[:, 1] + b[:, 3]) / 2 - 0.5
    return pd.DataFrame(
        {
            "x": x,
            "y": (height - 1) - y_display,
            "w": b[:, 2] - b[:, 0],
            "h": b[:, 3] - b[:, 1],
            "conf": boxes.conf[kept].astype(np.float32),
            "tile": boxes.tile[kept].astype(np.int16),
        }
    )


def predict_tiles(
    model,
    tiles: list[np.ndarray],
    origins,
    conf: float = 0.25,
    iou: float = 0.7,
    imgsz: int = 640,
    max_det: int = 3000,
    device=None,
) -> TileBoxes:
    """Run an ultralytics model on the tiles in one batch; boxes shifted to the frame."""
    # ultralytics expects BGR numpy images (OpenCV convention); our tiles are RGB.
    batch = [t[..., ::-1] if t.shape[2] == 3 else t for t in tiles]
    results = model.predict(
        batch, imgsz=imgsz, conf=conf, iou=iou, max_det=max_det, verbose=False, device=device, batch=len(batch)
    )
    xyxy, confs, tile_ids = [], [], []
    for k, (res, (x0, y0)) in enumerate(zip(results, origins)):
        b = res.boxes
        if b is None or len(b) == 0:
            continue
        xy = b.xyxy.cpu().numpy().astype(np.float64)
        xy[:, [0, 2]] += x0
        xy[:, [1, 3]] += y0
        xyxy.append(xy)
        confs.append(b.conf.cpu().numpy())
        tile_ids.append(np.full(len(xy), k))
    if not xyxy:
        return TileBoxes(np.zeros((0, 4)), np.zeros(0), np.zeros(0, int))
    return TileBoxes(np.concatenate(xyxy), np.concatenate(confs), np.concatenate(tile_ids))


def detect_field(model, composite: np.ndarray, *settings, timings: dict | None = None, **kw) -> pd.DataFrame:
    """Detections of one field from its composite (FITS row order, as `field_composite`);
    the settings are `detect_fields`'. ``timings``, when given, receives the stage timings."""
    tables, field_timings = detect_fields(model, [composite], *settings, **kw)
    if timings is not None:
        timings.update(field_timings[0])
    return tables[0]


def detect_fields(
    model,
    composites: list[np.ndarray],
    tile: int = 640,
    conf: float = 0.25,
    iou: float = 0.7,
    merge: str = "owned_nms",
    merge_iou: float = 0.5,
    max_det: int = 3000,
    device=None,
    imgsz: int | None = None,
) -> tuple[list[pd.DataFrame], list[dict]]:
    """Detections of several fields, their tiles predicted in one batch (so a GPU is fed
    ``len(composites)`` x 12 tiles at a time); each field's boxes are merged on their own.

    ``tile`` is the tile side cut from the frame (the training tiles'); ``imgsz`` the size
    the network sees them at (``detector.imgsz``; default: the tile side).

    Returns the fields' detection tables and their stage timings (the batch's prediction
    time shared out by tile count).
    """
    import time

    t0 = time.perf_counter()
    cut = [cut_tiles(c[::-1], tile) for c in composites]
    all_tiles = [t for tiles, _ in cut for t in tiles]
    all_origins = [o for _, origins in cut for o in origins]
    t1 = time.perf_counter()
    boxes = predict_tiles(model, all_tiles, all_origins, conf, iou, imgsz or tile, max_det, device)
    t2 = time.perf_counter()
    tables, timings, first = [], [], 0
    for composite, (tiles, origins) in zip(composites, cut):
        t3 = time.perf_counter()
        sel = (boxes.tile >= first) & (boxes.tile < first + len(tiles))
        own = TileBoxes(boxes.xyxy[sel], boxes.conf[sel], boxes.tile[sel] - first)
        first += len(tiles)
        if merge == "sahi":
            own = sahi_merge(own)
            kept = np.arange(len(own.conf))
        else:
            kept = merge_tile_boxes(own, origins, tile, merge, merge_iou)
        tables.append(to_frame_table(own, kept, composite.shape[0]))
        share = len(tiles) / max(len(all_tiles), 1)
        timings.append(
            dict(
                tile_s=(t1 - t0) * share,
                predict_s=(t2 - t1) * share,
                merge_s=time.perf_counter() - t3,
                n_tiles=len(tiles),
                n_fields_in_batch=len(composites),
                n_raw=int(len(own.conf)),
                n_kept=int(len(kept)),
            )
        )
    return tables, timings


#: ``detector.batch_tiles: auto``: one SDSS frame's tiles on the CPU (larger batches are no
#: faster there), eight frames' on CUDA.
AUTO_BATCH_TILES = {"cpu": 12, "cuda": 96}


def batch_tiles(setting, device) -> int:
    """Tiles per detect batch for the ``detector.batch_tiles`` setting on ``device``."""
    return batch_for_device(setting, device, AUTO_BATCH_TILES)


class BatchedFieldDetector:
    """Detects a block's fields one by one, for `yl8c4net.pipeline.blocks.run_block`, while predicting
    the tiles of several fields in one batch.

    The fields go in fixed batches of ``batch_tiles`` tiles (12 per SDSS frame at 640 px),
    consecutive in ``fields``: asked for a field whose detections are not ready, it loads the
    fields of that field's batch and detects them together. Fixed batches make every field's
    boxes the same whatever order the fields are asked in, so threads may ask at once (the
    network runs one batch at a time, under a lock, while the callers' other work on earlier
    fields goes on). A field that fails to load keeps its error, raised only when that field
    is asked for: one bad field is still quarantined alone. A field the block skips
    (quarantined upstream) that loads still rides in its batch: its boxes are predicted and
    never asked for (a share of one batch; what it costs is that batch's, not a retry).
    """

    def __init__(self, model, fields, load_composite, batch_tiles: int, **settings):
        import threading

        from yl8c4net.sdss.fields import FRAME_SHAPE_XY
        from yl8c4net.images.tiling import tile_origins

        self.model, self.fields, self.load = model, list(fields), load_composite
        tiles_per_field = len(tile_origins(*FRAME_SHAPE_XY, settings.get("tile", 640)))
        self.fields_per_batch = max(1, batch_tiles // tiles_per_field)
        self.settings = settings
        self.ready: dict = {}
        self._lock = threading.Lock()

    def __call__(self, fid):
        with self._lock:
            if fid not in self.ready:
                self._detect_from(fid)
            result = self.ready.pop(fid)
        if isinstance(result, Exception):
            raise result
        return result

    def _detect_from(self, fid) -> None:
        if fid in self.fields:
            start = self.fields.index(fid) // self.fields_per_batch * self.fields_per_batch
            batch_fields = self.fields[start : start + self.fields_per_batch]
        else:
            batch_fields = [fid]
        loaded = []
        for f in batch_fields:
            if f in self.ready:
                continue
            try:
                loaded.append((f, self.load(f)))
            except Exception as exc:  # re-raised for that field alone, as if loaded there
                self.ready[f] = exc
        if loaded:
            tables, timings = detect_fields(self.model, [c for _, c in loaded], **self.settings)
            for (f, _), table, t in zip(loaded, tables, timings):
                self.ready[f] = (table, t)


def write_detections(table: pd.DataFrame, path, model_sha256: str, timings: dict | None = None) -> None:
    """One field's detections as Parquet, with the detector's checksum and the stage
    timings in the file metadata (atomically)."""
    import json

    import pyarrow as pa
    import pyarrow.parquet as pq

    from yl8c4net.io import atomic_output

    t = pa.Table.from_pandas(table, preserve_index=False)
    meta = {b"model_sha256": model_sha256.encode(), b"timings": json.dumps(timings or {}).encode()}
    with atomic_output(path) as tmp:
        pq.write_table(t.replace_schema_metadata({**(t.schema.metadata or {}), **meta}), tmp)
