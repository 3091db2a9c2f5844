"""QSO purity at the sky's class mix, estimated from a balanced split
(`yl8c4net.classify.sky_mix`), against the purity measured on a sample drawn at that mix."""

import numpy as np
import pytest

from yl8c4net.classify.sky_mix import (
    class_density_in_r,
    decision_shares,
    plot_purity_completeness,
    purity_completeness_by_r,
    qso_cuts,
)
from yl8c4net.simulate.population import PopulationParams
from yl8c4net.simulate.colours import CLASSES

QSO = CLASSES.index("QSO")
EDGES = (16.0, 19.0, 21.0, 22.2)


def densities(lo, hi):
    d = class_density_in_r(PopulationParams(), lo, hi)
    return [d[c] for c in CLASSES]


def noisy_classifier(rng, y, r):
    """Probabilities at equal priors from a model that tells galaxies well and stars from
    quasars by one score whose separation shrinks with r (colours blur at the faint end)."""
    star, qso, galaxy = CLASSES.index("STAR"), QSO, CLASSES.index("GALAXY")
    # One star in a hundred has a quasar's colours: the confusion that sets purity on the sky.
    quasar_like = (y == qso) | ((y == star) & (rng.random(len(y)) < 0.01))
    separation = 14.0 - 1.2 * (r - 16.0)
    score = rng.normal(0.0, 1.0, len(y)) + np.where(quasar_like, 0.5, -0.5) * separation
    logits = np.zeros((len(y), len(CLASSES)))
    logits[:, qso], logits[:, star] = score / 2, -score / 2
    logits[:, galaxy] = np.where(y == galaxy, 6.0, -6.0) + rng.normal(0.0, 1.0, len(y))
    p = np.exp(logits)
    return p / p.sum(axis=1, keepdims=True)


def test_population_densities_add_up_to_the_configured_ones():
    params = PopulationParams()
    total = class_density_in_r(params, 0.0, 22.2)
    for c in CLASSES:
        counts = params.counts[c]
        assert total[c] == pytest.approx(counts.density_deg2 + counts.bright_density_deg2, rel=1e-9)
    parts = [class_density_in_r(params, lo, hi) for lo, hi in ((0, 17), (17, 20.5), (20.5, 22.2))]
    assert sum(p["QSO"] for p in parts) == pytest.approx(total["QSO"])
    # Quasars climb from ~0.2 % of the sources at r 16-18 to over 1 % at r 21.6-22.2.
    bright, faint = class_density_in_r(params, 16, 18), class_density_in_r(params, 21.6, 22.2)
    assert bright["QSO"] / sum(bright.values()) < 0.003 < 0.01 < faint["QSO"] / sum(faint.values())


def balanced_split(rng, edges=EDGES, per_bin=1500):
    """A balanced split: ``per_bin`` rows of each class per bin, r uniform inside the bin."""
    y_bal, r_bal = [], []
    for lo, hi in zip(edges[:-1], edges[1:]):
        for k in range(len(CLASSES)):
            y_bal.append(np.full(per_bin, k))
            r_bal.append(rng.uniform(lo, hi, per_bin))
    y_bal, r_bal = np.concatenate(y_bal), np.concatenate(r_bal)
    return y_bal, r_bal, noisy_classifier(rng, y_bal, r_bal)


def test_balanced_split_reweighted_gives_the_purity_of_the_sky_mix():
    rng = np.random.default_rng(5)
    y_bal, r_bal, p_bal = balanced_split(rng)
    got = purity_completeness_by_r(y_bal, p_bal, r_bal, QSO, densities, np.full(3, 1 / 3), EDGES, (21.0, 22.2))

    # The same model on a large sample drawn at the sky's mix, each row's probabilities moved
    # to its bin's shares, as the catalogue does.
    for b in got["bins"]:
        d = np.asarray(densities(b["r_lo"], b["r_hi"]))
        n = rng.multinomial(400_000, d / d.sum())
        y_sky = np.repeat(np.arange(3), n)
        r_sky = rng.uniform(b["r_lo"], b["r_hi"], len(y_sky))
        p_sky = noisy_classifier(rng, y_sky, r_sky) * (d / d.sum())
        called = p_sky.argmax(axis=1) == QSO
        truth = y_sky == QSO
        purity, completeness = (called & truth).sum() / called.sum(), (called & truth).sum() / truth.sum()
        assert b["purity_low"] <= purity <= b["purity_high"]
        assert b["purity"] == pytest.approx(purity, abs=0.05)
        assert b["completeness_low"] <= completeness <= b["completeness_high"]
        # The balanced split's own purity is far above the sky's: the reason to reweight.
        in_bin = (r_bal >= b["r_lo"]) & (r_bal < b["r_hi"])
        naive_called = p_bal[in_bin].argmax(axis=1) == QSO
        naive = (naive_called & (y_bal[in_bin] == QSO)).sum() / naive_called.sum()
        assert naive > purity + 0.05
    below = got["below"]
    assert below["21"]["n_true"] == 3000 and below["22.2"]["n_true"] == 4500
    bins = got["bins"]
    assert (
        min(bins[0]["purity"], bins[1]["purity"]) <= below["21"]["purity"] <= max(bins[0]["purity"], bins[1]["purity"])
    )


