"""The source catalogue (paper section 4.4): sky positions, deduplication, PhotoObjAll
crossmatch, per-run partitions with provenance.

Sky positions are handled as unit vectors in a KD-tree (scipy ``cKDTree``): an angular
radius ``theta`` is the chord ``2 sin(theta / 2)``. astropy's ``search_around_sky`` does the
same internally; calling the tree directly avoids building SkyCoord objects for millions of
rows (see benchmarks/catalog_scale.py for the comparison).
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

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
    "class": ("string", "", "Conv4Net class: GALAXY, STAR or QSO"),
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


def _sky_cell_order(ra, dec, cell_deg: float = 0.1) -> np.ndarray:
    return np.lexsort([ra, np.floor((dec + 90.0) / cell_deg)])


def deduplicate(det: pd.DataFrame, radius_arcsec: float = 0.5) -> pd.DataFrame:
    """One row per group of detections closer than ``radius_arcsec`` (friends of friends):
    the highest-confidence member, with ``n_merged`` = group size.

    Ties in confidence go to the lowest (run, camcol, field, y, x), so the result does not
    depend on the input order.
    """
    if len(det) == 0:
        return det.assign(n_merged=pd.Series([], dtype="int16"))
    xyz = unit_vectors(det["ra"], det["dec"])
    # Neighbours in the tree are neighbours in memory once rows are in sky-cell order.
    cell = _sky_cell_order(det["ra"].to_numpy(), det["dec"].to_numpy())
    pairs = cell[cKDTree(xyz[cell], balanced_tree=False).query_pairs(chord(radius_arcsec), output_type="ndarray")]
    n = len(det)
    graph = coo_matrix((np.ones(len(pairs), bool), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    _, group = connected_components(graph, directed=False)
    keys = [c for c in ("run", "camcol", "field", "y", "x") if c in det.columns]
    order = np.lexsort([det[k].to_numpy() for k in reversed(keys)] + [-det["det_conf"].to_numpy(), group])
    first = np.ones(n, bool)
    first[1:] = group[order][1:] != group[order][:-1]
    keep = order[first]
    sizes = np.bincount(group)
    out = det.iloc[keep].copy()
    out["n_merged"] = sizes[group[keep]].astype(np.int16)
    return out.reset_index(drop=True)


def crossmatch_photoobj(det: pd.DataFrame, photo: pd.DataFrame, radius_arcsec: float = 2.0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Nearest PhotoObjAll source within ``radius_arcsec`` of each detection.

    Primary rows (mode 1) are preferred: a detection takes the nearest primary within the
    radius and falls back to any row only when no primary is that close (a source in a field
    overlap is in PhotoObjAll twice). Returns (matched, unmatched); nothing is dropped.
    """
    det = det.reset_index(drop=True)
    best_idx = np.full(len(det), -1)
    best_sep = np.full(len(det), np.inf)
    if len(det) and len(photo):
        # Query in sky-cell order too (cache locality); results land back by index.
        qorder = _sky_cell_order(det["ra"].to_numpy(), det["dec"].to_numpy())
        xyz = unit_vectors(det["ra"], det["dec"])
        for subset in (photo["mode"] == 1 if "mode" in photo else np.ones(len(photo), bool),
                       np.ones(len(photo), bool)):
            rows = np.flatnonzero(np.asarray(subset))
            todo = best_idx < 0
            if len(rows) == 0 or not todo.any():
                continue
            rows = rows[_sky_cell_order(photo["ra"].to_numpy()[rows], photo["dec"].to_numpy()[rows])]
            tree = cKDTree(unit_vectors(photo["ra"].to_numpy()[rows], photo["dec"].to_numpy()[rows]),
                           balanced_tree=False)
            idx_todo = qorder[todo[qorder]]
            d, k = tree.query(xyz[idx_todo], k=1, distance_upper_bound=chord(radius_arcsec), workers=-1)
            ok = np.isfinite(d)
            best_idx[idx_todo[ok]] = rows[k[ok]]
            best_sep[idx_todo[ok]] = separation_arcsec(d[ok])
    hit = best_idx >= 0
    matched = det[hit].copy()
    p = photo.iloc[best_idx[hit]].reset_index(drop=True)
    matched = matched.reset_index(drop=True)
    matched["objid"] = p["objid"].to_numpy()
    matched["photo_type"] = p["type"].to_numpy()
    for b in "ugriz":
        matched[b] = p[b].to_numpy()
    matched["match_sep_arcsec"] = best_sep[hit].astype(np.float32)
    return matched, det[~hit].reset_index(drop=True)


def sky_sort(df: pd.DataFrame) -> pd.DataFrame:
    """Rows sorted by sky position (dec stripes of 0.1 deg, then ra), for range reads."""
    if len(df) == 0:
        return df
    band = np.floor((df["dec"].to_numpy() + 90.0) / 0.1)
    order = np.lexsort([df["ra"].to_numpy(), band])
    return df.iloc[order].reset_index(drop=True)


def to_schema(df: pd.DataFrame, columns=CATALOG_COLUMNS) -> pd.DataFrame:
    """Exactly the catalogue columns, in order, with their dtypes."""
    # Unmatched detections have no PhotoObjAll columns: integers become nullable there.
    nullable = {"int16": "Int16", "int32": "Int32", "int64": "Int64"}
    out = {}
    for c, (t, _, _) in columns.items():
        missing = np.nan if t.startswith("float") else pd.NA
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
    pq.write_table(table, tmp, compression="zstd", write_statistics=True)
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
