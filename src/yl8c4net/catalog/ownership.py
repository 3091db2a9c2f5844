"""Which field owns a detection: one owner for every part of the sky a run covers.

Consecutive fields of one run and camcol share 128 rows (`FIELD_OVERLAP_ROWS`): field N's
rows 1361-1488 are field N+1's rows 0-127, the same pixels of the drift scan. As SDSS does for
its primary objects, the overlap is split at its middle: field N owns its rows up to 1425
(exclusive), field N+1 from its row 64. A field with no catalogued neighbour on one side (the
run's first or last field, or a neighbour that was quarantined) owns its rows to that edge,
so no sky is lost. The decision for a detection depends only on its own row and on which
fields of the run are catalogued, never on the order in which fields, blocks or jobs are
processed. A detection in rows its neighbour owns is kept only where the owner did not
detect the same source, so a source missed by the owning field is not lost.

Camcols of one run do not overlap (the gaps between them are scanned by the other strip of
the stripe). Overlaps between runs are resolved by the catalogue's run order: the first run
in the config owns shared sky (`yl8c4net.catalog.build.exclude_existing`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from yl8c4net.catalog.sky import chord, unit_vectors
from yl8c4net.sdss.fields import FIELD_OVERLAP_ROWS, FRAME_SHAPE_XY

#: Rows of a frame that belong to the neighbouring field when it is catalogued.
HALF_OVERLAP_ROWS = FIELD_OVERLAP_ROWS / 2.0


def field_keys(run, camcol, field) -> np.ndarray:
    """(run, camcol, field) as one int64: fields < 10^4, camcols < 10."""
    return (np.asarray(run, np.int64) * 10 + np.asarray(camcol, np.int64)) * 10_000 + np.asarray(field, np.int64)


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
    key = field_keys(run, camcol, field)
    present = np.unique(field_keys(*np.array(sorted(catalogued), np.int64).reshape(-1, 3).T))
    has_prev = np.isin(key - 1, present)
    has_next = np.isin(key + 1, present)
    low = np.where(has_prev, HALF_OVERLAP_ROWS - 0.5, -np.inf)
    high = np.where(has_next, FRAME_SHAPE_XY[1] - HALF_OVERLAP_ROWS - 0.5, np.inf)
    owned = (y >= low) & (y < high)
    owner = np.where(y < low, field - 1, np.where(y >= high, field + 1, field))
    return owned, owner


def split_by_owner(
    det: pd.DataFrame, catalogued: set[tuple[int, int, int]] | None = None, same_source_arcsec: float = 1.0
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(kept, set aside): detections in rows that a catalogued neighbour owns are set aside
    (with that neighbour in ``owner_field``) when the owner has a detection of the same
    source, i.e. one within ``same_source_arcsec`` on the sky. A source that only the
    non-owning field detected keeps that field's row, so ownership never loses a source.

    ``catalogued`` defaults to the fields that have detections in ``det``; pass the run's
    catalogued fields so that a neighbour without detections still owns its rows. The
    result depends only on the detections and the catalogued fields, not on row order.
    """
    if len(det) == 0 or "y" not in det:
        return det, det.iloc[:0]
    if catalogued is None:
        catalogued = set(map(tuple, det[["run", "camcol", "field"]].drop_duplicates().to_numpy().tolist()))
    owned, owner = owner_mask(det, set(catalogued))
    candidates = np.flatnonzero(~owned)
    if len(candidates):
        # The owner's detection of the same source lies in the owner's own overlap rows:
        # one 4-d tree over the detections in overlap rows, the 4th coordinate the field's
        # integer key (fields differ by >= 1, far more than any chord), queried at
        # (position, owner's key) so that it can only find the owner's detections.
        key = field_keys(det["run"], det["camcol"], det["field"])
        y = det["y"].to_numpy(float)
        margin = 4.0  # pixels: the same source in two fields differs by ~0.1 px
        band = np.flatnonzero(
            (y < FIELD_OVERLAP_ROWS + margin) | (y >= FRAME_SHAPE_XY[1] - FIELD_OVERLAP_ROWS - margin)
        )
        ra, dec = det["ra"].to_numpy(), det["dec"].to_numpy()
        tree = cKDTree(np.column_stack([unit_vectors(ra[band], dec[band]), key[band].astype(float)]))
        owner_key = key[candidates] - det["field"].to_numpy(np.int64)[candidates] + owner[candidates]
        probe = np.column_stack([unit_vectors(ra[candidates], dec[candidates]), owner_key.astype(float)])
        d, _ = tree.query(probe, k=1, distance_upper_bound=chord(same_source_arcsec))
        owned[candidates] = ~np.isfinite(d)
    aside = det[~owned].assign(owner_field=owner[~owned]).reset_index(drop=True)
    return det[owned].reset_index(drop=True), aside
