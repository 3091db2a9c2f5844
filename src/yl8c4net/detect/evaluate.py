"""Detection metrics against exact truth: P, R, F1, AP@0.5, AP@0.5:0.95 and recall per r
magnitude bin.

AP and the PR curve rank every detection down to a low confidence floor (as ultralytics'
validator does, 0.001), so they are comparable with the paper's and YOLO's own; P, R, F1
and the recall per magnitude are those of the catalogue, at the operating confidence.

Matching follows ultralytics' ``BaseValidator.match_predictions`` (greedy, detections in
descending confidence, one truth box per detection at each IoU threshold 0.50:0.05:0.95);
AP, and P / R / F1 at the confidence of maximum F1, come from ultralytics'
``ap_per_class`` (the COCO-style 101-point interpolation YOLO's own validation reports).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from torchvision.ops import box_iou

IOU_THRESHOLDS = np.linspace(0.5, 0.95, 10)


def xyxy(table: pd.DataFrame) -> np.ndarray:
    """Pixel-edge corners of centre/size boxes (pixel centres at integers)."""
    return np.column_stack(
        [
            table["x"] - table["w"] / 2,
            table["y"] - table["h"] / 2,
            table["x"] + table["w"] / 2,
            table["y"] + table["h"] / 2,
        ]
    )


def match_field(truth: pd.DataFrame, pred: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Greedy matching of one field.

    Returns
    -------
    correct : (n_pred, 10) bool
        Whether each prediction (in the order of ``pred``) is a true positive per threshold.
    truth_iou : (n_truth,) float
        For each truth box, the IoU of the detection that claimed it at IoU >= 0.5 (0 if none).
    """
    n_pred, n_truth = len(pred), len(truth)
    correct = np.zeros((n_pred, len(IOU_THRESHOLDS)), bool)
    truth_iou = np.zeros(n_truth)
    if n_pred == 0 or n_truth == 0:
        return correct, truth_iou
    order = np.argsort(-pred["conf"].to_numpy(), kind="stable")
    iou = box_iou(torch.as_tensor(xyxy(truth)), torch.as_tensor(xyxy(pred.iloc[order]))).numpy()
    matched = np.zeros((n_truth, len(IOU_THRESHOLDS)), bool)
    for j in np.flatnonzero((iou >= IOU_THRESHOLDS.min()).any(0)):
        available = np.where(matched, 0, iou[:, j, None])
        k = available.argmax(0)
        hit = available[k, range(len(IOU_THRESHOLDS))] >= IOU_THRESHOLDS
        correct[order[j]] = hit
        matched[k, range(len(IOU_THRESHOLDS))] |= hit
        if hit[0]:
            truth_iou[k[0]] = iou[k[0], j]
    return correct, truth_iou


def operating_point(correct: np.ndarray, conf: np.ndarray, n_truth: int, target_purity: float) -> dict:
    """The confidence that gives the most complete detections at a stated purity.

    Parameters
    ----------
    correct : numpy.ndarray
        (n,) whether each detection is a true positive (IoU >= 0.5, greedy matching).
    conf : numpy.ndarray
        (n,) their confidences, ranked down to a low floor.
    n_truth : int
        Truth boxes.
    target_purity : float
        Least precision wanted.

    Returns
    -------
    dict
        ``conf`` (the lowest confidence at which the detections above it still have
        precision >= ``target_purity``; None when no confidence reaches it), with the
        ``precision`` and ``recall`` there.
    """
    out = {"target_purity": float(target_purity), "conf": None, "precision": None, "recall": None}
    if len(conf) == 0 or n_truth == 0:
        return out
    order = np.argsort(-conf, kind="stable")
    tp = np.cumsum(correct[order])
    precision = tp / np.arange(1, len(conf) + 1)
    # Detections tie on confidence: a cut can only fall after the last of a tie.
    last_of_tie = np.r_[conf[order][1:] < conf[order][:-1], True]
    ok = np.flatnonzero((precision >= target_purity) & last_of_tie)
    if len(ok) == 0:
        return out
    k = ok[-1]
    out.update(conf=float(conf[order][k]), precision=float(precision[k]), recall=float(tp[k] / n_truth))
    return out


