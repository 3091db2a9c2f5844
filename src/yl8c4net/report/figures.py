"""Pictures for the workflow report (matplotlib, Agg backend, bundled DejaVu fonts only)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd


def pyplot():
    """matplotlib.pyplot on the Agg backend (no display, bundled fonts)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, out_png: str | Path, dpi: int = 100) -> Path:
    """Lay out, write and close a figure; returns the path."""
    out_png = Path(out_png)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(out_png, dpi=dpi)
    pyplot().close(fig)
    return out_png


def pasting_figure(
    composite: np.ndarray,
    labels: pd.DataFrame,
    result,
    out_png: str | Path,
    x0: int = 0,
    y0: int = 0,
    size: int = 400,
    title: str = "",
) -> Path:
    """Five panels of one region: original, source mask, background, pasted, boxes drawn.

    Arrays are in FITS row order; the panels are shown with row 0 at the bottom (origin
    'lower'), as astronomers view FITS images.
    """
    from matplotlib.patches import Rectangle

    plt = pyplot()
    sl = (slice(y0, y0 + size), slice(x0, x0 + size))
    panels = [
        ("original", composite[sl][..., :3]),
        ("source mask (2 sigma, 3 px)", result.mask[sl]),
        ("background (mask filled)", result.background[sl][..., :3]),
        ("pasted (catalogued only)", result.pasted[sl][..., :3]),
        ("labels", result.pasted[sl][..., :3]),
    ]
    fig, axes = plt.subplots(1, 5, figsize=(20, 4.6))
    for ax, (name, img) in zip(axes, panels):
        ax.imshow(img, origin="lower", cmap="gray" if img.ndim == 2 else None, interpolation="nearest")
        ax.set_title(name, fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
    inside = labels[(labels["x"].between(x0, x0 + size)) & (labels["y"].between(y0, y0 + size))]
    for x, y, w, h in inside[["x", "y", "w", "h"]].itertuples(index=False):
        axes[4].add_patch(Rectangle((x - x0 - w / 2, y - y0 - h / 2), w, h, fill=False, ec="lime", lw=0.8))
    if title:
        fig.suptitle(title)
    return save_figure(fig, out_png, 80)
