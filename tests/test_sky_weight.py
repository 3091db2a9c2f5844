"""The image model's fusion weight, earned per run against PhotoObjAll type: a model that
contradicts the sky loses its vote, one that holds keeps it, and the fused class is then no
worse than the photometric part alone."""

import numpy as np
import pandas as pd
import pytest

from yl8c4net.classify.fusion import class_indices, train_fusion
from yl8c4net.classify.probabilities import softmax
from yl8c4net.classify.sky_weight import (
    fit_log_odds_scale,
    point_log_odds,
    simulated_image_scale,
    sky_image_weight,
)
from yl8c4net.errors import ModelFileError
from yl8c4net.simulate.photometry import photometry_training_table

GALAXY, STAR, QSO = 0, 1, 2


def image_expert(truth_index: np.ndarray, rng, strength: float = 3.0) -> np.ndarray:
    """Probabilities of a noisy image model that leans towards the true class."""
    logits = rng.normal(0.0, 1.0, (len(truth_index), 3))
    logits[np.arange(len(truth_index)), truth_index] += strength
    return softmax(logits)


def star_calling_expert(truth_index: np.ndarray, rng) -> np.ndarray:
    """An image model that learned the simulator's galaxies: it calls every galaxy a star."""
    wrong = np.where(truth_index == GALAXY, STAR, truth_index)
    return image_expert(wrong, rng, strength=4.0)


def test_the_scale_is_large_for_an_informative_model_and_zero_for_a_contrary_one():
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 2, 4000)  # 0 galaxy, 1 star
    good = point_log_odds(image_expert(truth, rng))
    assert fit_log_odds_scale(good, truth == 1) > 0.5
    contrary = point_log_odds(image_expert(1 - truth, rng))
    assert fit_log_odds_scale(contrary, truth == 1) < 0.01
    # A quasar counts as a point source.
    np.testing.assert_allclose(point_log_odds(np.array([[0.2, 0.3, 0.5]])), [np.log(0.8 / 0.2)])


def test_factors_per_bin_follow_where_the_model_holds_and_fill_unfitted_bins():
    rng = np.random.default_rng(1)
    n = 3000
    r = rng.uniform(16.0, 22.5, n)
    photo_type = np.where(rng.random(n) < 0.5, 6, 3)
    truth = np.where(photo_type == 6, STAR, GALAXY)
    p_sim = image_expert(truth, rng)
    reference = simulated_image_scale(p_sim, photo_type)
    # On the sky the model holds brighter than r = 20 and calls every galaxy a star fainter.
    p_sky = np.where((r < 20)[:, None], image_expert(truth, rng), star_calling_expert(truth, rng))
    sky = sky_image_weight(p_sky, photo_type, r, reference, edges=(20.0, 21.0), min_rows=50)
    assert [b["r"] for b in sky.bins] == ["r < 20", "20 <= r < 21", "r >= 21"]
    assert sky.factors[0] > 0.85
    assert sky.factors[1] < 0.05 and sky.factors[2] < 0.05
    np.testing.assert_allclose(sky.factor_at([18.0, 20.5, 22.0, np.nan]), [*sky.factors, sky.factors.min()])
    assert sky.image_only_factor == pytest.approx(sky.factors.min())
    # A bin with too few typed rows takes the smallest fitted factor; rows typed other than
    # 3 or 6 do not count.
    sparse_type = np.where(r >= 21, 0, photo_type)
    sparse = sky_image_weight(p_sky, sparse_type, r, reference, edges=(20.0, 21.0), min_rows=50)
    assert sparse.bins[2]["n"] == 0 and "smallest fitted factor" in sparse.bins[2]["how"]
    assert sparse.factors[2] == pytest.approx(min(sparse.factors[:2]))
    # No bin with enough rows: the fallback.
    few = sky_image_weight(p_sky[:30], photo_type[:30], r[:30], reference, min_rows=50, fallback=0.25)
    np.testing.assert_allclose(few.factors, 0.25)
    assert all("sky_weight_fallback" in b["how"] for b in few.bins)
    with pytest.raises(ValueError, match="sky_weight_r_edges must increase"):
        sky_image_weight(p_sky, photo_type, r, reference, edges=(21.0, 20.0))


