"""How much of Conv4Net's weight in the fusion holds on a run's own sky.

The fusion's weights are fitted on simulated cut-outs, where the image model is excellent.
On real frames it is not: on the labelled field 3918/3/213 it agrees with PHOTO's star/galaxy
split on 0.86 of sources at r < 20 but only 0.59 at r 20-22.2, calling most faint real
galaxies STAR. A catalogue whose fused class leans on it is then worse than the PhotoObjAll
``type`` it already holds.

Every real run has a label for this at hand: PhotoObjAll's ``type`` of its matched rows
(3 galaxy, 6 star; PHOTO's psfMag - modelMag split). Per r bin we fit one number, the scale
``a`` of the image's point-source log-odds ``log((p_star + p_qso) / p_galaxy)`` that best
predicts ``type`` (logistic likelihood with stars and galaxies weighted equally, as the fusion
works at equal priors; ``a >= 0``), and compare it with the same scale
measured on the simulated validation set against the simulated ``type``. The ratio, capped
at 1, is the share of the image's simulated weight the run earns on its sky::

    factor_bin = min(1, a_run_bin / a_sim)
    log p_fused = w_phot log p_phot + w_image * factor(r) * log p_image

A model that is right on the sky scores ``a`` near its simulated value (factor ~1: the fusion
is as trained); one that contradicts ``type`` scores ``a`` near 0 and leaves the fused answer to
the photometric part. ``type`` is only a label here, never an extra vote: it already enters the
photometric part. Its own errors (PHOTO is ~0.90 right at r 20-21, ~0.83 at r 21-22 against
deep coadds) lower ``a`` on the sky and in the simulation alike, which is why the ratio, not
``a`` itself, sets the weight.

Bins with fewer than ``min_rows`` typed rows take the smallest factor of the bins that had
enough (the image is no better where it was not checked); a run where no bin had enough rows
takes ``fallback``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from yl8c4net.classify.probabilities import log_probabilities
from yl8c4net.sdss.queries import SPEC_CLASSES

#: PhotoObjAll ``type`` codes.
GALAXY_TYPE, STAR_TYPE = 3, 6
_SCALE_BOUNDS = (0.0, 5.0)


def point_log_odds(p_image: np.ndarray, classes=SPEC_CLASSES) -> np.ndarray:
    """The image's log-odds that a row is a point source: log((p_STAR + p_QSO) / p_GALAXY).

    ``p_image`` is (n, k) in the order of ``classes``; a quasar is a point source to PHOTO.
    """
    p = np.asarray(p_image, float)
    index = {c: i for i, c in enumerate(classes)}
    point = p[:, index["STAR"]] + p[:, index["QSO"]]
    return (log_probabilities(point[:, None]) - log_probabilities(p[:, [index["GALAXY"]]]))[:, 0]


def fit_log_odds_scale(log_odds: np.ndarray, is_point: np.ndarray) -> float:
    """The scale ``a`` in [0, 5] of P(point) = sigmoid(a * log_odds) that minimises the
    class-balanced logistic NLL (point and extended rows weigh half each).

    No intercept: the fusion adds the image's log-probabilities as they are, so a model
    that leans towards STAR is judged with its lean. Balanced, because the fusion works at
    equal class priors: a model that calls everything a star earns ``a`` = 0 whatever the
    run's star/galaxy mix.
    """
    from scipy.optimize import minimize_scalar

    z = np.asarray(log_odds, float)
    y = np.asarray(is_point, bool)
    if y.all() or not y.any():
        raise ValueError("the image's scale needs rows typed star and rows typed galaxy")

    def nll(a):
        s = a * z
        return 0.5 * float(np.mean(np.logaddexp(0.0, -s[y])) + np.mean(np.logaddexp(0.0, s[~y])))

    return float(minimize_scalar(nll, bounds=_SCALE_BOUNDS, method="bounded").x)


def typed_rows(photo_type) -> tuple[np.ndarray, np.ndarray]:
    """(usable, is_point) masks: rows typed star (6) or galaxy (3) by PHOTO."""
    t = np.asarray(photo_type, float)
    return (t == STAR_TYPE) | (t == GALAXY_TYPE), t == STAR_TYPE


def simulated_image_scale(p_image: np.ndarray, photo_type) -> float:
    """``a`` of the image model on simulated rows against their simulated ``type`` (the reference)."""
    usable, is_point = typed_rows(photo_type)
    if not usable.any():
        raise ValueError("no simulated row is typed star or galaxy: cannot measure the image model's scale")
    return fit_log_odds_scale(point_log_odds(p_image)[usable], is_point[usable])


@dataclass
class SkyImageWeight:
    """The share of the image's simulated fusion weight one run earns, per r bin."""

    edges: tuple  # inner r edges (mag); bins are (-inf, e0), [e0, e1), ..., [e_last, inf)
    factors: np.ndarray  # (n_bins,) in [0, 1]
    reference_scale: float  # a on the simulated validation set
    bins: list = field(default_factory=list)  # per bin: r, n, scale, factor, how

    def factor_at(self, r) -> np.ndarray:
        """Factor per row of r model magnitude (mag); rows without r take the smallest factor."""
        r = np.asarray(r, float)
        which = np.searchsorted(np.asarray(self.edges, float), np.where(np.isfinite(r), r, 0.0), side="right")
        return np.where(np.isfinite(r), self.factors[which], self.image_only_factor)

    @property
    def image_only_factor(self) -> float:
        """Factor for rows with no photometry (mostly faint): the smallest of the run's."""
        return float(self.factors.min())

    def summary(self) -> dict:
        return {"reference_scale": round(self.reference_scale, 6), "bins": self.bins}


