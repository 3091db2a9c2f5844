"""Overlapping 640 x 640 tiles of a frame (paper section 2.1.1): 4 columns x 3 rows for a
2048 x 1489 frame, evenly spread so that together they cover every pixel.

`tile_origins` is a pure function of the frame and tile sizes, shared by the dataset builder
and by inference, so a tile id means the same pixels everywhere.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd


def tile_grid(length: int, tile: int) -> list[int]:
    """Evenly spread origins along one axis: the fewest tiles that cover ``length`` pixels,
    first at 0, last ending at ``length``."""
    if length <= tile:
        return [0]
    n = math.ceil(length / tile)
    # One more tile when the tiles would just touch: the paper overlaps them.
    if n * tile == length:
        n += 1
    return [round(k * (length - tile) / (n - 1)) for k in range(n)]


def tile_origins(width: int, height: int, tile: int = 640) -> list[tuple[int, int]]:
    """(x0, y0) of every tile, row by row (tile id = index in this list).

    Examples
    --------
    >>> tile_origins(2048, 1489)
    [(0, 0), (469, 0), (939, 0), (1408, 0), (0, 424), (469, 424), (939, 424), (1408, 424), (0, 849), (469, 849), (939, 849), (1408, 849)]
    """
    return [(x0, y0) for y0 in tile_grid(height, tile) for x0 in tile_grid(width, tile)]


def labels_in_tile(labels: pd.DataFrame, x0: int, y0: int, tile: int = 640, min_visible: float = 0.5) -> pd.DataFrame:
    """Labels of one tile, in tile pixel coordinates, clipped to the tile.

    A box cut by the tile edge is kept (clipped) only when at least ``min_visible`` of its
    area lies inside the tile.
    """
    lo_x, hi_x = x0 - 0.5, x0 + tile - 0.5
    lo_y, hi_y = y0 - 0.5, y0 + tile - 0.5
    bx0, bx1 = labels["x"] - labels["w"] / 2, labels["x"] + labels["w"] / 2
    by0, by1 = labels["y"] - labels["h"] / 2, labels["y"] + labels["h"] / 2
    cx0, cx1 = np.clip(bx0, lo_x, hi_x), np.clip(bx1, lo_x, hi_x)
    cy0, cy1 = np.clip(by0, lo_y, hi_y), np.clip(by1, lo_y, hi_y)
    area = (labels["w"] * labels["h"]).to_numpy()
    visible = ((cx1 - cx0).clip(lower=0) * (cy1 - cy0).clip(lower=0)).to_numpy()
    keep = (area > 0) & (visible >= min_visible * area)
    out = labels[keep].copy()
    out["x"] = ((cx0 + cx1) / 2)[keep] - x0
    out["y"] = ((cy0 + cy1) / 2)[keep] - y0
    out["w"] = (cx1 - cx0)[keep]
    out["h"] = (cy1 - cy0)[keep]
    return out.reset_index(drop=True)


def yolo_label_lines(tile_labels: pd.DataFrame, tile: int = 640, class_id: int = 0) -> str:
    """YOLO text labels: ``class cx cy w h`` normalised to the tile, one line per box.

    Tile pixel centres are at integers, so the tile spans [-0.5, tile - 0.5].
    """
    lines = [
        f"{class_id} {(x + 0.5) / tile:.6f} {(y + 0.5) / tile:.6f} {w / tile:.6f} {h / tile:.6f}"
        for x, y, w, h in tile_labels[["x", "y", "w", "h"]].itertuples(index=False)
    ]
    return "\n".join(lines) + ("\n" if lines else "")