def detection_metrics(
    fields: list[tuple[pd.DataFrame, pd.DataFrame]],
    conf_threshold: float = 0.25,
    r_bins=np.arange(14.0, 23.01, 0.5),
    target_purity: float | None = None,
) -> dict:
    """Metrics over fields of (truth labels with ``r``, predictions with ``conf``).

    Returns a dict with precision, recall, f1 at ``conf_threshold`` (IoU >= 0.5), ap50 and
    ap50_95 (ultralytics' ``ap_per_class``, with its max-F1 P / R / F1 as ``*_maxf1``)
    and ``recall_by_r_mag``: for each 0.5-mag bin of truth r, the fraction of truth boxes
    matched at IoU >= 0.5 by a detection with confidence >= ``conf_threshold``. With
    ``target_purity``, ``operating_point`` is the confidence of most recall at that
    precision (`operating_point`), for choosing ``detector.conf`` on validation data.
    """
    from ultralytics.utils.metrics import ap_per_class

    corrects, confs, n_truth = [], [], 0
    r_all, found_all = [], []
    for truth, pred in fields:
        correct, truth_iou = match_field(truth, pred)
        corrects.append(correct)
        confs.append(pred["conf"].to_numpy(float))
        n_truth += len(truth)
        # Recall by magnitude at the operating confidence.
        confident = pred[pred["conf"] >= conf_threshold]
        _, iou_op = match_field(truth, confident)
        r_all.append(truth["r"].to_numpy(float))
        found_all.append(iou_op > 0)
    correct = np.concatenate(corrects) if corrects else np.zeros((0, 10), bool)
    conf = np.concatenate(confs) if confs else np.zeros(0)
    out = {
        "n_truth": int(n_truth),
        "n_pred": int(len(conf)),
        "matcher": "ultralytics greedy (match_predictions)",
        "ap": "ultralytics.utils.metrics.ap_per_class",
    }
    # P, R, F1 at the operating confidence (what the catalogue gets), IoU >= 0.5.
    out["conf_floor"] = float(conf.min()) if len(conf) else None
    op = conf >= conf_threshold
    tp_op = int(correct[op, 0].sum())
    precision = tp_op / max(int(op.sum()), 1)
    recall = tp_op / max(n_truth, 1)
    out.update(
        precision=precision,
        recall=recall,
        f1=2 * precision * recall / (precision + recall) if precision + recall else 0.0,
    )
    if n_truth and len(conf):
        res = ap_per_class(correct, conf, np.zeros(len(conf)), np.zeros(n_truth))
        p, r, f1, ap = res[2], res[3], res[4], res[5]
        # YOLO's own validation reports P / R / F1 at the confidence of maximum F1.
        out.update(
            precision_maxf1=float(p[0]),
            recall_maxf1=float(r[0]),
            f1_max=float(f1[0]),
            ap50=float(ap[0, 0]),
            ap50_95=float(ap[0].mean()),
        )
        # ultralytics' interpolated precision on its 1000-point recall grid, every 10th point.
        recall_grid, precision = res[10], res[11][0]
        out["pr_curve_iou50"] = {
            "recall": recall_grid[::10].round(4).tolist(),
            "precision": precision[::10].round(4).tolist(),
        }
    else:
        out.update(
            precision_maxf1=0.0,
            recall_maxf1=0.0,
            f1_max=0.0,
            ap50=0.0,
            ap50_95=0.0,
            pr_curve_iou50={"recall": [], "precision": []},
        )
    if target_purity is not None:
        out["operating_point"] = operating_point(correct[:, 0], conf, n_truth, target_purity)
    r_all = np.concatenate(r_all) if r_all else np.zeros(0)
    found = np.concatenate(found_all) if found_all else np.zeros(0, bool)
    out["recall_by_r_mag"] = recall_bins(r_all, found, r_bins)
    bright = r_all < 21.0
    out["recall_r_lt_21"] = float(found[bright].mean()) if bright.any() else None
    out["conf_threshold"] = conf_threshold
    return out


def recall_bins(r: np.ndarray, found: np.ndarray, r_bins) -> list[dict]:
    """Recall per magnitude bin with its count and the 68.3 % Wilson score interval
    (astropy's ``binom_conf_interval``); empty bins have recall None."""
    from astropy.stats import binom_conf_interval

    bins = []
    for lo, hi in zip(r_bins[:-1], r_bins[1:]):
        sel = (r >= lo) & (r < hi)
        n, k = int(sel.sum()), int(found[sel].sum())
        low, high = binom_conf_interval(k, n, confidence_level=0.6827, interval="wilson") if n else (None, None)
        bins.append(
            {
                "r_min": float(lo),
                "r_max": float(hi),
                "n": n,
                "n_found": k,
                "recall": k / n if n else None,
                "recall_low": None if low is None else float(low),
                "recall_high": None if high is None else float(high),
            }
        )
    return bins


