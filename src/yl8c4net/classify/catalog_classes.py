"""The catalogue's classes: Conv4Net's image answer kept as ``class_image`` / ``p_*_image``,
and ``class`` / ``p_*`` fused with the PhotoObjAll photometry and moved to the sky's class
priors (`yl8c4net.classify.fusion`, `yl8c4net.classify.probabilities`)."""

from __future__ import annotations

import logging
from typing import Callable, NamedTuple

import numpy as np
import pandas as pd

from yl8c4net.errors import ModelFileError
from yl8c4net.sdss.queries import SPEC_CLASSES
from yl8c4net.classify.probabilities import estimate_priors_em, estimate_priors_em_by_magnitude, shift_priors

log = logging.getLogger(__name__)

PROBABILITY_COLUMNS = tuple(f"p_{c.lower()}" for c in SPEC_CLASSES)
IMAGE_PROBABILITY_COLUMNS = tuple(f"{c}_image" for c in PROBABILITY_COLUMNS)
#: PhotoObjAll columns the photometric classifier reads.
FEATURE_COLUMNS = ("u", "g", "r", "i", "z", "err_u", "err_g", "err_r", "err_i", "err_z", "psfmag_r", "type")
#: r magnitudes at which the provenance records magnitude-dependent priors.
PRIOR_REPORT_R = (16.0, 18.0, 20.0, 22.0)


def keep_image_answer(det: pd.DataFrame) -> pd.DataFrame:
    """Rename Conv4Net's ``class`` and ``p_*`` of classified detections to the ``*_image`` columns."""
    return det.rename(columns={"class": "class_image", **dict(zip(PROBABILITY_COLUMNS, IMAGE_PROBABILITY_COLUMNS))})


def _set_answer(df: pd.DataFrame, p: np.ndarray, image_only: bool) -> pd.DataFrame:
    from yl8c4net.catalog.columns import CLASS_DTYPE

    p = p.astype(np.float32)
    cls = np.asarray(SPEC_CLASSES, dtype=object)[p.argmax(axis=1)] if len(p) else np.array([], dtype=object)
    return df.assign(
        **{"class": pd.Categorical(cls, dtype=CLASS_DTYPE)},
        **{c: p[:, k] for k, c in enumerate(PROBABILITY_COLUMNS)},
        class_image_only=image_only,
    )


class RunPriors(NamedTuple):
    """Class priors of one run: ``priors`` (k,), or (n, k) per row with ``em_r``; ``source``,
    how they were obtained; ``extra``, what the provenance records besides; ``at_r``, the
    priors at given r magnitudes ((m,) -> (m, k)), the same for every r unless ``em_r``."""

    priors: np.ndarray
    source: str
    extra: dict
    at_r: Callable[[np.ndarray], np.ndarray]


