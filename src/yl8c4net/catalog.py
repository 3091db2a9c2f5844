"""The source catalogue (paper section 4.4): sky positions, deduplication, PhotoObjAll
crossmatch, per-run partitions with provenance.

Sky positions are handled as unit vectors in a KD-tree (scipy ``cKDTree``): an angular
radius ``theta`` is the chord ``2 sin(theta / 2)``. astropy's ``search_around_sky`` does the
same internally; calling the tree directly avoids building SkyCoord objects for millions of
rows (see benchmarks/catalog_scale.py for the comparison).
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from .sdss.catalog import SPEC_CLASSES

CLASS_DTYPE = pd.CategoricalDtype(list(SPEC_CLASSES))

CATALOG_COLUMNS = {
    "ra": ("float64", "deg", "right ascension (ICRS) of the detection centre, through the r-frame WCS"),
    "dec": ("float64", "deg", "declination (ICRS)"),
    "objid": ("int64", "", "PhotoObjAll objID of the nearest catalogue source"),
    "run": ("int32", "", "SDSS imaging run of the kept detection"),
    "rerun": ("int32", "", "processing rerun"),
    "camcol": ("int16", "", "camera column"),
    "field": ("int32", "", "field number"),
    "x": ("float32", "pix", "box centre column in the r frame (0-based)"),
    "y": ("float32", "pix", "box centre row in the r frame (0-based)"),
    "box": ("float32", "pix", "box side (larger of width and height)"),
    "det_conf": ("float32", "", "YOLOv8 confidence"),
    "class": (CLASS_DTYPE, "", "Conv4Net class: GALAXY, STAR or QSO (dictionary-encoded string)"),
    "p_galaxy": ("float32", "", "Conv4Net probability of GALAXY"),
    "p_star": ("float32", "", "Conv4Net probability of STAR"),
    "p_qso": ("float32", "", "Conv4Net probability of QSO"),
    "photo_type": ("int16", "", "PhotoObjAll type (3 galaxy, 6 star)"),
    "u": ("float32", "mag", "PhotoObjAll model magnitude u"),
    "g": ("float32", "mag", "model magnitude g"),
    "r": ("float32", "mag", "model magnitude r"),
    "i": ("float32", "mag", "model magnitude i"),
    "z": ("float32", "mag", "model magnitude z"),
    "match_sep_arcsec": ("float32", "arcsec", "separation to the PhotoObjAll source"),
    "n_merged": ("int16", "", "detections merged into this one (tiles, overlapping fields)"),
}


def unit_vectors(ra_deg, dec_deg) -> np.ndarray:
    ra = np.deg2rad(np.asarray(ra_deg, float))
    dec = np.deg2rad(np.asarray(dec_deg, float))
    cd = np.cos(dec)
    return np.column_stack([cd * np.cos(ra), cd * np.sin(ra), np.sin(dec)])


def chord(arcsec: float) -> float:
    return 2.0 * np.sin(np.deg2rad(arcsec / 3600.0) / 2.0)


def separation_arcsec(chord_len) -> np.ndarray:
    return np.rad2deg(2.0 * np.arcsin(np.clip(np.asarray(chord_len) / 2.0, 0, 1))) * 3600.0


def pixels_to_sky(detections: pd.DataFrame, wcs) -> pd.DataFrame:
    """Add ra, dec (deg) of the box centres through the r-frame WCS (0-based pixels)."""
    ra, dec = wcs.all_pix2world(detections["x"].to_numpy(float), detections["y"].to_numpy(float), 0)
    return detections.assign(ra=np.mod(ra, 360.0), dec=dec)


SKY_ZONE_DEG = 0.1


def sky_key(ra_deg, dec_deg, zone_deg: float = SKY_ZONE_DEG) -> np.ndarray:
    """A float key whose order is the sky order: dec zones of ``zone_deg``, then ra.

    One argsort of this key costs half a two-key lexsort; neighbours on the sky become
    neighbours in memory, which is what keeps the KD-trees below cache-friendly.
    """
    return np.floor((np.asarray(dec_deg, float) + 90.0) / zone_deg) * 1000.0 + np.asarray(ra_deg, float)


def sky_order(ra_deg, dec_deg) -> np.ndarray:
    return np.argsort(sky_key(ra_deg, dec_deg))


def is_sky_sorted(df: pd.DataFrame) -> bool:
    key = sky_key(df["ra"].to_numpy(), df["dec"].to_numpy())
    return bool(np.all(key[1:] >= key[:-1]))


def sky_sort(df: pd.DataFrame) -> pd.DataFrame:
    """Rows sorted by sky position (dec zones of 0.1 deg, then ra), for range reads."""
    key = sky_key(df["ra"].to_numpy(), df["dec"].to_numpy())
    if np.all(key[1:] >= key[:-1]):  # already in order (deduplicate's output is)
        return df.reset_index(drop=True)
    return df.iloc[np.argsort(key)].reset_index(drop=True)


def deduplicate(det: pd.DataFrame, radius_arcsec: float = 0.5) -> pd.DataFrame:
    """One row per group of detections closer than ``radius_arcsec`` (friends of friends):
    the highest-confidence member, with ``n_merged`` = group size. Rows come out in sky order.

    Ties in confidence go to the lowest (run, camcol, field, y, x), so the result does not
    depend on the input order.
    """
    if len(det) == 0:
        return det.assign(n_merged=pd.Series([], dtype="int16"))
    # Work on sorted copies of the few columns the grouping needs and gather the whole
    # table once at the end: moving every column twice costs more than the tree.
    order = sky_order(det["ra"].to_numpy(), det["dec"].to_numpy())
    xyz = unit_vectors(det["ra"].to_numpy()[order], det["dec"].to_numpy()[order])
    pairs = cKDTree(xyz, balanced_tree=False).query_pairs(chord(radius_arcsec), output_type="ndarray")
    n = len(det)
    graph = coo_matrix((np.ones(len(pairs), bool), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    _, group = connected_components(graph, directed=False)
    sizes = np.bincount(group)
    # Only members of groups of two or more need a choice; singletons (most rows) stay.
    members = np.flatnonzero(sizes[group] > 1)
    rows = order[members]
    keys = [c for c in ("run", "camcol", "field", "y", "x") if c in det.columns]
    ranked = members[np.lexsort([det[k].to_numpy()[rows] for k in reversed(keys)]
                                + [-det["det_conf"].to_numpy()[rows], group[members]])]
    first = np.ones(len(ranked), bool)
    first[1:] = group[ranked][1:] != group[ranked][:-1]
    keep = sizes[group] == 1
    keep[ranked[first]] = True
    out = det.take(order[keep]).reset_index(drop=True)
    out["n_merged"] = sizes[group[keep]].astype(np.int16)
    return out


class PhotoObjIndex:
    """PhotoObjAll rows in sky order with KD-trees over the primary rows (mode 1) and over
    all rows, for nearest-neighbour matching.

    Building it is the expensive half of a crossmatch; ``gather_run`` builds it in a
    second thread while the detections are deduplicated (scipy releases the GIL).
    """

    def __init__(self, photo: pd.DataFrame):
        self.rows = sky_sort(photo)
        xyz = unit_vectors(self.rows["ra"], self.rows["dec"])
        primary = (self.rows["mode"].to_numpy() == 1) if "mode" in self.rows else np.ones(len(self.rows), bool)
        self.subsets = []
        for subset in (primary, np.ones(len(self.rows), bool)):
            index = np.flatnonzero(subset)
            if len(index) and (not self.subsets or len(index) > len(self.subsets[0][0])):
                self.subsets.append((index, cKDTree(xyz[index], balanced_tree=False)))

    def nearest(self, xyz: np.ndarray, radius_arcsec: float) -> tuple[np.ndarray, np.ndarray]:
        """Row of ``self.rows`` (-1 when none) and separation (arcsec) for each unit vector:
        the nearest primary within the radius, else the nearest row of any mode."""
        best = np.full(len(xyz), -1)
        sep = np.full(len(xyz), np.inf)
        for index, tree in self.subsets:
            todo = np.flatnonzero(best < 0)
            if len(todo) == 0:
                break
            d, k = tree.query(xyz[todo], k=1, distance_upper_bound=chord(radius_arcsec), workers=-1)
            ok = np.isfinite(d)
            best[todo[ok]] = index[k[ok]]
            sep[todo[ok]] = separation_arcsec(d[ok])
        return best, sep


def crossmatch_photoobj(det: pd.DataFrame, photo: pd.DataFrame | PhotoObjIndex,
                        radius_arcsec: float = 2.0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Nearest PhotoObjAll source within ``radius_arcsec`` of each detection.

    Primary rows (mode 1) are preferred: a detection takes the nearest primary within the
    radius and falls back to any row only when no primary is that close (a source in a field
    overlap is in PhotoObjAll twice). Returns (matched, unmatched), both in the detections'
    order; nothing is dropped.
    """
    det = det.reset_index(drop=True)
    index = photo if isinstance(photo, PhotoObjIndex) else PhotoObjIndex(photo)
    if len(det) and len(index.rows):
        best, sep = index.nearest(unit_vectors(det["ra"], det["dec"]), radius_arcsec)
    else:
        best, sep = np.full(len(det), -1), np.full(len(det), np.inf)
    hit = best >= 0
    unmatched = det[~hit].reset_index(drop=True)
    # det is already this function's own (copy-on-write) frame: no copy when all rows match.
    matched = det if hit.all() else det[hit].reset_index(drop=True)
    rows = best[hit]
    for src, dst in (("objid", "objid"), ("type", "photo_type"), *((b, b) for b in "ugriz")):
        matched[dst] = index.rows[src].to_numpy()[rows]
    matched["match_sep_arcsec"] = sep[hit].astype(np.float32)
    return matched, unmatched