def held_out_pairs(manifest_paths, split: dict, files: dict, detect=None) -> tuple[list, list[str]]:
    """(truth labels, detections) of every ok field that the dataset split holds out
    ("val"), and the fields' tags, for `detection_metrics`. ``detect(field)`` gives the
    detections (the evaluation's own pass at a low confidence floor); without it they are
    read from the field's detection file (cut at the operating confidence)."""
    from pathlib import Path

    from yl8c4net.pipeline.blocks import field_path, field_tag, ok_fields

    pairs, names = [], []
    for fid in ok_fields(manifest_paths):
        if split.get(field_tag(fid)) != "val":
            continue
        labels = pd.read_parquet(Path(field_path(files["tiles"], fid)) / "labels.parquet")
        pred = detect(fid) if detect else pd.read_parquet(field_path(files["detections"], fid))
        pairs.append((labels, pred))
        names.append(field_tag(fid))
    return pairs, names


def unmatched_breakdown(
    fields: list[tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]],
    conf_thresholds,
    r_limit: float = 22.2,
    radius_px: float = 2.53,
) -> list[dict]:
    """What the detections that match no truth box lie on, at each confidence.

    The truth boxes stop at ``r_limit``, so a detection without a box at IoU >= 0.5 may still
    sit on a simulated source: one fainter than the limit (a real source on the sky), or a
    labelled one whose box it misses. Counting where they fall separates those from boxes on
    nothing.

    Parameters
    ----------
    fields : list of (labels, predictions, sources)
        Per field: the truth boxes (``x``, ``y``, ``w``, ``h``), the detections with ``conf``,
        and every simulated source with ``x``, ``y``, ``r`` (the simulator's truth table),
        all in the same pixel frame.
    conf_thresholds : sequence of float
        Confidences to report.
    r_limit : float
        The truth boxes' magnitude limit (mag).
    radius_px : float
        How close (pixels) a detection's centre must be to a source to lie on it (1" at
        SDSS's 0.396"/px by default).

    Returns
    -------
    list of dict
        Per confidence: ``n`` detections, ``precision`` and ``recall`` (IoU >= 0.5), and the
        shares of all ``n`` that are unmatched and lie on a source fainter than ``r_limit``
        (``on_fainter_source``), on a brighter one (``on_labelled_source``) or on no source
        within ``radius_px`` (``on_nothing``).
    """
    from scipy.spatial import cKDTree

    conf, tp, nearest_r, distance = [], [], [], []
    n_truth = 0
    for labels, pred, sources in fields:
        correct, _ = match_field(labels, pred)
        conf.append(pred["conf"].to_numpy(float))
        tp.append(correct[:, 0])
        n_truth += len(labels)
        if len(sources) and len(pred):
            d, k = cKDTree(sources[["x", "y"]].to_numpy(float)).query(pred[["x", "y"]].to_numpy(float))
            nearest_r.append(sources["r"].to_numpy(float)[k])
        else:
            d = np.full(len(pred), np.inf)
            nearest_r.append(np.full(len(pred), np.nan))
        distance.append(d)
    conf, tp = np.concatenate(conf), np.concatenate(tp)
    nearest_r, distance = np.concatenate(nearest_r), np.concatenate(distance)
    near = distance <= radius_px
    rows = []
    for threshold in conf_thresholds:
        keep = conf >= threshold
        n = int(keep.sum())
        false = keep & ~tp

        def share(mask, n=n):
            return float(mask.sum()) / n if n else 0.0

        rows.append(
            {
                "conf": float(threshold),
                "n": n,
                "precision": share(keep & tp),
                "recall": float((keep & tp).sum() / max(n_truth, 1)),
                "on_fainter_source": share(false & near & (nearest_r > r_limit)),
                "on_labelled_source": share(false & near & (nearest_r <= r_limit)),
                "on_nothing": share(false & ~near),
            }
        )
    return rows