def _same_at_every_r(priors: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    return lambda r: np.tile(priors, (len(np.atleast_1d(r)), 1))


def run_priors(p_equal: np.ndarray, settings: dict, r_mag: np.ndarray | None = None) -> RunPriors:
    """Class priors of one run's rows, how they were obtained, and what the provenance records.

    ``p_equal`` are the run's fused probabilities at equal priors; ``settings`` the config's
    ``fusion`` section; ``r_mag`` the rows' r model magnitudes (``prior_mode: em_r``).
    """
    k = len(SPEC_CLASSES)
    fixed = np.array([settings["sky_priors"][c] for c in SPEC_CLASSES], float)
    fixed /= fixed.sum()
    mode = settings["prior_mode"]
    if mode == "train":
        equal = np.full(k, 1.0 / k)
        return RunPriors(equal, "train (equal)", {}, _same_at_every_r(equal))
    if mode == "fixed":
        return RunPriors(fixed, "fixed (fusion.sky_priors)", {}, _same_at_every_r(fixed))
    if len(p_equal) < settings["em_min_rows"]:
        return RunPriors(fixed, f"fusion.sky_priors ({len(p_equal)} rows < em_min_rows)", {}, _same_at_every_r(fixed))
    if mode == "em_r":
        if r_mag is None:
            raise ValueError("fusion.prior_mode em_r needs the rows' r magnitudes")
        degree = settings.get("prior_r_degree", 1)
        est = estimate_priors_em_by_magnitude(p_equal, np.full(k, 1.0 / k), r_mag, degree=degree)
        at = {f"{m:g}": est.priors_at(m)[0] for m in PRIOR_REPORT_R}
        extra = {
            "class_priors_at_r": {
                m: {c: round(float(v), 6) for c, v in zip(SPEC_CLASSES, pri)} for m, pri in at.items()
            }
        }
        source = f"em_r (degree {degree}, {est.iterations} iterations)"
        priors, at_r = est.row_priors, est.priors_at
    else:
        est = estimate_priors_em(p_equal, np.full(k, 1.0 / k))
        source, priors, extra = f"em ({est.iterations} iterations)", est.priors, {}
        at_r = _same_at_every_r(priors)
    if not est.converged:
        log.warning("EM class priors did not converge in %d iterations; using them anyway", est.iterations)
    return RunPriors(priors, source, extra, at_r)


def image_weight_of_run(fusion, p_image: np.ndarray, features: pd.DataFrame, settings: dict):
    """The run's `yl8c4net.classify.sky_weight.SkyImageWeight` (``fusion.image_weight: sky``),
    or None (``simulated``: the fusion as trained)."""
    from yl8c4net.classify.sky_weight import sky_image_weight

    if settings.get("image_weight", "sky") != "sky":
        return None
    reference = getattr(fusion, "image_type_scale", None)
    if reference is None:
        raise ModelFileError(
            "the fusion model has no simulated image scale (written before fusion.image_weight: sky);"
            " retrain it, or set fusion.image_weight: simulated"
        )
    sky = sky_image_weight(
        p_image,
        features["type"].to_numpy(float),
        features["r"].to_numpy(float),
        reference,
        edges=settings.get("sky_weight_r_edges", (20.0, 21.0)),
        min_rows=settings.get("sky_weight_min_rows", 50),
        fallback=settings.get("sky_weight_fallback", 0.0),
    )
    log.info(
        "image weight earned on this run's sky (against PhotoObjAll type): %s",
        ", ".join(f"{b['r']}: {b['factor']:.3f} (n={b['n']})" for b in sky.bins),
    )
    return sky


def assign_classes(
    matched: pd.DataFrame, image_only: list, photo: pd.DataFrame, fusion, settings: dict
) -> tuple[pd.DataFrame, list, dict]:
    """``class`` and ``p_*`` of one run's catalogue rows and of its other detections
    (unmatched, duplicates), which get the image answer.

    Parameters
    ----------
    matched : pandas.DataFrame
        Catalogue rows with ``objid`` and Conv4Net's ``class_image`` and ``p_*_image``.
    image_only : list of pandas.DataFrame
        Tables of detections without photometry (same image columns).
    photo : pandas.DataFrame
        The run's PhotoObjAll rows (``objid`` and `FEATURE_COLUMNS`).
    fusion : yl8c4net.classify.fusion.FusionModel or None
        None: ``class`` is the image-only answer at equal priors (the paper).
    settings : dict
        The config's ``fusion`` section.

    Returns
    -------
    matched, image_only, info
        ``info`` records the priors used (for the provenance).
    """
    p_img_m = matched[list(IMAGE_PROBABILITY_COLUMNS)].to_numpy(float)
    p_img = [t[list(IMAGE_PROBABILITY_COLUMNS)].to_numpy(float) for t in image_only]
    if fusion is None:
        info = {"class_priors": dict(zip(SPEC_CLASSES, [1 / 3] * 3)), "class_priors_from": "train (fusion off)"}
        return _set_answer(matched, p_img_m, True), [_set_answer(t, p, True) for t, p in zip(image_only, p_img)], info
    features = photo.drop_duplicates("objid").set_index("objid").loc[matched["objid"].to_numpy(), list(FEATURE_COLUMNS)]
    sky = image_weight_of_run(fusion, p_img_m, features, settings)
    row_factor = sky.factor_at(features["r"].to_numpy(float)) if sky else 1.0
    p_fused = fusion.fused_proba(features.reset_index(drop=True), p_img_m, row_factor)
    row_priors, source, extra, priors_at_r = run_priors(p_fused, settings, features["r"].to_numpy(float))
    priors = row_priors if row_priors.ndim == 1 else row_priors.mean(axis=0)
    equal = fusion.train_priors

    def at_priors(p, target):
        return shift_priors(p, equal, target) if len(p) else np.empty((0, len(SPEC_CLASSES)))

    def image_only_priors(t):
        """Rows without PhotoObjAll take the priors at their own forced r magnitude
        (``mag_r``), the run's mean prior where it is missing."""
        if row_priors.ndim == 1 or "mag_r" not in t.columns or not len(t):
            return priors
        mag = t["mag_r"].to_numpy(float)
        known = np.isfinite(mag)
        out = np.tile(priors, (len(t), 1))
        if known.any():
            out[known] = priors_at_r(mag[known])
        return out

    matched = _set_answer(matched, at_priors(p_fused, row_priors), False)
    image_only_factor = sky.image_only_factor if sky else 1.0
    others = [
        _set_answer(t, at_priors(fusion.image_proba(p, image_only_factor), image_only_priors(t)), True)
        for t, p in zip(image_only, p_img)
    ]
    info = {
        "class_priors": {c: round(float(v), 6) for c, v in zip(SPEC_CLASSES, priors)},
        "class_priors_from": source,
        **extra,
        "fusion_weights": {
            "w_phot": fusion.w_phot,
            "w_image": fusion.w_image,
            "image_temperature": fusion.image_temperature,
        },
        "image_weight_on_sky": sky.summary() if sky else "simulated (fusion.image_weight)",
    }
    log.info(
        "class priors of this run (%s): %s", source, ", ".join(f"{c} {v:.4f}" for c, v in zip(SPEC_CLASSES, priors))
    )
    return matched, others, info