@pytest.mark.parametrize("decision", ["bin", "run"])
def test_a_cut_on_p_qso_at_the_sky_mix_matches_a_sample_drawn_at_that_mix(decision):
    rng = np.random.default_rng(11)
    y_bal, r_bal, p_bal = balanced_split(rng)
    # "run": every row's probabilities moved to the shares over all r, as a catalogue with one
    # set of priors per run has them; "bin": to its own bin's.
    whole = np.asarray(densities(EDGES[0], EDGES[-1]))
    shares = whole / whole.sum() if decision == "run" else None
    got = purity_completeness_by_r(
        y_bal, p_bal, r_bal, QSO, densities, np.full(3, 1 / 3), EDGES, (22.2,), threshold=0.1, decision_shares=shares
    )
    argmax = purity_completeness_by_r(
        y_bal, p_bal, r_bal, QSO, densities, np.full(3, 1 / 3), EDGES, (22.2,), decision_shares=shares
    )
    for b, b_argmax in zip(got["bins"], argmax["bins"]):
        d = np.asarray(densities(b["r_lo"], b["r_hi"]))
        n = rng.multinomial(400_000, d / d.sum())
        y_sky = np.repeat(np.arange(3), n)
        p_sky = noisy_classifier(rng, y_sky, rng.uniform(b["r_lo"], b["r_hi"], len(y_sky)))
        p_sky *= d / d.sum() if shares is None else shares
        p_sky /= p_sky.sum(axis=1, keepdims=True)
        called, truth = p_sky[:, QSO] >= 0.1, y_sky == QSO
        purity, completeness = (called & truth).sum() / called.sum(), (called & truth).sum() / truth.sum()
        assert b["purity_low"] <= purity <= b["purity_high"]
        assert b["completeness"] == pytest.approx(completeness, abs=0.02)
        # A cut below 1/2 takes every row whose most probable class is QSO, and more.
        assert b["completeness"] >= b_argmax["completeness"]
    assert got["below"]["22.2"]["completeness"] > argmax["below"]["22.2"]["completeness"]


def test_one_set_of_priors_for_all_r_calls_more_bright_stars_quasars():
    rng = np.random.default_rng(2)
    y, r, p = balanced_split(rng)
    by_bin = purity_completeness_by_r(y, p, r, QSO, densities, np.full(3, 1 / 3), EDGES, (22.2,))
    whole = np.asarray(densities(EDGES[0], EDGES[-1]))
    by_run = purity_completeness_by_r(
        y, p, r, QSO, densities, np.full(3, 1 / 3), EDGES, (22.2,), decision_shares=whole / whole.sum()
    )
    # At r 16-19 quasars are rarer than over all r: the run's priors favour them there, and
    # the bin's priors are the Bayes decision for the sky's mix in the bin.
    bright_bin, bright_run = by_bin["bins"][0], by_run["bins"][0]
    assert bright_run["completeness"] > bright_bin["completeness"]
    assert bright_run["purity"] < bright_bin["purity"]


def calibrated_classifier(rng, y):
    """Exact posteriors at equal priors of a one-number score drawn from N(mean of the class, 1):
    the QSO probability grows with the score, so a higher cut keeps a purer set."""
    means = np.zeros(len(CLASSES))
    means[CLASSES.index("GALAXY")], means[QSO] = -4.0, 3.0
    score = rng.normal(means[y], 1.0)
    log_like = -0.5 * (score[:, None] - means[None, :]) ** 2
    p = np.exp(log_like - log_like.max(axis=1, keepdims=True))
    return p / p.sum(axis=1, keepdims=True)


def test_qso_cuts_trade_completeness_for_purity_as_the_cut_rises():
    rng = np.random.default_rng(3)
    y, r, _ = balanced_split(rng, edges=(16.0, 18.0, 19.0, 20.0, 21.0, 21.6, 22.2), per_bin=600)
    p = calibrated_classifier(rng, y)
    cuts = ("0.05", "0.1", "0.3", "0.9")
    table = qso_cuts(p, y, r, np.full(3, 1 / 3), cuts=[float(c) for c in cuts])
    assert list(table) == ["argmax", *cuts]
    for limit, n_true in (("19", 1200), ("21", 2400), ("22.2", 3600)):
        completeness = [table[c][limit]["completeness"] for c in cuts]
        purity = [table[c][limit]["purity"] for c in cuts]
        assert completeness == sorted(completeness, reverse=True) and completeness[0] > completeness[-1] + 0.3
        assert purity == sorted(purity) and purity[0] < purity[-1] - 0.3
        # Calibrated probabilities: the rows at or above a cut are at least that pure.
        for c, value in zip(cuts, purity):
            assert value > float(c) - 0.05
        assert table["argmax"][limit]["n_true"] == n_true