def to_schema(df: pd.DataFrame, columns=CATALOG_COLUMNS) -> pd.DataFrame:
    """Exactly the catalogue columns, in order, with their dtypes."""
    # Unmatched detections have no PhotoObjAll columns: integers become nullable there.
    nullable = {"int16": "Int16", "int32": "Int32", "int64": "Int64"}
    out = {}
    for c, (t, _, _) in columns.items():
        missing = np.nan if str(t).startswith("float") else pd.NA
        col = df[c] if c in df else pd.Series(missing, index=df.index, dtype=nullable.get(t, t))
        if t in nullable and col.isna().any():
            t = nullable[t]
        out[c] = col.astype(t)
    return pd.DataFrame(out).reset_index(drop=True)


def write_catalog_parquet(df: pd.DataFrame, path: str | Path, provenance: dict, columns=CATALOG_COLUMNS) -> Path:
    """Parquet with column units/descriptions and provenance in the file metadata.

    The data pages depend only on the rows, so two builds give byte-identical data; only
    the ``created`` timestamp in the metadata differs.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pandas(to_schema(df, columns), preserve_index=False)
    fields = [f.with_metadata({b"unit": u.encode(), b"description": d.encode()})
              for f, (_, u, d) in zip(table.schema, columns.values())]
    meta = {b"yl8c4net": json.dumps({**provenance, "created": datetime.now(timezone.utc).isoformat()},
                                    sort_keys=True).encode()}
    table = table.cast(pa.schema(fields, metadata=meta))
    tmp = path.with_name(f".part-{path.name}")
    # Dictionary pages only where values repeat: on float columns they are built and thrown away.
    repeating = [f.name for f in table.schema
                 if pa.types.is_dictionary(f.type) or pa.types.is_int16(f.type) or pa.types.is_int32(f.type)]
    pq.write_table(table, tmp, compression="zstd", write_statistics=True, use_dictionary=repeating)
    tmp.replace(path)
    return path


def read_provenance(path: str | Path) -> dict:
    meta = pq.read_schema(path).metadata or {}
    return json.loads(meta.get(b"yl8c4net", b"{}"))


def exclude_existing(new: pd.DataFrame, existing: list[pd.DataFrame], radius_arcsec: float = 0.5) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split a run's unique detections into (new sources, duplicates of earlier partitions).

    Earlier partitions are never changed: where a new run overlaps them, the earlier row
    stands and the new run's duplicate goes to a side table.
    """
    old = [e for e in existing if len(e)]
    if not old or len(new) == 0:
        return new, new.iloc[:0]
    prev = pd.concat([e[["ra", "dec"]] for e in old], ignore_index=True)
    tree = cKDTree(unit_vectors(prev["ra"], prev["dec"]))
    d, _ = tree.query(unit_vectors(new["ra"], new["dec"]), k=1, distance_upper_bound=chord(radius_arcsec),
                      workers=-1)
    dup = np.isfinite(d)
    return new[~dup].reset_index(drop=True), new[dup].reset_index(drop=True)


