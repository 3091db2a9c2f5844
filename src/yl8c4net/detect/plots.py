"""Detector pictures: recall versus magnitude (paper Figure 11), PR curve, training curves, overlay."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from yl8c4net.report.figures import pyplot, save_figure


def plot_recall_by_mag(bins: list[dict], out_png: str | Path, conf: float | None = None) -> Path:
    """Recall per r bin (paper Figure 11) with its 68 % binomial interval and, above each
    point, the number of truth sources in the bin; empty bins are left out, not joined."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    full = [b for b in bins if b["n"]]
    mids = np.array([(b["r_min"] + b["r_max"]) / 2 for b in full])
    rec = np.array([b["recall"] for b in full])
    # Clipped at 0: at recall 1 (or 0) the Wilson bound equals it up to rounding.
    err = np.clip(np.array([[b["recall"] - b["recall_low"], b["recall_high"] - b["recall"]] for b in full]).T, 0, None)
    half = np.array([(b["r_max"] - b["r_min"]) / 2 for b in full])
    ax.errorbar(mids, rec, yerr=err if len(full) else None, xerr=half, fmt="o", ms=4, color="#0072B2", capsize=2)
    for x, y, b in zip(mids, rec, full):
        ax.annotate(str(b["n"]), (x, y), textcoords="offset points", xytext=(0, 7), ha="center", fontsize=7)
    ax.set_xlabel("r (mag)")
    at = f" at conf >= {conf:g}" if conf is not None else ""
    ax.set_ylabel(f"recall (IoU >= 0.5){at}")
    ax.set_title(f"held-out fields: {sum(b['n'] for b in full)} truth sources (count above each bin)", fontsize=9)
    ax.set_ylim(0, 1.1)
    ax.grid(alpha=0.3)
    return save_figure(fig, out_png, 100)


def plot_pr_curve(metrics: dict, out_png: str | Path) -> Path:
    """Precision against recall at IoU >= 0.5 over all confidences (``pr_curve_iou50`` of
    `detection_metrics`), AP@0.5 in the legend, the catalogue's operating point marked."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.0, 4.2))
    curve = metrics["pr_curve_iou50"]
    floor = metrics.get("conf_floor")
    ax.plot(
        curve["recall"],
        curve["precision"],
        color="#0072B2",
        label=f"AP@0.5 = {metrics['ap50']:.3f} (conf >= {floor:.3g})" if floor is not None else "no detections",
    )
    ax.plot(
        [metrics["recall"]],
        [metrics["precision"]],
        "o",
        color="#D55E00",
        label=f"catalogue: conf >= {metrics['conf_threshold']:g} (P {metrics['precision']:.2f}, R {metrics['recall']:.2f})",
    )
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_title(f"{metrics['n_truth']} truth boxes, {metrics['n_pred']} detections", fontsize=9)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left", fontsize=8)
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


#: Okabe & Ito's colour-blind-safe palette, bright enough on a dark composite.
CLASS_COLOURS = {"GALAXY": "#E69F00", "STAR": "#56B4E9", "QSO": "#CC79A7"}
UNCLASSIFIED_COLOUR = "#F0E442"


def sky_directions(wcs, x: float, y: float) -> tuple[float, dict[str, np.ndarray]]:
    """Pixel scale (arcsec/pixel) and unit pixel vectors pointing north and east at pixel
    (x, y) of a celestial WCS (0-based pixels)."""
    from astropy.coordinates import SkyCoord
    from astropy.wcs.utils import proj_plane_pixel_scales

    scale_arcsec = float(np.mean(proj_plane_pixel_scales(wcs.celestial)) * 3600)
    centre = wcs.pixel_to_world(x, y)
    out = {}
    for name, (dra, ddec) in (("N", (0.0, 10.0)), ("E", (10.0, 0.0))):
        step = SkyCoord(
            centre.ra.deg + dra / 3600 / np.cos(centre.dec.radian), centre.dec.deg + ddec / 3600, unit="deg"
        )
        px, py = wcs.world_to_pixel(step)
        d = np.array([float(px) - x, float(py) - y])
        out[name] = d / np.hypot(*d)
    return scale_arcsec, out


def _compass_and_scale(ax, wcs, x0: float, y0: float, size: int) -> None:
    """A 30-arcsec scale bar and N/E arrows (from the WCS) in the panel's corners."""
    cx, cy = x0 + 0.85 * size, y0 + 0.12 * size
    scale_arcsec, directions = sky_directions(wcs, cx, cy)
    bar = 30.0 / scale_arcsec
    bx, by = 0.06 * size, 0.06 * size
    ax.plot([bx, bx + bar], [by, by], color="white", lw=2)
    ax.text(bx + bar / 2, by + 0.02 * size, '30"', color="white", ha="center", va="bottom", fontsize=9)
    length = 0.08 * size
    for name, unit in directions.items():
        d = unit * length
        ax.annotate(
            "",
            xy=(cx - x0 + d[0], cy - y0 + d[1]),
            xytext=(cx - x0, cy - y0),
            arrowprops=dict(arrowstyle="->", color="white", lw=1.5),
        )
        ax.text(cx - x0 + 1.3 * d[0], cy - y0 + 1.3 * d[1], name, color="white", ha="center", va="center", fontsize=10)


