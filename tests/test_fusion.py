"""Colour-aware classification: simulated photometry, prior correction, calibration and the
fusion of the image and photometric classifiers."""

import numpy as np
import pandas as pd
import pytest

from conftest import SHARED_SPECPHOTO_CSV
from yl8c4net.classify.fusion import (
    COLOUR_FEATURES,
    PHOTOMETRIC_FEATURES,
    class_indices,
    load_fusion,
    photometric_features,
    save_fusion,
    train_fusion,
    train_photometric_classifier,
)
from yl8c4net.classify.probabilities import (
    estimate_priors_em,
    estimate_priors_em_by_magnitude,
    fit_temperature,
    log_probabilities,
    nll,
    reliability,
    shift_priors,
    softmax,
)
from yl8c4net.errors import ModelFileError
from yl8c4net.sdss.queries import SPEC_CLASSES
from yl8c4net.simulate.photometry import STAR_GALAXY_CUT_MAG, measure_photometry, photometry_training_table
from yl8c4net.simulate.render import field_conditions

QSO = SPEC_CLASSES.index("QSO")


@pytest.fixture(scope="module")
def photometric_model():
    table = photometry_training_table(seed=11, n_per_class=8000)
    return train_photometric_classifier(table, PHOTOMETRIC_FEATURES, seed=0)


def sky_mix(seed: int, n: int, shares: dict) -> pd.DataFrame:
    """Simulated measurements at a given class mix (drawn from a balanced table)."""
    pool = photometry_training_table(seed=seed, n_per_class=n)
    rng = np.random.default_rng(seed)
    parts = [pool[pool["class"] == c].iloc[rng.permutation(n)[: int(round(share * n))]] for c, share in shares.items()]
    return pd.concat(parts, ignore_index=True)