def _rows(table: pd.DataFrame, p_image: np.ndarray) -> pd.DataFrame:
    rows = table.assign(objid=np.arange(1, len(table) + 1), class_image="GALAXY")
    for k, c in enumerate(("p_galaxy_image", "p_star_image", "p_qso_image")):
        rows[c] = p_image[:, k].astype(np.float32)
    return rows


@pytest.fixture(scope="module")
def fusion_and_sky():
    rng = np.random.default_rng(5)
    val = photometry_training_table(seed=41, n_per_class=500)
    model = train_fusion(
        photometry_training_table(seed=40, n_per_class=3000), val, image_expert(class_indices(val["class"]), rng)
    )
    sky = photometry_training_table(seed=42, n_per_class=1500)
    return model, sky, rng


def test_a_fused_class_is_no_worse_than_the_photometry_when_the_image_model_fails_on_the_sky(fusion_and_sky):
    from yl8c4net.classify.catalog_classes import assign_classes

    model, sky, rng = fusion_and_sky
    truth = class_indices(sky["class"])
    faint = (sky["r"] >= 20).to_numpy()
    p_image = np.where(faint[:, None], star_calling_expert(truth, rng), image_expert(truth, rng))
    rows = _rows(sky, p_image)
    photo = rows.drop(columns=["class"])
    settings = {"prior_mode": "train", "em_min_rows": 200, "sky_priors": {"GALAXY": 0.6, "STAR": 0.3, "QSO": 0.1}}
    earned, _, info = assign_classes(rows, [], photo, model, {**settings, "image_weight": "sky"})
    trusted, _, _ = assign_classes(rows, [], photo, model, {**settings, "image_weight": "simulated"})
    phot_only = model.photometric_proba(photo).argmax(axis=1)

    def accuracy(called, sel):
        return (np.asarray(called)[sel] == truth[sel]).mean()

    earned_idx = class_indices(earned["class"].astype(str))
    trusted_idx = class_indices(trusted["class"].astype(str))
    # Trusting the simulated weight, the star-calling image model drags faint galaxies to STAR.
    assert accuracy(trusted_idx, faint) < accuracy(phot_only, faint) - 0.03
    # Earned on the sky, its weight there is ~0 and the fused class is the photometry's.
    assert accuracy(earned_idx, faint) >= accuracy(phot_only, faint) - 0.005
    bins = info["image_weight_on_sky"]["bins"]
    assert bins[0]["factor"] > 0.7 and bins[1]["factor"] < 0.05 and bins[2]["factor"] < 0.05
    # Where the model holds (r < 20) it keeps its vote.
    assert accuracy(earned_idx, ~faint) >= accuracy(phot_only, ~faint)


def test_a_fusion_model_without_a_simulated_scale_is_refused_with_the_setting_to_change(fusion_and_sky):
    from yl8c4net.classify.catalog_classes import assign_classes

    model, sky, rng = fusion_and_sky
    rows = _rows(sky.iloc[:300], image_expert(class_indices(sky["class"].iloc[:300]), rng))
    old = type(model)(model.colour, model.photometric, model.w_phot, model.w_image, model.image_temperature)
    settings = {"prior_mode": "train", "sky_priors": {"GALAXY": 0.6, "STAR": 0.3, "QSO": 0.1}, "image_weight": "sky"}
    with pytest.raises(ModelFileError, match="fusion.image_weight: simulated"):
        assign_classes(rows, [], rows.drop(columns=["class"]), old, settings)
    m, _, info = assign_classes(rows, [], rows.drop(columns=["class"]), old, {**settings, "image_weight": "simulated"})
    assert len(m) == 300 and info["image_weight_on_sky"].startswith("simulated")