def _bin_names(edges) -> list[str]:
    bounds = [None, *edges, None]
    names = []
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        names.append(f"r < {hi:g}" if lo is None else f"r >= {lo:g}" if hi is None else f"{lo:g} <= r < {hi:g}")
    return names


def sky_image_weight(
    p_image: np.ndarray,
    photo_type,
    r,
    reference_scale: float,
    edges=(20.0, 21.0),
    min_rows: int = 50,
    fallback: float = 0.0,
) -> SkyImageWeight:
    """Earn the image's weight on one run's matched rows.

    Parameters
    ----------
    p_image : numpy.ndarray
        (n, 3) Conv4Net probabilities of the run's matched rows (GALAXY, STAR, QSO).
    photo_type : array_like
        (n,) PhotoObjAll ``type`` of the same rows.
    r : array_like
        (n,) r model magnitudes (mag).
    reference_scale : float
        ``a`` of the same model on simulated rows (`simulated_image_scale`).
    edges : sequence of float
        Inner r bin edges (mag), increasing.
    min_rows : int
        Typed rows a bin needs to be fitted.
    fallback : float
        Factor of every bin when none had ``min_rows`` rows.
    """
    edges = tuple(float(e) for e in edges)
    if list(edges) != sorted(edges):
        raise ValueError(f"fusion.sky_weight_r_edges must increase, got {list(edges)}")
    if not reference_scale > 0:
        raise ValueError(f"the simulated image scale must be > 0, got {reference_scale}")
    usable, is_point = typed_rows(photo_type)
    r = np.asarray(r, float)
    log_odds = point_log_odds(p_image)
    which = np.searchsorted(np.asarray(edges), np.where(np.isfinite(r), r, np.inf), side="right")
    usable &= np.isfinite(r)
    factors = np.full(len(edges) + 1, np.nan)
    bins = []
    for b, name in enumerate(_bin_names(edges)):
        sel = usable & (which == b)
        entry = {"r": name, "n": int(sel.sum()), "n_star": int((sel & is_point).sum())}
        if entry["n"] >= min_rows and 0 < entry["n_star"] < entry["n"]:
            scale = fit_log_odds_scale(log_odds[sel], is_point[sel])
            factors[b] = min(1.0, scale / reference_scale)
            entry.update(scale=round(scale, 6), how="fitted")
        bins.append(entry)
    fitted = np.isfinite(factors)
    fill = float(factors[fitted].min()) if fitted.any() else float(fallback)
    for b, entry in enumerate(bins):
        if not fitted[b]:
            entry["how"] = (
                f"fewer than {min_rows} typed rows of both kinds: smallest fitted factor"
                if fitted.any()
                else f"no bin had {min_rows} typed rows: fusion.sky_weight_fallback"
            )
        factors[b] = factors[b] if fitted[b] else fill
        entry["factor"] = round(float(factors[b]), 6)
    return SkyImageWeight(edges, factors, float(reference_scale), bins)