def plot_overlay(
    image: np.ndarray, detections, out_png: str | Path, size: int = 600, title: str = "", wcs=None
) -> Path:
    """Detections on the composite (FITS row order shown origin lower) coloured by class
    (colour-blind-safe palette, legend with counts), with a scale bar and compass when the
    field's WCS is given."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Rectangle

    plt = pyplot()
    h, w = image.shape[:2]
    x0, y0 = max(0, w // 2 - size // 2), max(0, h // 2 - size // 2)
    fig, ax = plt.subplots(figsize=(7.5, 7.5))
    ax.imshow(image[y0 : y0 + size, x0 : x0 + size, :3], origin="lower", interpolation="nearest")
    counts: dict[str, int] = {}
    for row in detections.itertuples(index=False):
        if x0 <= row.x < x0 + size and y0 <= row.y < y0 + size:
            cls = getattr(row, "cls", None)
            counts[cls] = counts.get(cls, 0) + 1
            colour = CLASS_COLOURS.get(cls, UNCLASSIFIED_COLOUR)
            ax.add_patch(
                Rectangle((row.x - x0 - row.w / 2, row.y - y0 - row.h / 2), row.w, row.h, fill=False, ec=colour, lw=1.2)
            )
    handles = [
        Line2D([], [], color=CLASS_COLOURS.get(cls, UNCLASSIFIED_COLOUR), lw=2, label=f"{cls or 'detection'} ({n})")
        for cls, n in sorted(counts.items(), key=lambda kv: str(kv[0]))
    ]
    if handles:
        ax.legend(handles=handles, loc="upper left", fontsize=9, framealpha=0.85)
    if wcs is not None:
        _compass_and_scale(ax, wcs, x0, y0, size)
    ax.set_title(title, fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])
    return save_figure(fig, out_png, 90)


def plot_sky_map(catalog, out_png: str | Path, title: str = "") -> Path:
    """Catalogue positions of one run on the sky, coloured by class; equal angular scale on
    both axes (RA compressed by cos Dec), east to the left, legend outside the data."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(9, 3.8))
    for cls, colour in CLASS_COLOURS.items():
        sel = catalog["class"] == cls
        ax.scatter(catalog.loc[sel, "ra"], catalog.loc[sel, "dec"], s=3, c=colour, label=f"{cls} ({int(sel.sum())})")
    if len(catalog):
        ax.set_aspect(1 / np.cos(np.radians(float(np.median(catalog["dec"])))), adjustable="datalim")
    ax.set_xlabel("RA (deg)")
    ax.set_ylabel("Dec (deg)")
    ax.invert_xaxis()
    ax.set_title(title or f"{len(catalog)} catalogue sources", fontsize=10)
    ax.legend(markerscale=3, fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    return save_figure(fig, out_png, 100)
