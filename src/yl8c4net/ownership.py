"""Which field owns a detection: one owner for every part of the sky a run covers.

Consecutive fields of one run and camcol share 128 rows (`FIELD_OVERLAP_ROWS`): field N's
rows 1361-1488 are field N+1's rows 0-127, the same pixels of the drift scan. As SDSS does for
its primary objects, the overlap is split at its middle: field N owns its rows up to 1425
(exclusive), field N+1 from its row 64. A field with no catalogued neighbour on one side (the
run's first or last field, or a neighbour that was quarantined) owns its rows to that edge,
so no sky is lost. The decision for a detection depends only on its own row and on which
fields of the run are catalogued, never on the order in which fields, blocks or jobs are
processed.

Camcols of one run do not overlap (the gaps between them are scanned by the other strip of
the stripe). Overlaps between runs are resolved by the catalogue's run order: the first run
in the config owns shared sky (`yl8c4net.catalog.exclude_existing`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .sdss.fields import FIELD_OVERLAP_ROWS, FRAME_SHAPE_XY

#: Rows of a frame that belong to the neighbouring field when it is catalogued.
HALF_OVERLAP_ROWS = FIELD_OVERLAP_ROWS / 2.0


def owner_mask(detections: pd.DataFrame, catalogued: set[tuple[int, int, int]]) -> tuple[np.ndarray, np.ndarray]:
    """Which detections lie in the rows their own field owns.

    Parameters
    ----------
    detections : pandas.DataFrame
        With ``run``, ``camcol``, ``field`` and ``y`` (r-frame row, 0-based).
    catalogued : set of (run, camcol, field)
        The fields whose detections enter the catalogue.

    Returns
    -------
    owned : numpy.ndarray of bool
        True where the detection's field owns its row.
    owner_field : numpy.ndarray of int
        The field number that owns the row (the neighbour where ``owned`` is False).
    """
    n = len(detections)
    if n == 0:
        return np.zeros(0, bool), np.zeros(0, np.int64)
    run = detections["run"].to_numpy(np.int64)
    camcol = detections["camcol"].to_numpy(np.int64)
    field = detections["field"].to_numpy(np.int64)
    y = detections["y"].to_numpy(float)
    has_prev = np.fromiter(((r, c, f - 1) in catalogued for r, c, f in zip(run, camcol, field)), bool, n)
    has_next = np.fromiter(((r, c, f + 1) in catalogued for r, c, f in zip(run, camcol, field)), bool, n)
    low = np.where(has_prev, HALF_OVERLAP_ROWS - 0.5, -np.inf)
    high = np.where(has_next, FRAME_SHAPE_XY[1] - HALF_OVERLAP_ROWS - 0.5, np.inf)
    owned = (y >= low) & (y < high)
    owner = np.where(y < low, field - 1, np.where(y >= high, field + 1, field))
    return owned, owner


def split_by_owner(det: pd.DataFrame, catalogued: set[tuple[int, int, int]] | None = None
                   ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(owned, set aside): the detections in rows their own field owns, and those in rows a
    catalogued neighbour owns, with that neighbour in ``owner_field``.

    ``catalogued`` defaults to the fields that have detections in ``det``; pass the run's
    catalogued fields so that a neighbour without detections still owns its rows.
    """
    if len(det) == 0 or "y" not in det:
        return det, det.iloc[:0]
    if catalogued is None:
        catalogued = set(map(tuple, det[["run", "camcol", "field"]].drop_duplicates().to_numpy().tolist()))
    owned, owner = owner_mask(det, set(catalogued))
    aside = det[~owned].assign(owner_field=owner[~owned]).reset_index(drop=True)
    return det[owned].reset_index(drop=True), aside
