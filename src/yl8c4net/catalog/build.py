"""The source catalogue (paper section 4.4): deduplication of detections (friends of friends
and the same-field box rule) and the one-to-one PhotoObjAll crossmatch of a run.

Sky positions are unit vectors in a KD-tree (`yl8c4net.catalog.sky`); the columns of the
files are in `yl8c4net.catalog.columns`.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from yl8c4net.catalog.columns import PHOTOOBJ_COPIED
from yl8c4net.catalog.ownership import field_keys, split_by_owner
from yl8c4net.catalog.photometry import SATURATED
from yl8c4net.catalog.sky import chord, separation_arcsec, sky_order, sky_sort, unit_vectors
from yl8c4net.sdss.queries import PHOTO_FLAG_SATURATED


@dataclass(frozen=True)
class MergeRule:
    """When detections are one source (see `deduplicate`).

    Attributes
    ----------
    radius_arcsec : float
        Any two detections whose centres are closer than this are one source (friends of
        friends; the paper's 0.5").
    min_ios : float
        Two detections of the same field whose boxes overlap by at least this fraction of
        the smaller box (intersection over smaller) ...
    max_offset_box_fraction : float
        ... and whose centres are closer than this fraction of the smaller box's side are
        one source too: the detector's double boxes on one bright star or large galaxy,
        whose centroids can differ by more than the radius. Two real sources 1.5" apart
        (boxes of 12-26 px at r > 16) stay apart: 0.15 of those sides is 0.7-1.5".
    """

    radius_arcsec: float = 0.5
    min_ios: float = 0.7
    max_offset_box_fraction: float = 0.15
    pixel_scale_arcsec: float = 0.396

    @classmethod
    def of(cls, rule: "float | MergeRule") -> "MergeRule":
        """A rule as given, or a bare radius (arcsec) as the friends-of-friends rule alone."""
        return rule if isinstance(rule, MergeRule) else cls(float(rule), 1.0, 0.0)


def same_source_boxes(a: np.ndarray, b: np.ndarray, cols: dict, rule: MergeRule) -> np.ndarray:
    """Which candidate pairs (a[k], b[k]) `MergeRule`'s box rule joins: same field,
    intersection over the smaller box >= ``min_ios``, centre distance <= ``max_offset_box_fraction``
    x the smaller box's shorter side."""
    x, y, w, h, key = cols["x"], cols["y"], cols["w"], cols["h"], cols["key"]
    side = np.minimum(np.minimum(w[a], h[a]), np.minimum(w[b], h[b]))
    close = (key[a] == key[b]) & (np.hypot(x[a] - x[b], y[a] - y[b]) <= rule.max_offset_box_fraction * side)
    ix = np.clip(np.minimum(x[a] + w[a] / 2, x[b] + w[b] / 2) - np.maximum(x[a] - w[a] / 2, x[b] - w[b] / 2), 0, None)
    iy = np.clip(np.minimum(y[a] + h[a] / 2, y[b] + h[b] / 2) - np.maximum(y[a] - h[a] / 2, y[b] - h[b] / 2), 0, None)
    return close & (ix * iy / np.minimum(w[a] * h[a], w[b] * h[b]) >= rule.min_ios)


def merge_pairs(det: pd.DataFrame, order: np.ndarray, xyz: np.ndarray, rule: MergeRule) -> np.ndarray:
    """Pairs (positions in sky order) of detections that `MergeRule` makes one source: closer
    than its radius, or joined by its box rule within one field.

    One KD-tree query finds both: the search reaches as far as the box rule can for all but
    the 0.1% largest boxes (searched among themselves), and the pairs are then sorted into
    the two kinds. Pixel distances are exact (each field's own pixels); the sky search only
    proposes candidates, with 5% to spare for the projection.
    """
    tree = cKDTree(xyz, balanced_tree=False)
    need = ("run", "camcol", "field", "x", "y", "w", "h")
    box_rule = rule.max_offset_box_fraction > 0 and len(det) > 1 and all(c in det for c in need)
    if not box_rule:
        return tree.query_pairs(chord(rule.radius_arcsec), output_type="ndarray")
    cols = {c: det[c].to_numpy(float)[order] for c in ("x", "y", "w", "h")}
    cols["key"] = field_keys(det["run"], det["camcol"], det["field"])[order]
    short_side = np.minimum(cols["w"], cols["h"])
    scale = rule.max_offset_box_fraction * rule.pixel_scale_arcsec * 1.05  # arcsec per pixel of side
    usual = float(np.quantile(short_side, 0.999))
    pairs = tree.query_pairs(chord(max(rule.radius_arcsec, scale * usual)), output_type="ndarray")
    a, b = pairs[:, 0], pairs[:, 1]
    near = np.linalg.norm(xyz[a] - xyz[b], axis=1) < chord(rule.radius_arcsec)
    joined = [pairs[near | same_source_boxes(a, b, cols, rule)]]
    big = np.flatnonzero(short_side > usual)
    if len(big) > 1:
        extra = big[cKDTree(xyz[big]).query_pairs(chord(scale * short_side[big].max()), output_type="ndarray")]
        joined.append(extra[same_source_boxes(extra[:, 0], extra[:, 1], cols, rule)])
    return np.concatenate(joined)


def deduplicate(det: pd.DataFrame, radius_arcsec: float | MergeRule = 0.5) -> pd.DataFrame:
    """One row per source: detections are grouped (friends of friends) when their centres
    are closer than the rule's radius, or, within one field, when their boxes overlap as
    `MergeRule` says. Each group keeps its highest-confidence member, with ``n_merged`` =
    group size. Rows come out in sky order.

    Ties in confidence go to the lowest (run, camcol, field, y, x), so the result does not
    depend on the input order.
    """
    rule = MergeRule.of(radius_arcsec)
    if len(det) == 0:
        return det.assign(n_merged=pd.Series([], dtype="int16"))
    # Work on sorted copies of the few columns the grouping needs and gather the whole
    # table once at the end: moving every column twice costs more than the tree.
    order = sky_order(det["ra"].to_numpy(), det["dec"].to_numpy())
    xyz = unit_vectors(det["ra"].to_numpy()[order], det["dec"].to_numpy()[order])
    pairs = merge_pairs(det, order, xyz, rule)
    n = len(det)
    graph = coo_matrix((np.ones(len(pairs), bool), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    _, group = connected_components(graph, directed=False)
    sizes = np.bincount(group)
    # Only members of groups of two or more need a choice; singletons (most rows) stay.
    members = np.flatnonzero(sizes[group] > 1)
    rows = order[members]
    keys = [c for c in ("run", "camcol", "field", "y", "x") if c in det.columns]
    ranked = members[
        np.lexsort(
            [det[k].to_numpy()[rows] for k in reversed(keys)] + [-det["det_conf"].to_numpy()[rows], group[members]]
        )
    ]
    first = np.ones(len(ranked), bool)
    first[1:] = group[ranked][1:] != group[ranked][:-1]
    keep = sizes[group] == 1
    keep[ranked[first]] = True
    out = det.take(order[keep]).reset_index(drop=True)
    out["n_merged"] = sizes[group[keep]].astype(np.int16)
    return out


class PhotoObjIndex:
    """PhotoObjAll rows in sky order with a KD-tree over them, for one-to-one matching.

    Building it is the expensive half of a crossmatch; ``gather_run`` builds it in a
    second thread while the detections are deduplicated (scipy releases the GIL).
    """

    #: Candidates looked at per detection: a source in a field overlap is in PhotoObjAll
    #: twice (primary and secondary), and a blend may have two more neighbours.
    CANDIDATES = 4

    def __init__(self, photo: pd.DataFrame):
        self.rows = sky_sort(photo)
        self.primary = (self.rows["mode"].to_numpy() == 1) if "mode" in self.rows else np.ones(len(self.rows), bool)
        self.tree = (
            cKDTree(unit_vectors(self.rows["ra"], self.rows["dec"]), balanced_tree=False) if len(self.rows) else None
        )

    def match(self, xyz: np.ndarray, radius_arcsec: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One-to-one assignment of detections (unit vectors, in priority order) to rows.

        Each detection asks for its preferred candidate within the radius: a primary row
        (mode 1) before any other, then the nearest. A row asked for by several detections
        goes to the nearest of them (ties to the earlier detection); the others ask for
        their next candidate, in rounds, until none is left. Each row is assigned at most
        once.

        Returns
        -------
        row : numpy.ndarray
            Row of ``self.rows`` per detection, -1 when none was assigned.
        sep : numpy.ndarray
            Separation in arcsec (inf when none).
        contested : numpy.ndarray of bool
            True where candidates existed but all went to nearer detections.
        """
        n = len(xyz)
        row = np.full(n, -1)
        sep = np.full(n, np.inf)
        if n == 0 or self.tree is None:
            return row, sep, np.zeros(n, bool)
        k = min(self.CANDIDATES, len(self.rows))
        d, j = self.tree.query(xyz, k=k, distance_upper_bound=chord(radius_arcsec), workers=-1)
        d, j = d.reshape(n, k), j.reshape(n, k)
        valid = np.isfinite(d)
        cand_det = np.repeat(np.arange(n), k)[valid.ravel()]
        cand_row = j.ravel()[valid.ravel()]
        cand_sep = separation_arcsec(d.ravel()[valid.ravel()])
        # Preference of each detection: primary first, then nearest (the tree returns each
        # detection's candidates nearest first, detections in order: a stable sort suffices).
        pref = np.argsort(cand_det * 2 + ~self.primary[cand_row], kind="stable")
        cand_det, cand_row, cand_sep = cand_det[pref], cand_row[pref], cand_sep[pref]
        has_candidate = np.zeros(n, bool)
        has_candidate[cand_det] = True
        alive = np.ones(len(cand_det), bool)
        taken = np.zeros(len(self.rows), bool)
        while True:
            open_ = np.flatnonzero(alive & (row[cand_det] < 0) & ~taken[cand_row])
            if len(open_) == 0:
                break
            # Each unassigned detection's best open candidate.
            first = open_[np.r_[True, cand_det[open_][1:] != cand_det[open_][:-1]]]
            # A row asked for once is assigned; a contested row goes to the nearest asker
            # (ties: the earlier detection).
            asked = np.bincount(cand_row[first], minlength=len(self.rows))[cand_row[first]]
            win = first[asked == 1]
            contested = first[asked > 1]
            if len(contested):
                bid = contested[np.lexsort((cand_det[contested], cand_sep[contested], cand_row[contested]))]
                win = np.concatenate([win, bid[np.r_[True, cand_row[bid][1:] != cand_row[bid][:-1]]]])
            row[cand_det[win]] = cand_row[win]
            sep[cand_det[win]] = cand_sep[win]
            taken[cand_row[win]] = True
            alive[win] = False
        return row, sep, has_candidate & (row < 0)


def crossmatch_photoobj(
    det: pd.DataFrame, photo: pd.DataFrame | PhotoObjIndex, radius_arcsec: float = 2.0
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One-to-one match of detections with PhotoObjAll within ``radius_arcsec``.

    Primary rows (mode 1) are preferred: a source in a field overlap is in PhotoObjAll
    twice. Each PhotoObjAll object is matched at most once (`PhotoObjIndex.match`).
    Returns (matched, unmatched), both in the detections' order; nothing is dropped: the
    unmatched table says why in ``unmatched_reason`` (``no_photoobj`` or
    ``photoobj_taken``).
    """
    det = det.reset_index(drop=True)
    index = photo if isinstance(photo, PhotoObjIndex) else PhotoObjIndex(photo)
    best, sep, contested = index.match(unit_vectors(det["ra"], det["dec"]), radius_arcsec)
    hit = best >= 0
    unmatched = det[~hit].reset_index(drop=True)
    unmatched["unmatched_reason"] = np.where(contested[~hit], "photoobj_taken", "no_photoobj")
    # det is already this function's own (copy-on-write) frame: no copy when all rows match.
    matched = det if hit.all() else det[hit].reset_index(drop=True)
    rows = best[hit]
    for dst, src in PHOTOOBJ_COPIED.items():
        matched[dst] = index.rows[src].to_numpy()[rows]
    matched["match_sep_arcsec"] = sep[hit].astype(np.float32)
    if "phot_flags" in matched:
        saturated = (matched["photo_flags"].to_numpy() & PHOTO_FLAG_SATURATED) != 0
        matched["phot_flags"] = (matched["phot_flags"].to_numpy() | np.where(saturated, SATURATED, 0)).astype(np.int16)
    return matched, unmatched


def exclude_existing(
    new: pd.DataFrame, existing: list[pd.DataFrame], radius_arcsec: float = 0.5
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split a run's unique detections into (new sources, duplicates of earlier partitions).

    Earlier partitions are never changed: where a new run overlaps them, the earlier row
    stands and the new run's duplicate goes to a side table.
    """
    old = [e for e in existing if len(e)]
    if not old or len(new) == 0:
        return new, new.iloc[:0]
    prev = pd.concat([e[["ra", "dec"]] for e in old], ignore_index=True)
    tree = cKDTree(unit_vectors(prev["ra"], prev["dec"]))
    d, _ = tree.query(unit_vectors(new["ra"], new["dec"]), k=1, distance_upper_bound=chord(radius_arcsec), workers=-1)
    dup = np.isfinite(d)
    return new[~dup].reset_index(drop=True), new[dup].reset_index(drop=True)


@dataclass
class RunCatalog:
    """One run's gather result, every table in sky order."""

    unique: int  # detections left after ownership and deduplication
    matched: pd.DataFrame  # new sources with a PhotoObjAll match: the catalogue rows
    unmatched: pd.DataFrame  # new sources without one: the possible new sources
    duplicates: pd.DataFrame  # set aside: overlap rows another field owns, or in an earlier run


def gather_run(
    det: pd.DataFrame,
    photo: pd.DataFrame,
    existing: list[pd.DataFrame] = (),
    dedup: float | MergeRule = 0.5,
    match_radius_arcsec: float = 2.0,
    catalogued_fields: set[tuple[int, int, int]] | None = None,
) -> RunCatalog:
    """One run's catalogue: keep the detections in rows their own field owns, merge the
    detections of one source, set aside those earlier partitions already hold, and
    crossmatch the rest one-to-one with PhotoObjAll.

    ``catalogued_fields`` are the run's (run, camcol, field) that enter the catalogue,
    including fields without detections (default: the fields in ``det``). The PhotoObjAll
    index is built in a second thread while the detections are deduplicated: the two
    halves take about the same time and both release the GIL.
    """
    with ThreadPoolExecutor(max_workers=1) as pool:
        index = pool.submit(PhotoObjIndex, photo)
        det, overlap = split_by_owner(det, catalogued_fields)
        unique = deduplicate(det, dedup)
        new, dup = exclude_existing(unique, list(existing), MergeRule.of(dedup).radius_arcsec)
        matched, unmatched = crossmatch_photoobj(new, index.result(), match_radius_arcsec)
    parts = [
        part
        for part in (
            overlap.assign(n_merged=np.int16(1), duplicate_reason="field_overlap"),
            dup.assign(duplicate_reason="earlier_run"),
        )
        if len(part)
    ]
    duplicates = sky_sort(pd.concat(parts, ignore_index=True)) if parts else dup.assign(duplicate_reason="")
    return RunCatalog(len(unique), matched, unmatched, duplicates)