def test_decision_shares_follow_the_catalogues_prior_mode():
    from yl8c4net.sdss.queries import SPEC_CLASSES

    assert decision_shares("em_r") is None  # each bin's own
    em = decision_shares("em")
    whole = class_density_in_r(PopulationParams(), 16.0, 22.2)
    assert em == pytest.approx([whole[c] / sum(whole.values()) for c in SPEC_CLASSES])
    assert em[SPEC_CLASSES.index("QSO")] == pytest.approx(0.0101, abs=5e-4)
    fixed = decision_shares("fixed", {"GALAXY": 7.2, "STAR": 2.7, "QSO": 0.1})
    assert fixed == pytest.approx([0.72, 0.27, 0.01])
    assert decision_shares("train") == pytest.approx([1 / 3] * 3)
    with pytest.raises(ValueError, match="prior_mode 'emr'"):
        decision_shares("emr")


def test_a_bin_without_a_class_it_needs_says_nothing(tmp_path):
    rng = np.random.default_rng(1)
    y = np.array([0] * 50 + [1] * 50 + [2] * 50)
    r = np.concatenate([rng.uniform(16, 19, 100), rng.uniform(19, 21, 50)])  # no QSO at r 16-19
    p = noisy_classifier(rng, y, r)
    got = purity_completeness_by_r(y, p, r, QSO, densities, np.full(3, 1 / 3), (16.0, 19.0, 21.0), (21.0,))
    first, second = got["bins"]
    assert first["completeness"] is None and first["purity"] is None and first["n"] == [50, 50, 0]
    # r 19-21 has QSOs but no galaxies or stars: nothing can say how many of them are called QSO.
    assert second["completeness"] is not None and second["purity"] is None
    assert got["below"]["21"]["purity"] is None and got["below"]["21"]["completeness"] is None
    out = plot_purity_completeness({"fused": got}, tmp_path / "qso.png", n_label=" (n = 150)")
    assert out.stat().st_size > 5_000


def test_benchmark_scores_the_shipped_models_on_fresh_cutouts(tmp_path):
    import itertools
    import json
    import sys
    from pathlib import Path

    bench = Path(__file__).resolve().parents[1] / "benchmarks"
    if str(bench) not in sys.path:
        sys.path.insert(0, str(bench))
    import qso_curve

    result = qso_curve.main(
        ["--per-class", "30", "--out", str(tmp_path / "q.json"), "--figure", str(tmp_path / "q.png")]
    )
    record = json.loads((tmp_path / "q.json").read_text())
    assert record["results"]["n"] == 90 and record["results"]["n_qso"] == 30
    for answer in qso_curve.ANSWERS:
        curve = result["curves"][answer]
        # Every rendered quasar (r 16-22.2) falls in one bin, and the cumulative counts add up.
        assert sum(b["n"][QSO] for b in curve["bins"]) == 30 == curve["below"]["22.2"]["n_true"]
        for b in curve["bins"]:
            for key in ("completeness", "purity"):
                if b[key] is not None:
                    assert b[f"{key}_low"] <= b[key] <= b[f"{key}_high"]
    # The shipped photometric part finds most quasars (0.78 of a simulated survey's at r < 22.2).
    assert result["curves"]["photometric"]["below"]["22.2"]["completeness"] > 0.5
    assert (tmp_path / "q.png").stat().st_size > 5_000
    # The cuts: a looser one selects every quasar a stricter one does, and more.
    for priors, answer in itertools.product(("run", "bin"), ("fused", "photometric")):
        cuts = record["results"]["cuts"][priors][answer]
        assert list(cuts) == ["argmax", "0.1", "0.2", "0.3", "0.5", "0.7"]
        completeness = [cuts[c]["22.2"]["completeness"] for c in list(cuts)[1:]]
        assert completeness == sorted(completeness, reverse=True)


def test_benchmark_names_a_bad_model_file_in_one_line_before_rendering(tmp_path, capsys):
    import sys
    from pathlib import Path

    bench = Path(__file__).resolve().parents[1] / "benchmarks"
    if str(bench) not in sys.path:
        sys.path.insert(0, str(bench))
    import qso_curve

    bad = tmp_path / "fusion.joblib"
    bad.write_bytes(b"not a model")
    with pytest.raises(SystemExit) as stop:
        qso_curve.main(["--fusion", str(bad), "--out", str(tmp_path / "q.json")])
    assert stop.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"qso_curve.py: {bad}: not a fusion model written by train_fusion")
    assert not (tmp_path / "q.json").exists()


def test_benchmark_names_a_bad_cut_in_one_line(tmp_path, capsys):
    import sys
    from pathlib import Path

    bench = Path(__file__).resolve().parents[1] / "benchmarks"
    if str(bench) not in sys.path:
        sys.path.insert(0, str(bench))
    import qso_curve

    with pytest.raises(SystemExit) as stop:
        qso_curve.main(["--cuts", "0.2", "1.5", "--out", str(tmp_path / "q.json")])
    assert stop.value.code == 2
    err = [line for line in capsys.readouterr().err.strip().splitlines() if "error" in line]
    assert len(err) == 1 and "--cuts 0.2 1.5: each between 0 and 1" in err[0]
    assert not (tmp_path / "q.json").exists()
