"""Scoring a catalogue of a simulated survey against the simulator's exact truth: repeated
objects, close pairs, completeness and position error by magnitude, class accuracy.

Used by ``benchmarks/catalog_quality.py``; every number comes with its sample size.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from yl8c4net.catalog.sky import chord, separation_arcsec, unit_vectors

R_BINS = (12.0, 18.0, 20.0, 21.0, 22.2)


def close_pairs(ra, dec, radius_arcsec: float) -> int:
    """Number of pairs of rows closer than ``radius_arcsec``."""
    if len(ra) < 2:
        return 0
    return len(cKDTree(unit_vectors(ra, dec)).query_pairs(chord(radius_arcsec), output_type="ndarray"))


def _bin_labels(edges) -> list[str]:
    return [f"{a:g}-{b:g}" for a, b in zip(edges[:-1], edges[1:])]


def score_catalog(
    catalog: pd.DataFrame, unmatched: pd.DataFrame, truth: pd.DataFrame, found_radius_arcsec: float = 1.0, r_bins=R_BINS
) -> dict:
    """Quality numbers of a catalogue against truth.

    Parameters
    ----------
    catalog, unmatched : pandas.DataFrame
        The catalogue (``ra``, ``dec``, ``objid``, ``class``) and its unmatched side table.
    truth : pandas.DataFrame
        Truth rows of the catalogued fields: ``ra``, ``dec``, ``r``, ``class``, ``objid``
        (the simulated PhotoObjAll objID, -1 when not catalogued) and ``mode`` (1 where the
        position is in its field's primary area). Each sky source counts once: its primary
        row.

    Returns
    -------
    dict
        ``rows``, ``unmatched_rows``, ``objid_twice`` (objIDs on more than one row),
        ``pairs_lt_0p5`` (rows of catalogue + unmatched closer than 0.5"), and per r bin
        ``completeness`` (truth sources with a row within ``found_radius_arcsec``),
        ``position_error_median_arcsec`` (row vs its objID's true position) and
        ``class_accuracy``, each with ``n``.
    """
    rows = pd.concat([catalog[["ra", "dec"]], unmatched[["ra", "dec"]]], ignore_index=True)
    out = {"rows": int(len(catalog)), "unmatched_rows": int(len(unmatched))}
    counts = catalog["objid"].value_counts()
    out["objid_twice"] = int((counts > 1).sum())
    out["pairs_lt_0p5"] = close_pairs(rows["ra"].to_numpy(), rows["dec"].to_numpy(), 0.5)
    sources = truth[truth["mode"] == 1].reset_index(drop=True)
    found = np.zeros(len(sources), bool)
    if len(rows) and len(sources):
        d, _ = cKDTree(unit_vectors(rows["ra"], rows["dec"])).query(
            unit_vectors(sources["ra"], sources["dec"]), k=1, distance_upper_bound=chord(found_radius_arcsec)
        )
        found = np.isfinite(d)
    by_objid = sources[sources["objid"] >= 0].set_index("objid")
    hit = catalog[catalog["objid"].isin(by_objid.index)]
    true = by_objid.loc[hit["objid"].to_numpy()]
    sep = separation_arcsec(
        np.linalg.norm(unit_vectors(hit["ra"], hit["dec"]) - unit_vectors(true["ra"], true["dec"]), axis=1)
    )
    correct = hit["class"].astype(str).to_numpy() == true["class"].astype(str).to_numpy()
    labels = _bin_labels(r_bins)
    source_bin = pd.cut(sources["r"], r_bins, labels=labels, right=False)
    row_bin = pd.cut(true["r"].to_numpy(), r_bins, labels=labels, right=False)
    out["by_r"] = {}
    for label in labels:
        in_bin = (source_bin == label).to_numpy()
        rows_in_bin = np.asarray(row_bin == label)
        out["by_r"][label] = {
            "n_truth": int(in_bin.sum()),
            "completeness": float(found[in_bin].mean()) if in_bin.any() else None,
            "n_rows": int(rows_in_bin.sum()),
            "position_error_median_arcsec": float(np.median(sep[rows_in_bin])) if rows_in_bin.any() else None,
            "class_accuracy": float(correct[rows_in_bin].mean()) if rows_in_bin.any() else None,
        }
    bright = np.asarray(true["r"].to_numpy() < 20)
    out["position_error_median_r_lt_20_arcsec"] = float(np.median(sep[bright])) if bright.any() else None
    out["n_rows_r_lt_20"] = int(bright.sum())
    out["class_accuracy"] = float(correct.mean()) if len(correct) else None
    out["n_rows_scored"] = int(len(correct))
    return out


def recall_purity(y_true: np.ndarray, y_pred: np.ndarray, cls) -> dict:
    """``n_true``, ``n_called``, ``recall`` (completeness) and ``purity`` of one class
    (None where undefined)."""
    is_true, called = np.asarray(y_true) == cls, np.asarray(y_pred) == cls
    hits = int((called & is_true).sum())
    return {
        "n_true": int(is_true.sum()),
        "n_called": int(called.sum()),
        "recall": hits / int(is_true.sum()) if is_true.any() else None,
        "purity": hits / int(called.sum()) if called.any() else None,
    }


def class_scores(catalog: pd.DataFrame, truth: pd.DataFrame, answer: str = "", r_limit: float = 22.2) -> dict:
    """How right the catalogue's classes are against the truth of the matched sources.

    ``answer`` "" scores ``class`` and ``p_*``; "_image" scores ``class_image`` and
    ``p_*_image``. Rows whose objID is not a catalogued truth source are left out.

    Returns
    -------
    dict
        ``n``, ``accuracy``, per class ``recall``, ``purity`` and counts (``n_true``,
        ``n_called``), ``ece`` of the top-class probability, the share of rows called each
        class against the true share, ``accuracy_r_lt_19`` with its ``n_r_lt_19``, and
        ``within_r_limit``: accuracy and QSO purity / completeness of the rows whose true r
        is at most ``r_limit`` (the depth at which the survey's class densities are given;
        a deep detector also catalogues fainter sources).
    """
    from yl8c4net.classify.probabilities import reliability
    from yl8c4net.sdss.queries import SPEC_CLASSES

    by_objid = truth[(truth["objid"] >= 0) & (truth["mode"] == 1)].drop_duplicates("objid").set_index("objid")
    rows = catalog[catalog["objid"].isin(by_objid.index)]
    true = by_objid.loc[rows["objid"].to_numpy()]
    y_true = true["class"].astype(str).to_numpy()
    y_pred = rows[f"class{answer}"].astype(str).to_numpy()
    out = {"answer": f"class{answer}", "n": int(len(rows)), "accuracy": float((y_true == y_pred).mean())}
    for c in SPEC_CLASSES:
        out[c] = recall_purity(y_true, y_pred, c)
        out[c].update(true_share=float((y_true == c).mean()), called_share=float((y_pred == c).mean()))
    p = rows[[f"p_{c.lower()}{answer}" for c in SPEC_CLASSES]].to_numpy(float)
    labels = np.array([SPEC_CLASSES.index(c) for c in y_true], dtype=int)
    out["ece"] = reliability(p, labels).ece if len(p) else None
    bright = true["r"].to_numpy() < 19
    out["n_r_lt_19"] = int(bright.sum())
    out["accuracy_r_lt_19"] = float((y_true[bright] == y_pred[bright]).mean()) if bright.any() else None
    within = true["r"].to_numpy() <= r_limit
    out["within_r_limit"] = {
        "r_limit": r_limit,
        "n": int(within.sum()),
        "accuracy": float((y_true[within] == y_pred[within]).mean()) if within.any() else None,
        "QSO": recall_purity(y_true[within], y_pred[within], "QSO"),
    }
    return out
