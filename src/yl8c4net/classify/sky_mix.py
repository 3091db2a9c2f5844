"""Purity and completeness of one class at the sky's class mix, measured on a set whose mix
is not the sky's.

A classification test split holds equal numbers of each class (the paper's set-up), so the
share of right answers among the rows called QSO there says nothing about a catalogue, where
quasars are about 1 % of the sources. Completeness does not depend on the mix; purity does.
So, per r bin, each true class's rate of being called the class is measured on the split and
weighted by the density of that class in the bin on the sky (`class_density_in_r`: the
simulator's number counts at its real-sky defaults); before that, each row's probabilities
are moved from the training priors to the bin's class shares, as the catalogue moves its own
(`yl8c4net.classify.probabilities.shift_priors`).

Intervals: 95 %, from draws of every class's rate from its Jeffreys posterior (`_combine`).
A purity at a 1 % class share rests on the false-positive rates of the common classes, so
its interval stays wide unless those classes have thousands of rows per bin.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from yl8c4net.classify.probabilities import shift_priors
from yl8c4net.report.figures import pyplot, save_figure


def _share_of_range(slope: float, lo: float, hi: float, r_lo: float, r_hi: float) -> float:
    """Fraction of a dN/dm ~ 10**(slope m) population on [lo, hi] that falls in [r_lo, r_hi)."""
    a, b = max(lo, r_lo), min(hi, r_hi)
    if b <= a or hi <= lo:
        return 0.0
    k = slope * np.log(10.0)
    return float((np.exp(k * b) - np.exp(k * a)) / (np.exp(k * hi) - np.exp(k * lo)))


def class_density_in_r(params, r_lo: float, r_hi: float) -> dict[str, float]:
    """Expected sources per deg^2 of each class with ``r_lo <= r < r_hi`` (true r, mag) under
    the number counts of ``params`` (a `~yl8c4net.simulate.population.PopulationParams`), on a
    sky without crowding or dust."""
    out = {}
    for cls, c in params.counts.items():
        main = c.density_deg2 / _share_of_range(c.slope, c.mag_min, c.mag_max, c.mag_min, 22.2)
        bright = c.bright_density_deg2 * params.bright_boost
        out[cls] = main * _share_of_range(c.slope, c.mag_min, c.mag_max, r_lo, r_hi) + bright * _share_of_range(
            c.bright_slope, c.bright_mag_min, c.mag_min, r_lo, r_hi
        )
    return out


#: r bins (true r, mag) of the curve: the simulated sky has no quasar brighter than r = 16,
#: and the rendered cut-outs reach r = 22.2.
R_EDGES = (16.0, 18.0, 19.0, 20.0, 21.0, 21.6, 22.2)
#: Upper r limits of the cumulative figures (r < 21 is where single-epoch ugriz can reach
#: QSO purity and completeness of 0.80: docs/measurements/qso-ceiling.md).
CUMULATIVE_R = (21.0, 22.2)


#: Draws of each rate from its posterior for the intervals (fixed seed: the same interval
#: on every machine).
INTERVAL_DRAWS = 4000


def _called_rates(truth, called, n_classes):
    """Per true class: (n rows, n called the class)."""
    return [(int((truth == k).sum()), int((called & (truth == k)).sum())) for k in range(n_classes)]


def _combine(parts: list, cls: int) -> dict:
    """Purity and completeness of ``cls`` over one or more bins, each a (densities, counts)
    pair, the bins weighted by the sky's densities; None where a bin lacks the rows to say.

    The point figures use each class's observed rate of being called ``cls``; the 95 %
    interval, `INTERVAL_DRAWS` draws of every rate from its Jeffreys posterior
    Beta(k + 1/2, n - k + 1/2), so that a class never called ``cls`` in n rows still leaves
    room for a rate of order 1/n.
    """
    purity_ok = all(counts[k][0] > 0 for density, counts in parts for k in range(len(counts)) if density[k] > 0)
    completeness_ok = all(counts[cls][0] > 0 for density, counts in parts if density[cls] > 0)
    out = {"n_true": sum(counts[cls][0] for _, counts in parts)}
    rng = np.random.default_rng(0)
    point_num = point_den = comp_num = comp_den = 0.0
    draw_num = np.zeros(INTERVAL_DRAWS)
    draw_den = np.zeros(INTERVAL_DRAWS)
    draw_comp = np.zeros(INTERVAL_DRAWS)
    for density, counts in parts:
        for k, (n, hits) in enumerate(counts):
            if density[k] <= 0 or n == 0:
                continue
            rate = hits / n
            draws = rng.beta(hits + 0.5, n - hits + 0.5, INTERVAL_DRAWS)
            point_den += density[k] * rate
            draw_den += density[k] * draws
            if k == cls:
                point_num += density[k] * rate
                draw_num += density[k] * draws
                comp_num += density[k] * rate
                comp_den += density[k]
                draw_comp += density[k] * draws
    for key, ok, point, draws in (
        (
            "completeness",
            completeness_ok and comp_den > 0,
            comp_num / comp_den if comp_den else None,
            draw_comp / max(comp_den, 1e-300),
        ),
        (
            "purity",
            purity_ok and point_den > 0,
            point_num / point_den if point_den else None,
            draw_num / np.maximum(draw_den, 1e-300),
        ),
    ):
        if ok:
            low, high = np.percentile(draws, [2.5, 97.5])
            out.update(
                {key: float(point), f"{key}_low": float(min(low, point)), f"{key}_high": float(max(high, point))}
            )
        else:
            out.update({key: None, f"{key}_low": None, f"{key}_high": None})
    return out


def purity_completeness_by_r(
    y: np.ndarray,
    p: np.ndarray,
    r_true: np.ndarray,
    cls: int,
    densities_in_r,
    train_priors,
    edges=R_EDGES,
    cumulative=CUMULATIVE_R,
    threshold: float | None = None,
    decision_shares=None,
) -> dict:
    """Purity and completeness of class ``cls`` per r bin at the sky's class mix.

    Parameters
    ----------
    y : numpy.ndarray
        (n,) true class indices.
    p : numpy.ndarray
        (n, k) probabilities at ``train_priors``.
    r_true : numpy.ndarray
        (n,) true r (mag).
    cls : int
        Index of the class scored.
    densities_in_r : callable
        ``(r_lo, r_hi) -> (k,)`` sky densities of the classes in the bin (any unit).
    train_priors : array_like
        (k,) priors of ``p``.
    edges, cumulative : sequence of float
        Bin edges (mag); upper r limits of the cumulative figures (from ``edges[0]``: "r < 21" is 16 <= r < 21 by default).
    threshold : float, optional
        A row is called ``cls`` when its probability of ``cls``, moved to the bin's class
        shares, is at least this; None: when ``cls`` is its most probable class.
    decision_shares : array_like, optional
        (k,) class shares the probabilities are moved to before the decision, in every bin
        (a catalogue with one set of priors per run, ``fusion.prior_mode: em``); None: each
        bin's own shares (``em_r``). Purity weighs the classes by the bin's shares either way.

    Returns
    -------
    dict
        ``bins``: per bin ``r_lo``, ``r_hi``, ``n`` (rows per class), ``sky_share`` of the
        class, ``n_true``, ``completeness`` and ``purity`` with ``*_low``/``*_high`` (None
        where the bin lacks the rows to say); ``below``: the same for r < each
        ``cumulative`` limit, the bins weighted by the sky's densities.
    """
    y, r_true = np.asarray(y, int), np.asarray(r_true, float)
    bins, parts = [], []
    for lo, hi in zip(edges[:-1], edges[1:]):
        sel = (r_true >= lo) & (r_true < hi)
        density = np.asarray(densities_in_r(lo, hi), float)
        called = np.zeros(len(y), bool)
        if sel.any():
            target = density / density.sum() if decision_shares is None else decision_shares
            at_sky = shift_priors(p[sel], train_priors, target)
            called[sel] = at_sky.argmax(axis=1) == cls if threshold is None else at_sky[:, cls] >= threshold
        rates = _called_rates(np.where(sel, y, -1), called, p.shape[1])
        parts.append((hi, density, rates))
        bins.append(
            {
                "r_lo": lo,
                "r_hi": hi,
                "n": [r[0] for r in rates],
                "sky_share": float(density[cls] / density.sum()),
                **_combine([(density, rates)], cls),
            }
        )
    below = {f"{limit:g}": _combine([(d, rates) for hi, d, rates in parts if hi <= limit], cls) for limit in cumulative}
    return {"bins": bins, "below": below}


def sky_class_densities(r_lo: float, r_hi: float) -> list[float]:
    """Sources per deg^2 of GALAXY, STAR, QSO (SPEC_CLASSES order) with ``r_lo <= r < r_hi``
    at the simulator's real-sky defaults."""
    from yl8c4net.sdss.queries import SPEC_CLASSES
    from yl8c4net.simulate.population import PopulationParams

    density = class_density_in_r(PopulationParams(), r_lo, r_hi)
    return [density[c] for c in SPEC_CLASSES]