def test_measured_type_follows_the_noisy_concentration_not_the_truth():
    rng = np.random.default_rng(3)
    n = 4000
    r = np.repeat([17.0, 21.8], n // 2)
    truth = pd.DataFrame({b: r + off for b, off in zip("ugriz", (1.2, 0.4, 0.0, -0.2, -0.3))})
    point = truth.assign(hlr_arcsec=0.0)
    big = truth.assign(hlr_arcsec=3.0)
    conds = field_conditions(rng)
    stars = measure_photometry(point, conds, rng)
    galaxies = measure_photometry(big, conds, rng)
    bright, faint = r < 20, r > 20
    assert (stars["type"][bright] == 6).all() and (galaxies["type"][bright] == 3).all()
    # Noise types some faint point sources galaxies, exactly where the cut says so.
    assert 0 < (stars["type"][faint] == 3).mean() < 0.2
    assert ((stars["psfmag_r"] - stars["r"] > STAR_GALAXY_CUT_MAG) == (stars["type"] == 3)).all()
    # Errors grow with magnitude and describe the scatter they come with.
    # (bright: the 0.01 mag calibration floor; faint: ~0.05 mag at 21.8 in the default seeing)
    assert stars["err_r"][faint].median() > 4 * stars["err_r"][bright].median()
    pull = (stars["r"][faint] - 21.8) / stars["err_r"][faint]
    assert 0.8 < pull.std() < 1.25


def test_simulated_photometry_is_in_sdss_asinh_magnitudes_in_every_band():
    """PhotoObjAll reports luptitudes: finite for a source at zero flux, Pogson for bright
    ones; the PSF magnitudes of every band come with their errors."""
    from yl8c4net.sdss.magnitudes import asinh_mag, pogson_mag

    rng = np.random.default_rng(5)
    n = 3000
    r = np.repeat([17.0, 35.0], n // 2)  # bright point sources, and nothing at all
    truth = pd.DataFrame({b: r + off for b, off in zip("ugriz", (1.2, 0.4, 0.0, -0.2, -0.3))}).assign(hlr_arcsec=0.0)
    out = measure_photometry(truth, field_conditions(rng), rng)
    bright, empty = r < 20, r > 20
    for b in "ugriz":
        for mag, err in ((b, f"err_{b}"), (f"psfmag_{b}", f"psfmagerr_{b}")):
            assert np.isfinite(out[mag]).all() and np.isfinite(out[err]).all() and (out[err] > 0).all()
            # At zero flux: scattered about the band's zero-flux luptitude, never a placeholder.
            assert abs(out[mag][empty].median() - asinh_mag(0.0, b)) < 0.3
            assert out[mag][empty].nunique() > 100
        flux = 10 ** (-0.4 * (out[b][bright] - 22.5))
        np.testing.assert_allclose(out[b][bright], pogson_mag(flux), atol=2e-3)
        # A point source's PSF and model magnitudes agree within their errors.
        assert (out[f"psfmag_{b}"][bright] - out[b][bright]).abs().median() < 3 * out[f"err_{b}"][bright].median()
    # A source's errors stay finite where the flux is zero (about 1 mag or more in r, not 5).
    assert 0.3 < out["err_r"][empty].median() < 3


def test_adding_psf_magnitudes_left_the_other_draws_as_they_were():
    """The u, g, i, z PSF magnitudes draw from a spawned generator: the caller's stream (and
    with it every simulated image and model magnitude after them) is unchanged."""
    rng_a, rng_b = np.random.default_rng(9), np.random.default_rng(9)
    truth = pd.DataFrame({b: np.full(50, 20.0) for b in "ugriz"}).assign(hlr_arcsec=0.5)
    conds = field_conditions(rng_a)
    field_conditions(rng_b)
    measure_photometry(truth, conds, rng_a)
    for b in "ugriz":  # the draws the model magnitudes and the r PSF magnitude take
        rng_b.normal(size=50)
        if b == "r":
            rng_b.normal(size=50)
    assert rng_a.normal() == rng_b.normal()


def test_shift_priors_is_bayes_rule():
    p = np.array([[0.5, 0.25, 0.25], [0.2, 0.2, 0.6]])
    q = shift_priors(p, [1 / 3] * 3, [0.8, 0.19, 0.01])
    expected = p * [0.8, 0.19, 0.01]
    np.testing.assert_allclose(q, expected / expected.sum(axis=1, keepdims=True))
    np.testing.assert_allclose(shift_priors(q, [0.8, 0.19, 0.01], [1 / 3] * 3), p)


def test_balanced_classifier_predicts_one_percent_qso_on_a_one_percent_sky(photometric_model):
    mix = {"GALAXY": 0.72, "STAR": 0.27, "QSO": 0.01}
    sky = sky_mix(seed=12, n=10000, shares=mix)
    p = photometric_model.predict_proba(photometric_features(sky))
    raw_share = (p.argmax(axis=1) == QSO).mean()
    est = estimate_priors_em(p, [1 / 3] * 3)
    assert est.converged
    np.testing.assert_allclose(est.priors, [mix[c] for c in SPEC_CLASSES], atol=0.02)
    assert 0.005 < est.priors[QSO] < 0.02
    corrected_share = (est.posteriors.argmax(axis=1) == QSO).mean()
    true_share = (sky["class"] == "QSO").mean()
    # Balanced training calls too many sources QSO (about twice the sky's share); the
    # corrected answer does not.
    assert raw_share > 1.5 * true_share
    assert abs(corrected_share - true_share) < 0.005
    # Mean corrected probability of QSO equals the estimated prior (EM's fixed point).
    assert est.posteriors[:, QSO].mean() == pytest.approx(est.priors[QSO], rel=1e-3)


def test_magnitude_dependent_priors_follow_the_sky_and_beat_one_prior_per_run():
    """Quasars are rarer among bright sources than among faint ones: EM with priors that are
    a logistic function of r finds that trend from unlabelled rows."""
    rng = np.random.default_rng(21)
    n = 30000
    r = rng.uniform(16, 22.2, n)
    true_priors = softmax(np.column_stack([np.zeros(n), -0.4 * (r - 20), -4.5 + 0.8 * (r - 20)]))
    y = np.array([rng.choice(3, p=pi) for pi in true_priors])
    # A calibrated expert at equal priors whose likelihoods do not depend on r: features
    # x ~ N(2 e_y, 1), so p(y | x) = softmax(2 x).
    x = rng.normal(0, 1.0, (n, 3))
    x[np.arange(n), y] += 2.0
    p = softmax(2.0 * x)
    one = estimate_priors_em(p, [1 / 3] * 3)
    by_r = estimate_priors_em_by_magnitude(p, [1 / 3] * 3, r)
    assert by_r.converged
    for m in (17.0, 19.0, 21.0):
        expected = softmax(np.array([[0.0, -0.4 * (m - 20), -4.5 + 0.8 * (m - 20)]]))[0]
        np.testing.assert_allclose(by_r.priors_at(m)[0], expected, rtol=0.2, atol=0.003)
    np.testing.assert_allclose(by_r.row_priors.mean(axis=0), by_r.priors)
    # The fit runs on a 0.01-mag grid of r: each row's priors are those at its own r, to 1e-3.
    np.testing.assert_allclose(by_r.row_priors, by_r.priors_at(r), atol=1e-3)
    assert nll(log_probabilities(by_r.posteriors), y) < nll(log_probabilities(one.posteriors), y) - 0.01
    assert reliability(by_r.posteriors, y).ece < 0.02


def test_priors_by_magnitude_of_a_small_run_keep_the_bright_end_near_the_sky():
    """A run of a few hundred rows holds few bright ones: without a penalty on the slope, the
    fitted quasar prior at r = 17 (the sky's: ~4e-4) ran to 0.72 in one of these 40 runs and
    was 0.034 off on average."""
    errors = []
    for seed in range(40):
        rng = np.random.default_rng(seed)
        n = 200
        r = np.clip(rng.normal(21, 1.2, n), 14, 23)  # faint-heavy, as the sky's
        true_priors = softmax(np.column_stack([np.zeros(n), -0.4 * (r - 20), -4.5 + 0.8 * (r - 20)]))
        y = (rng.random(n)[:, None] > np.cumsum(true_priors, axis=1)).sum(axis=1)
        x = rng.normal(0, 1.0, (n, 3))
        x[np.arange(n), y] += 2.0
        est = estimate_priors_em_by_magnitude(softmax(2.0 * x), [1 / 3] * 3, r)
        truth = softmax(np.array([[0.0, 1.2, -6.9]]))[0, QSO]
        errors.append(abs(est.priors_at(17.0)[0, QSO] - truth))
    assert np.mean(errors) < 0.02 and np.max(errors) < 0.15, (np.mean(errors), np.max(errors))


def test_temperature_scaling_repairs_overconfident_probabilities():
    rng = np.random.default_rng(0)
    n = 40000  # ECE of a calibrated set is finite-sample noise: ~0.005 at this size
    logits = rng.normal(0, 1.5, (n, 3))
    calibrated = softmax(logits)
    # Labels drawn from the probabilities themselves: calibrated by construction.
    labels = (rng.random(n)[:, None] > np.cumsum(calibrated, axis=1)).sum(axis=1)
    over = softmax(logits * 3.0)  # the same ranking, three times too sharp
    assert reliability(calibrated, labels).ece < 0.015
    assert reliability(over, labels).ece > 0.1
    t = fit_temperature(log_probabilities(over), labels)
    assert t == pytest.approx(3.0, rel=0.1)
    assert reliability(softmax(log_probabilities(over) / t), labels).ece < 0.015


def test_reliability_table_counts_every_row():
    p = np.array([[0.95, 0.03, 0.02], [0.4, 0.35, 0.25], [0.1, 0.85, 0.05]])
    rel = reliability(p, np.array([0, 1, 1]), n_bins=10)
    assert rel.count.sum() == 3
    assert rel.accuracy[3] == 0.0 and rel.accuracy[8] == 1.0 and rel.accuracy[9] == 1.0
    assert rel.ece == pytest.approx((0.4 + 0.15 + 0.05) / 3)


def test_fusion_beats_both_experts_and_round_trips(tmp_path):
    photometry = photometry_training_table(seed=21, n_per_class=4000)
    val = photometry_training_table(seed=22, n_per_class=600)
    test = photometry_training_table(seed=23, n_per_class=1500)
    rng = np.random.default_rng(5)

    def image_expert(table):
        # A weak, independent image classifier: right class favoured by 1 logit.
        logits = rng.normal(0, 1, (len(table), 3))
        logits[np.arange(len(table)), class_indices(table["class"])] += 1.0
        return softmax(logits)

    model = train_fusion(photometry, val, image_expert(val), seed=0)
    assert model.w_phot > 0 and model.w_image > 0
    y = class_indices(test["class"])
    p_img = image_expert(test)
    acc = {
        "image": (p_img.argmax(1) == y).mean(),
        "photometric": (model.photometric_proba(test).argmax(1) == y).mean(),
        "fused": (model.fused_proba(test, p_img).argmax(1) == y).mean(),
    }
    assert acc["fused"] > acc["photometric"] > acc["image"]
    # With the image's vote cut (a run whose image model earns nothing on its sky), the
    # photometric part takes back its own weight: at 0 the fusion is that part, calibrated
    # (no single weight does much better on unseen rows), at 1 the fusion as fitted.
    log_phot = log_probabilities(model.photometric_proba(test))
    np.testing.assert_allclose(
        model.fused_proba(test, p_img, 0.0), softmax(model.photometric_weight_alone * log_phot), rtol=1e-12
    )
    best_alone = min(nll(w * log_phot, y) for w in np.linspace(0.5, 2.0, 61))
    assert nll(model.photometric_weight_alone * log_phot, y) < best_alone + 0.003
    np.testing.assert_array_equal(
        model.fused_proba(test, p_img, 1.0),
        softmax(model.w_phot * log_phot + model.w_image * log_probabilities(p_img)),
    )
    path = tmp_path / "fusion.joblib"
    save_fusion(model, path)
    np.testing.assert_array_equal(load_fusion(path).fused_proba(test, p_img), model.fused_proba(test, p_img))
    path.write_bytes(b"not a model")
    with pytest.raises(ModelFileError, match="fusion.joblib: not a fusion model"):
        load_fusion(path)


def test_cutting_the_image_weight_gives_the_photometry_back_its_own_weight():
    """An image model that repeats the photometry's colours and adds morphology takes most of
    the fused weight on the simulator (w_phot near 0). When a run's sky cuts the image's
    weight, the photometric weight must come back, or the fused answer flattens to the
    class priors."""
    photometry = photometry_training_table(seed=31, n_per_class=3000)
    val = photometry_training_table(seed=32, n_per_class=500)
    test = photometry_training_table(seed=33, n_per_class=1500)
    rng = np.random.default_rng(7)
    reference = train_fusion(photometry, val, softmax(rng.normal(0, 1, (len(val), 3))), seed=0)

    def colour_echoing_expert(table):
        logits = log_probabilities(reference.photometric_proba(table)) + rng.normal(0, 1.0, (len(table), 3))
        logits[np.arange(len(table)), class_indices(table["class"])] += 1.5
        return softmax(logits)

    model = train_fusion(photometry, val, colour_echoing_expert(val), seed=0)
    assert model.w_phot < 0.3 * model.photometric_weight_alone
    y = class_indices(test["class"])
    p_img = colour_echoing_expert(test)
    sky = np.array([0.8, 0.18, 0.02])
    weight = sky[y] / sky[y].sum()  # accuracy on a sky of these shares

    def sky_accuracy(p):
        return float(weight @ (shift_priors(p, model.train_priors, sky).argmax(axis=1) == y))

    photometric = sky_accuracy(model.photometric_proba(test))
    log_phot, log_img = log_probabilities(model.photometric_proba(test)), log_probabilities(p_img)
    for factor in (0.0, 0.1, 0.25):
        assert sky_accuracy(model.fused_proba(test, p_img, factor)) >= photometric - 0.005, factor
        # The weight fitted beside the full image, kept: the sky's priors take over.
        assert sky_accuracy(softmax(model.w_phot * log_phot + factor * model.w_image * log_img)) < photometric - 0.02


def test_features_treat_sdss_missing_codes_as_missing():
    table = pd.DataFrame(
        {"u": [-9999.0, 19.0], "g": [18.0, 18.5], "r": [17.5, 18.0], "i": [17.3, 99.0], "z": [17.2, 17.9]}
    )
    f = photometric_features(table, COLOUR_FEATURES)
    assert np.isnan(f[0, 0]) and np.isnan(f[1, 2]) and np.isnan(f[1, 3])
    assert f[1, 0] == pytest.approx(0.5)


@pytest.mark.skipif(
    not SHARED_SPECPHOTO_CSV.is_file(), reason=f"real SkyServer table not found at {SHARED_SPECPHOTO_CSV}"
)
def test_colour_part_trained_on_the_simulator_classifies_held_out_real_spectra():
    from yl8c4net.simulate.colours import read_specphoto_csv, specphoto_split

    real = read_specphoto_csv(SHARED_SPECPHOTO_CSV)
    test = real[specphoto_split(real) == "test"]
    assert len(test) > 2900 and (test["class"] == "QSO").sum() > 250
    colour = train_photometric_classifier(photometry_training_table(seed=0, n_per_class=20000), COLOUR_FEATURES)
    p = colour.predict_proba(photometric_features(test, COLOUR_FEATURES))
    y = class_indices(test["class"])
    # At the table's own priors, estimated by EM as the catalogue does for a run: the
    # simulated sky's stars are photometric ones, and SDSS targeted blue, quasar-like stars
    # for spectra, so at equal priors some of those are called QSO.
    est = estimate_priors_em(p, [1 / 3] * 3)
    pred = est.posteriors.argmax(axis=1)
    np.testing.assert_allclose(est.priors, np.bincount(y, minlength=3) / len(y), atol=0.03)
    assert (pred == y).mean() >= 0.95
    assert (pred[y == QSO] == QSO).mean() >= 0.85


def test_rendered_cutouts_are_deterministic_and_look_like_their_sources():
    from yl8c4net.simulate.cutout_set import render_cutout_set

    images, table = render_cutout_set(seed=4, n_per_class=40)
    again, table2 = render_cutout_set(seed=4, n_per_class=40)
    assert images.shape == (120, 48, 48, 3) and images.dtype == np.uint8
    np.testing.assert_array_equal(images, again)
    pd.testing.assert_frame_equal(table, table2)
    assert table["class"].value_counts().to_dict() == {"GALAXY": 40, "STAR": 40, "QSO": 40}
    assert table["n_neighbours"].mean() > 1  # a crowded sky, not isolated targets
    # The measured photometry belongs to the target: r within a few errors of the truth.
    assert (np.abs(table["r"] - table["r_true"]) < 5 * table["err_r"] + 0.05).mean() > 0.95
    # Brighter targets fill their cut-out with more light.
    centre = images[:, 20:28, 20:28, :].mean(axis=(1, 2, 3))
    bright, faint = table["r_true"] < 17, table["r_true"] > 20.5
    assert centre[bright.to_numpy()].mean() > 1.5 * centre[faint.to_numpy()].mean()


def _run_rows(sky: pd.DataFrame, p_image: np.ndarray) -> pd.DataFrame:
    rows = sky.assign(objid=np.arange(1, len(sky) + 1), class_image="GALAXY")
    for k, c in enumerate(("p_galaxy_image", "p_star_image", "p_qso_image")):
        rows[c] = p_image[:, k].astype(np.float32)
    return rows


@pytest.mark.parametrize("prior_mode", ["em", "em_r"])
def test_catalogue_classes_at_the_sky_mix(prior_mode):
    from yl8c4net.classify.catalog_classes import assign_classes

    rng = np.random.default_rng(9)

    def image_expert(table):
        logits = rng.normal(0, 1, (len(table), 3))
        logits[np.arange(len(table)), class_indices(table["class"])] += 1.0
        return softmax(logits)

    val = photometry_training_table(seed=31, n_per_class=400)
    model = train_fusion(photometry_training_table(seed=30, n_per_class=4000), val, image_expert(val))
    sky = sky_mix(seed=32, n=6000, shares={"GALAXY": 0.72, "STAR": 0.27, "QSO": 0.01})
    sky = sky.sample(frac=1.0, random_state=0).reset_index(drop=True)
    rows = _run_rows(sky, image_expert(sky))
    photo = rows.drop(columns=["class"])
    matched, unmatched = rows.iloc[:5000].reset_index(drop=True), rows.iloc[5000:].reset_index(drop=True)
    settings = {"prior_mode": prior_mode, "em_min_rows": 200, "sky_priors": {"GALAXY": 0.6, "STAR": 0.3, "QSO": 0.1}}
    m, (u,), info = assign_classes(matched, [unmatched], photo, model, settings)
    assert info["class_priors_from"].startswith(f"{prior_mode} (")
    if prior_mode == "em_r":
        # This mix has the same classes at every r: the priors found do not move with r.
        at_r = info["class_priors_at_r"]
        assert set(at_r) == {"16", "18", "20", "22"}
        assert all(v["QSO"] == pytest.approx(0.01, abs=0.008) for v in at_r.values())
    assert info["class_priors"]["QSO"] == pytest.approx(0.01, abs=0.008)
    truth = matched["class"].astype(str).to_numpy()
    called = m["class"].astype(str).to_numpy()
    assert abs((called == "QSO").mean() - (truth == "QSO").mean()) < 0.006
    assert (called == truth).mean() > 0.9
    np.testing.assert_allclose(m[["p_galaxy", "p_star", "p_qso"]].sum(axis=1), 1.0, atol=1e-5)
    assert not m["class_image_only"].any() and u["class_image_only"].all()
    # The paper's image answer is kept untouched beside the fused one.
    np.testing.assert_array_equal(m["p_qso_image"], matched["p_qso_image"])
    # Unmatched rows: the image answer at the run's smallest earned weight, moved to the
    # same priors as the run.
    image_only_factor = min(b["factor"] for b in info["image_weight_on_sky"]["bins"])
    expected = shift_priors(
        model.image_proba(
            unmatched[["p_galaxy_image", "p_star_image", "p_qso_image"]].to_numpy(float), image_only_factor
        ),
        [1 / 3] * 3,
        [info["class_priors"][c] for c in SPEC_CLASSES],
    )
    np.testing.assert_allclose(u[["p_galaxy", "p_star", "p_qso"]].to_numpy(), expected, atol=1e-5)
    # Too few rows for EM: the configured sky priors.
    _, _, few = assign_classes(matched.iloc[:50], [unmatched], photo, model, settings)
    assert few["class_priors"] == {"GALAXY": 0.6, "STAR": 0.3, "QSO": 0.1}
    # No fusion model: the image answer, flagged, at equal priors.
    m0, _, _ = assign_classes(matched, [unmatched], photo, None, settings)
    assert m0["class_image_only"].all()
    np.testing.assert_array_equal(m0["p_star"], matched["p_star_image"])


def test_em_r_gives_rows_without_photometry_the_priors_at_their_own_r():
    from yl8c4net.classify.catalog_classes import assign_classes

    rng = np.random.default_rng(4)
    val = photometry_training_table(seed=41, n_per_class=300)
    p_val = softmax(rng.normal(0, 1, (len(val), 3)))
    model = train_fusion(photometry_training_table(seed=40, n_per_class=3000), val, p_val)
    # Stars are most of the bright sources, galaxies of the faint ones.
    bright = sky_mix(seed=42, n=6000, shares={"GALAXY": 0.3, "STAR": 0.7})
    faint = sky_mix(seed=43, n=6000, shares={"GALAXY": 0.85, "STAR": 0.15})
    sky = pd.concat([bright[bright["r"] < 19], faint[faint["r"] > 20.5]], ignore_index=True)
    rows = _run_rows(sky, softmax(rng.normal(0, 1, (len(sky), 3))))
    photo = rows.drop(columns=["class"])
    unmatched = rows.iloc[:3].assign(mag_r=[16.0, 22.0, np.nan])
    settings = {"prior_mode": "em_r", "em_min_rows": 200, "sky_priors": {"GALAXY": 0.6, "STAR": 0.3, "QSO": 0.1}}
    m, (u,), info = assign_classes(rows, [unmatched], photo, model, settings)
    at_16, at_22 = info["class_priors_at_r"]["16"], info["class_priors_at_r"]["22"]
    assert at_16["STAR"] > 0.5 > at_22["STAR"]
    factor = min(b["factor"] for b in info["image_weight_on_sky"]["bins"])
    p_image = model.image_proba(unmatched[["p_galaxy_image", "p_star_image", "p_qso_image"]].to_numpy(float), factor)
    for k, priors in enumerate((at_16, at_22, info["class_priors"])):  # NaN r: the run's mean
        expected = shift_priors(p_image[k : k + 1], [1 / 3] * 3, [priors[c] for c in SPEC_CLASSES])
        np.testing.assert_allclose(u[["p_galaxy", "p_star", "p_qso"]].to_numpy()[k : k + 1], expected, atol=1e-4)


def test_class_scores_count_every_matched_row_and_those_within_the_survey_depth():
    from yl8c4net.catalog.quality import class_scores

    truth = pd.DataFrame(
        {
            "objid": [1, 2, 3, 4, 5, -1],
            "mode": [1, 1, 1, 1, 2, 1],
            "class": ["QSO", "QSO", "STAR", "QSO", "GALAXY", "STAR"],
            "r": [18.0, 21.0, 22.0, 22.9, 20.0, 19.0],
        }
    )
    catalog = pd.DataFrame(
        {
            "objid": [1, 2, 3, 4, 5, 9],
            "class": ["QSO", "STAR", "STAR", "STAR", "GALAXY", "QSO"],
            "p_galaxy": [0.0, 0.1, 0.1, 0.2, 0.9, 0.0],
            "p_star": [0.1, 0.8, 0.8, 0.7, 0.1, 0.1],
            "p_qso": [0.9, 0.1, 0.1, 0.1, 0.0, 0.9],
        }
    )
    s = class_scores(catalog, truth)
    # objID 5 is a secondary (mode 2) and 9 is no truth source: three of four QSO-or-star rows scored.
    assert s["n"] == 4 and s["accuracy"] == pytest.approx(0.5)
    assert s["QSO"]["n_true"] == 3 and s["QSO"]["recall"] == pytest.approx(1 / 3) and s["QSO"]["purity"] == 1.0
    within = s["within_r_limit"]
    assert within["n"] == 3 and within["accuracy"] == pytest.approx(2 / 3)
    assert within["QSO"]["n_true"] == 2 and within["QSO"]["recall"] == pytest.approx(0.5)
    assert s["accuracy_r_lt_19"] == 1.0 and s["n_r_lt_19"] == 1