@dataclass
class RunCatalog:
    """One run's gather result, every table in sky order."""

    unique: int  # detections left after deduplication
    matched: pd.DataFrame  # new sources with a PhotoObjAll match: the catalogue rows
    unmatched: pd.DataFrame  # new sources without one: the possible new sources
    duplicates: pd.DataFrame  # sources already in an earlier run's partition


def gather_run(det: pd.DataFrame, photo: pd.DataFrame, existing: list[pd.DataFrame] = (),
               dedup_radius_arcsec: float = 0.5, match_radius_arcsec: float = 2.0) -> RunCatalog:
    """Deduplicate a run's detections, set aside those earlier partitions already hold, and
    crossmatch the rest with PhotoObjAll.

    The PhotoObjAll index is built in a second thread while the detections are
    deduplicated: the two halves take about the same time and both release the GIL.
    """
    with ThreadPoolExecutor(max_workers=1) as pool:
        index = pool.submit(PhotoObjIndex, photo)
        unique = deduplicate(det, dedup_radius_arcsec)
        new, dup = exclude_existing(unique, list(existing), dedup_radius_arcsec)
        matched, unmatched = crossmatch_photoobj(new, index.result(), match_radius_arcsec)
    return RunCatalog(len(unique), matched, unmatched, dup)
