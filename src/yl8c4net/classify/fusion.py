"""Colour-aware classification: Conv4Net's image probabilities fused with a photometric
classifier of the PhotoObjAll measurements (beyond the paper).

Library choice: scikit-learn's `~sklearn.ensemble.HistGradientBoostingClassifier`. It is
already a dependency (the colour model is a scikit-learn mixture), needs no compiled extra
(LightGBM would), is deterministic for a fixed ``random_state``, and handles missing values
natively; on tens of thousands of rows it trains in seconds on 2 cores.

The pieces, all trained at equal class priors:

* the **colour part**: the classifier on ``u-g, g-r, r-i, i-z, r`` only (what the real
  SkyServer table has, so it can be validated on real spectra);
* the **photometric part**: the same learner with the PSF - model concentration, the SDSS
  ``type`` and the five magnitude errors added;
* the **fusion**: log p = w_phot log p_phot + w_image log p_image (softmax), two weights fitted
  by maximum likelihood on a validation set the image model never trained on; they weigh
  the two experts and act as their joint temperature (the image's colours repeat part of
  the photometry, so a plain product would be over-confident);
* the **weight on the sky**: each run scales the image's weight by what it earns against
  PhotoObjAll ``type`` on the run's own rows (`yl8c4net.classify.sky_weight`), so that a
  model that learned the simulator's galaxies cannot outvote the photometry on real frames.
  The photometric weight moves with it, linearly from ``w_phot`` (the image at full weight)
  to ``photometric_weight_alone`` (no image): ``w_phot`` was fitted beside the image and
  flattens the photometric part, which, once the image's vote is cut, would let the sky's
  class priors overturn confident photometric answers. So an image weight of 0 gives the
  photometric part itself, calibrated: the fusion cannot fall below it there.

The catalogue then moves the probabilities from equal priors to the sky's
(`yl8c4net.classify.probabilities`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from yl8c4net.sdss.queries import SPEC_CLASSES
from yl8c4net.classify.probabilities import fit_temperature, log_probabilities, nll, softmax
from yl8c4net.classify.sky_weight import simulated_image_scale

COLOUR_FEATURES = ("u-g", "g-r", "r-i", "i-z", "r")
PHOTOMETRIC_FEATURES = (*COLOUR_FEATURES, "psf_minus_model_r", "type", "err_u", "err_g", "err_r", "err_i", "err_z")
#: Model magnitudes SDSS reports for a missing measurement (-9999, 99 ...) fall outside this.
_GOOD_MAG = (5.0, 30.0)


def photometric_features(table: pd.DataFrame, names=PHOTOMETRIC_FEATURES) -> np.ndarray:
    """Feature matrix (n, len(names)) of PhotoObjAll-like rows; NaN where a value is missing.

    ``table`` has ``u g r i z`` model magnitudes and, for the photometric features,
    ``psfmag_r``, ``type`` (or the catalogue's ``photo_type``) and ``err_u`` ... ``err_z``.
    Magnitudes outside 5-30 (SDSS's -9999 and 99 codes) count as missing.
    """
    mags = {}
    for b in "ugriz":
        m = table[b].to_numpy(float)
        mags[b] = np.where((m > _GOOD_MAG[0]) & (m < _GOOD_MAG[1]), m, np.nan)
    cols = []
    for name in names:
        if name in ("u-g", "g-r", "r-i", "i-z"):
            a, b = name.split("-")
            cols.append(mags[a] - mags[b])
        elif name == "r":
            cols.append(mags["r"])
        elif name == "psf_minus_model_r":
            cols.append(table["psfmag_r"].to_numpy(float) - mags["r"])
        elif name == "type":
            col = "type" if "type" in table.columns else "photo_type"
            cols.append(table[col].to_numpy(float))
        else:
            cols.append(table[name].to_numpy(float))
    return np.column_stack(cols) if cols else np.empty((len(table), 0))


def class_indices(labels, classes=SPEC_CLASSES) -> np.ndarray:
    lookup = {c: i for i, c in enumerate(classes)}
    return np.array([lookup[str(c)] for c in labels], dtype=int)


def train_photometric_classifier(table: pd.DataFrame, names, seed: int = 0, max_iter: int = 400):
    """A HistGradientBoostingClassifier on ``names`` of ``table`` (with a ``class`` column),
    at equal class priors whatever the table's mix."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    clf = HistGradientBoostingClassifier(
        max_iter=max_iter,
        learning_rate=0.1,
        max_leaf_nodes=31,
        l2_regularization=1.0,
        class_weight="balanced",
        early_stopping=True,
        validation_fraction=0.1,
        n_iter_no_change=20,
        random_state=seed,
    )
    clf.fit(photometric_features(table, names), class_indices(table["class"]))
    return clf


def fit_fusion_weights(log_phot: np.ndarray, log_image: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """(w_phot, w_image) >= 0 that minimise the NLL of softmax(w_phot log_phot + w_image log_image)."""
    from scipy.optimize import minimize

    labels = np.asarray(labels, int)
    res = minimize(
        lambda w: nll(w[0] * log_phot + w[1] * log_image, labels),
        x0=np.array([1.0, 0.5]),
        bounds=[(0.0, 5.0), (0.0, 5.0)],
        method="L-BFGS-B",
    )
    return float(res.x[0]), float(res.x[1])


@dataclass
class FusionModel:
    """Trained colour, photometric and fusion parts; every output is at equal class priors."""

    colour: object
    photometric: object
    w_phot: float
    w_image: float
    image_temperature: float
    classes: tuple = SPEC_CLASSES
    info: dict = field(default_factory=dict)
    #: The image's point-source log-odds scale against the simulated ``type`` on the
    #: validation set: the reference a run's sky is compared with (`yl8c4net.classify.sky_weight`).
    image_type_scale: float | None = None
    #: The photometric part's weight with no image (1 / its temperature on the validation
    #: set). Fusion files written before it existed take 1: the part as trained.
    photometric_weight_alone: float = 1.0

    @property
    def train_priors(self) -> np.ndarray:
        return np.full(len(self.classes), 1.0 / len(self.classes))

    def colour_proba(self, table: pd.DataFrame) -> np.ndarray:
        return self.colour.predict_proba(photometric_features(table, COLOUR_FEATURES))

    def photometric_proba(self, table: pd.DataFrame) -> np.ndarray:
        return self.photometric.predict_proba(photometric_features(table, PHOTOMETRIC_FEATURES))

    def image_proba(self, p_image: np.ndarray, image_factor: float = 1.0) -> np.ndarray:
        """Conv4Net's probabilities, temperature-scaled (for rows without photometry);
        ``image_factor`` in [0, 1] flattens them further (the share of the image's weight
        earned on the sky, `yl8c4net.classify.sky_weight`)."""
        return softmax(image_factor * log_probabilities(p_image) / self.image_temperature)

    def photometric_weight(self, image_factor=1.0) -> np.ndarray:
        """The photometric part's weight beside an image weighted by ``image_factor``: from
        ``w_phot`` at 1 linearly to ``photometric_weight_alone`` at 0."""
        factor = np.asarray(image_factor, float)
        alone = getattr(self, "photometric_weight_alone", 1.0)  # pickles older than the field
        return factor * self.w_phot + (1.0 - factor) * alone

    def fused_proba(self, table: pd.DataFrame, p_image: np.ndarray, image_factor=1.0) -> np.ndarray:
        """Fused probabilities at equal priors; ``image_factor`` (scalar or one per row, in
        [0, 1]) multiplies the image's weight and sets the photometric one
        (`photometric_weight`)."""
        if len(table) == 0:
            return np.empty((0, len(self.classes)))
        log_phot = log_probabilities(self.photometric_proba(table))
        factor = np.reshape(np.asarray(image_factor, float), (-1, 1))
        w_image = self.w_image * factor
        return softmax(self.photometric_weight(factor) * log_phot + w_image * log_probabilities(p_image))


def train_fusion(
    photometry: pd.DataFrame, validation: pd.DataFrame, p_image_validation: np.ndarray, seed: int = 0
) -> FusionModel:
    """Train the colour and photometric parts on ``photometry`` (simulated measurements with
    their true class), then the fusion weights and the image temperature on ``validation``
    (rows with measurements, ``class`` and Conv4Net's probabilities ``p_image_validation``,
    from data neither model trained on)."""
    colour = train_photometric_classifier(photometry, COLOUR_FEATURES, seed)
    phot = train_photometric_classifier(photometry, PHOTOMETRIC_FEATURES, seed)
    labels = class_indices(validation["class"])
    log_img = log_probabilities(p_image_validation)
    log_phot = log_probabilities(phot.predict_proba(photometric_features(validation, PHOTOMETRIC_FEATURES)))
    w_phot, w_image = fit_fusion_weights(log_phot, log_img, labels)
    temperature = fit_temperature(log_img, labels)
    photometric_alone = 1.0 / fit_temperature(log_phot, labels)
    type_col = "type" if "type" in validation.columns else "photo_type"
    image_type_scale = simulated_image_scale(p_image_validation, validation[type_col])
    info = {
        "n_photometry": int(len(photometry)),
        "n_validation": int(len(validation)),
        "colour_iterations": int(colour.n_iter_),
        "photometric_iterations": int(phot.n_iter_),
        "image_type_scale": image_type_scale,
        "photometric_weight_alone": photometric_alone,
    }
    return FusionModel(
        colour,
        phot,
        w_phot,
        w_image,
        temperature,
        info=info,
        image_type_scale=image_type_scale,
        photometric_weight_alone=photometric_alone,
    )


def save_fusion(model: FusionModel, path) -> None:
    """Write with joblib (scikit-learn's own persistence). Like any pickle, load only files
    this workflow wrote."""
    import joblib

    from yl8c4net.io import atomic_output

    with atomic_output(path) as tmp:
        joblib.dump(model, tmp)


def load_fusion(path) -> FusionModel:
    import joblib

    from yl8c4net.errors import ModelFileError

    try:
        model = joblib.load(path)
    except Exception as exc:  # joblib raises whatever unpickling raised
        raise ModelFileError(f"{path}: not a fusion model written by train_fusion ({exc})") from exc
    if not isinstance(model, FusionModel):
        raise ModelFileError(f"{path}: holds a {type(model).__name__}, not a FusionModel")
    return model
