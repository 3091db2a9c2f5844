"""Classification metrics (scikit-learn) and their pictures."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from yl8c4net.report.figures import pyplot, save_figure


def classification_metrics(y_true: np.ndarray, proba: np.ndarray, class_names) -> dict:
    """accuracy (with its 95 % Wilson interval), macro P/R/F1, one-vs-rest AUC per class,
    confusion matrix (rows = truth)."""
    from astropy.stats import binom_conf_interval
    from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support, roc_auc_score

    y_pred = proba.argmax(axis=1)
    labels = list(range(len(class_names)))
    p, r, f1, _ = precision_recall_fscore_support(y_true, y_pred, labels=labels, average="macro", zero_division=0)
    out = {
        "n": int(len(y_true)),
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_precision": float(p),
        "macro_recall": float(r),
        "macro_f1": float(f1),
    }
    if len(y_true):
        low, high = binom_conf_interval(int((y_pred == y_true).sum()), len(y_true), 0.95, interval="wilson")
        out.update(accuracy_low=float(low), accuracy_high=float(high))
    for k, name in enumerate(class_names):
        pos = (y_true == k).astype(int)
        out[f"auc_{name.lower()}"] = (
            float(roc_auc_score(pos, proba[:, k])) if 0 < pos.sum() < len(pos) else float("nan")
        )
    out["confusion"] = confusion_matrix(y_true, y_pred, labels=labels).tolist()
    out["class_names"] = list(class_names)
    return out


def plot_confusion(confusion, class_names, out_png: str | Path) -> Path:
    """Confusion matrix: colour is the fraction of each true class (with a colour bar), each
    cell shows its count and that fraction; the title gives the sample size."""
    plt = pyplot()
    cm = np.asarray(confusion)
    frac = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(5.2, 4.2))
    im = ax.imshow(frac, cmap="viridis", vmin=0, vmax=1)
    fig.colorbar(im, ax=ax, label="fraction of the spectroscopic class")
    for i in range(cm.shape[0]):
        for j in range(cm.shape[1]):
            ax.text(
                j,
                i,
                f"{cm[i, j]}\n{frac[i, j]:.2f}",
                ha="center",
                va="center",
                fontsize=9,
                color="black" if frac[i, j] > 0.6 else "white",
            )
    ax.set_xticks(range(len(class_names)), class_names)
    ax.set_yticks(range(len(class_names)), class_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("spectroscopic class")
    ax.set_title(f"test split: {int(cm.sum())} cut-outs", fontsize=10)
    return save_figure(fig, out_png, 100)


def plot_roc(y_true: np.ndarray, proba: np.ndarray, class_names, out_png: str | Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import roc_auc_score, roc_curve

    fig, ax = plt.subplots(figsize=(4.5, 4))
    for k, name in enumerate(class_names):
        pos = (y_true == k).astype(int)
        if 0 < pos.sum() < len(pos):
            fpr, tpr, _ = roc_curve(pos, proba[:, k])
            ax.plot(fpr, tpr, label=f"{name} (AUC {roc_auc_score(pos, proba[:, k]):.3f})")
    ax.plot([0, 1], [0, 1], ls=":", c="grey")
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.legend(loc="lower right", fontsize=8)
    return save_figure(fig, out_png, 100)


def plot_history(history: list[dict], out_png: str | Path) -> Path:
    plt = pyplot()
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.5))
    ep = [h["epoch"] for h in history]
    a1.plot(ep, [h["train_loss"] for h in history], label="train")
    a1.plot(ep, [h["val_loss"] for h in history], label="val")
    a1.set_xlabel("epoch")
    a1.set_ylabel("cross-entropy")
    a1.legend()
    a2.plot(ep, [h["val_accuracy"] for h in history])
    a2.set_xlabel("epoch")
    a2.set_ylabel("validation accuracy")
    return save_figure(fig, out_png, 100)


def plot_reliability(curves: dict, out_png: str | Path, n_label: str = "") -> Path:
    """Reliability diagram: accuracy against top-class confidence per bin, one line per
    answer, with its expected calibration error in the legend.

    ``curves`` maps a name to a `yl8c4net.classify.probabilities.Reliability`.
    """
    plt = pyplot()
    fig, (ax, ax_n) = plt.subplots(
        2, 1, figsize=(5.2, 6.0), sharex=True, gridspec_kw={"height_ratios": [3, 1]}, constrained_layout=True
    )
    ax.plot([0, 1], [0, 1], color="0.6", linestyle=":", label="perfect calibration")
    # Okabe-Ito colours, distinguishable with colour-blindness.
    palette = ["#0072B2", "#E69F00", "#009E73", "#CC79A7"]
    width = None
    for k, (name, rel) in enumerate(curves.items()):
        centres = 0.5 * (rel.edges[1:] + rel.edges[:-1])
        width = rel.edges[1] - rel.edges[0]
        has = rel.count > 0
        ax.plot(
            rel.confidence[has],
            rel.accuracy[has],
            marker="o",
            ms=4,
            color=palette[k % len(palette)],
            label=f"{name}: ECE {rel.ece:.3f}",
        )
        ax_n.bar(
            centres + (k - (len(curves) - 1) / 2) * width / (len(curves) + 1),
            rel.count,
            width=width / (len(curves) + 1),
            color=palette[k % len(palette)],
        )
    ax.set_ylabel("fraction correct")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_title(f"Reliability of the top class{n_label}")
    ax.legend(loc="upper left", fontsize=8)
    ax_n.set_yscale("log")
    ax_n.set_xlabel("top-class probability")
    ax_n.set_ylabel("sources")
    return save_figure(fig, out_png)