def decision_shares(prior_mode: str, sky_priors: dict | None = None):
    """The class shares (SPEC_CLASSES order) a catalogue made with ``fusion.prior_mode``
    moves its probabilities to, as far as the sky's mix sets them; None: each r bin's own.

    ``em_r``: each bin's shares (EM fits the priors as a function of r); ``em``: the sky's
    shares over all of `R_EDGES` (EM fits one set per run); ``fixed``: ``sky_priors``
    (``fusion.sky_priors``, normalised); ``train``: equal shares.
    """
    from yl8c4net.sdss.queries import SPEC_CLASSES

    if prior_mode == "em_r":
        return None
    if prior_mode == "em":
        whole = np.asarray(sky_class_densities(R_EDGES[0], R_EDGES[-1]), float)
        return whole / whole.sum()
    if prior_mode == "fixed":
        if sky_priors is None:
            raise ValueError("prior_mode fixed needs fusion.sky_priors")
        fixed = np.array([sky_priors[c] for c in SPEC_CLASSES], float)
        return fixed / fixed.sum()
    if prior_mode == "train":
        return np.full(len(SPEC_CLASSES), 1.0 / len(SPEC_CLASSES))
    raise ValueError(f"prior_mode {prior_mode!r}: em, em_r, fixed or train")


