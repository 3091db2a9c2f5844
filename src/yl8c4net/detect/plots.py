"""Detector pictures: recall versus magnitude (paper Figure 11), PR curve, training curves, overlay."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..figures import pyplot, save_figure


def plot_recall_by_mag(bins: list[dict], out_png: str | Path) -> Path:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 3.5))
    mids = [(b["r_min"] + b["r_max"]) / 2 for b in bins if b["recall"] is not None]
    rec = [b["recall"] for b in bins if b["recall"] is not None]
    ax.plot(mids, rec, marker="o")
    ax.set_xlabel("r (mag)")
    ax.set_ylabel("recall (IoU >= 0.5)")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    return save_figure(fig, out_png, 100)


def plot_pr_curve(curve: dict, out_png: str | Path, ap50: float | None = None) -> Path:
    """Precision against recall at IoU >= 0.5 (``curve`` as in `detection_metrics`'s
    ``pr_curve_iou50``), with AP@0.5 in the legend."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(4.5, 4.0))
    label = f"AP@0.5 = {ap50:.3f}" if ap50 is not None else None
    ax.plot(curve["recall"], curve["precision"], label=label)
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    if label:
        ax.legend(loc="lower left")
    return save_figure(fig, out_png, 100)


def plot_training_curves(results_csv: str | Path, out_png: str | Path) -> Path:
    import pandas as pd

    plt = pyplot()
    df = pd.read_csv(results_csv)
    df.columns = [c.strip() for c in df.columns]
    fig, ax = plt.subplots(figsize=(5.5, 3.5))
    for col in ("metrics/mAP50(B)", "metrics/mAP50-95(B)"):
        if col in df:
            ax.plot(df["epoch"], df[col], label=col.split("/")[1])
    ax.set_xlabel("epoch")
    ax.legend()
    return save_figure(fig, out_png, 100)


CLASS_COLOURS = {"GALAXY": "red", "STAR": "blue", "QSO": "lime"}


def plot_overlay(image: np.ndarray, detections, out_png: str | Path, size: int = 600, title: str = "") -> Path:
    """Detections on the composite (FITS row order shown origin lower), coloured by class
    when the table has one (red galaxies, blue stars, green quasars), else yellow."""
    from matplotlib.patches import Rectangle

    plt = pyplot()
    h, w = image.shape[:2]
    x0, y0 = max(0, w // 2 - size // 2), max(0, h // 2 - size // 2)
    fig, ax = plt.subplots(figsize=(7, 7))
    ax.imshow(image[y0 : y0 + size, x0 : x0 + size, :3], origin="lower", interpolation="nearest")
    for row in detections.itertuples(index=False):
        if x0 <= row.x < x0 + size and y0 <= row.y < y0 + size:
            colour = CLASS_COLOURS.get(getattr(row, "cls", None), "yellow")
            ax.add_patch(
                Rectangle((row.x - x0 - row.w / 2, row.y - y0 - row.h / 2), row.w, row.h, fill=False, ec=colour, lw=0.8)
            )
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])
    return save_figure(fig, out_png, 90)


def plot_sky_map(catalog, out_png: str | Path) -> Path:
    """Catalogue positions on the sky, coloured by class."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8, 3.5))
    for cls, colour in CLASS_COLOURS.items():
        sel = catalog["class"] == cls
        ax.scatter(catalog.loc[sel, "ra"], catalog.loc[sel, "dec"], s=2, c=colour, label=f"{cls} ({int(sel.sum())})")
    ax.set_xlabel("RA (deg)")
    ax.set_ylabel("Dec (deg)")
    ax.invert_xaxis()
    ax.legend(markerscale=4, fontsize=8)
    return save_figure(fig, out_png, 100)