def qso_curves(answers: dict, y: np.ndarray, r_true: np.ndarray, train_priors, shares=None) -> dict:
    """`purity_completeness_by_r` of the QSO class for each answer of ``answers`` (name ->
    (n, 3) probabilities at ``train_priors``), at `sky_class_densities`, deciding at
    ``shares`` (`decision_shares`; None: each bin's own)."""
    from yl8c4net.sdss.queries import SPEC_CLASSES

    qso = SPEC_CLASSES.index("QSO")
    return {
        name: purity_completeness_by_r(y, p, r_true, qso, sky_class_densities, train_priors, decision_shares=shares)
        for name, p in answers.items()
    }


#: Cuts on the QSO probability at the sky's mix that `qso_cuts` scores.
QSO_CUTS = (0.1, 0.2, 0.3, 0.5, 0.7)
#: Upper r limits at which `qso_cuts` scores each cut (r < 19: the bright quasars, 0.2-0.5 %
#: of the sources there, that the most probable class leaves out most).
QSO_CUT_LIMITS = (19.0, 21.0, 22.2)


def qso_cuts(p: np.ndarray, y: np.ndarray, r_true: np.ndarray, train_priors, cuts=QSO_CUTS, shares=None) -> dict:
    """Completeness and purity at the sky's mix of the rows whose ``p_qso`` is at least each
    cut, below each of `QSO_CUT_LIMITS`; ``"argmax"``: the rows whose most probable class is QSO.

    Parameters
    ----------
    p : numpy.ndarray
        One answer's (n, 3) probabilities at ``train_priors``.
    y, r_true : numpy.ndarray
        True classes and true r (mag).
    cuts : sequence of float
        Cuts on the QSO probability.
    shares : array_like, optional
        The class shares the probabilities are moved to before the cut, as a catalogue moves
        its own (`decision_shares` of its ``fusion.prior_mode``); None: each r bin's own
        (``em_r``, the default).

    Returns
    -------
    dict
        ``{cut: {limit: figures}}`` (cut and limit as strings), each figure as in
        `purity_completeness_by_r`'s ``below``.
    """
    from yl8c4net.sdss.queries import SPEC_CLASSES

    qso = SPEC_CLASSES.index("QSO")
    out = {}
    for cut in (None, *cuts):
        curve = purity_completeness_by_r(
            y,
            p,
            r_true,
            qso,
            sky_class_densities,
            train_priors,
            cumulative=QSO_CUT_LIMITS,
            threshold=cut,
            decision_shares=shares,
        )
        out["argmax" if cut is None else f"{cut:g}"] = curve["below"]
    return out


def plot_purity_completeness(curves: dict, out_png: str | Path, class_name: str = "QSO", n_label: str = "") -> Path:
    """Purity and completeness of ``class_name`` against r, one line per answer, with their
    intervals; ``curves`` maps an answer's name to `purity_completeness_by_r`'s result."""
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(9.5, 3.8), sharey=True)
    palette = ["#0072B2", "#E69F00", "#009E73", "#CC79A7"]
    for j, (name, curve) in enumerate(curves.items()):
        centres = np.array([0.5 * (b["r_lo"] + b["r_hi"]) for b in curve["bins"]])
        for ax, key in zip(axes, ("completeness", "purity")):
            vals = [b[key] for b in curve["bins"]]
            has = np.array([v is not None for v in vals])
            if not has.any():
                continue
            v = np.array([x for x in vals if x is not None])
            low = np.array([b[f"{key}_low"] for b, h in zip(curve["bins"], has) if h])
            high = np.array([b[f"{key}_high"] for b, h in zip(curve["bins"], has) if h])
            below = curve["below"].get("21", {}).get(key)
            label = f"{name} (r < 21: {below:.2f})" if below is not None else name
            ax.errorbar(
                centres[has] + (j - 1) * 0.06,
                v,
                yerr=[np.clip(v - low, 0, None), np.clip(high - v, 0, None)],  # rounding at 0 and 1
                marker="o",
                ms=4,
                capsize=2,
                color=palette[j % len(palette)],
                label=label,
            )
    for ax, key in zip(axes, ("completeness", "purity")):
        ax.axhline(0.8, color="0.6", linestyle=":")
        ax.set_xlabel("true r (mag)")
        ax.set_title(f"{class_name} {key}{n_label}", fontsize=10)
        ax.set_ylim(0, 1.02)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="best", fontsize=7)
    axes[0].set_ylabel("fraction (95 % interval)")
    return save_figure(fig, out_png)
