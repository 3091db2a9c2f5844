"""How well single-epoch SDSS photometry can separate quasars from stars at the sky's mix
(target: QSO purity and completeness >= 0.80), measured where the truth is
known: simulated PhotoObjAll rows of `classification_quality.sky_mix_table` (real-sky
densities, r <= 22.2).

Every answer here is given more than the catalogue has, so each is an upper bound:

- the true class shares of the rows as priors (the catalogue estimates them by EM);
- the best threshold on p_qso, chosen with the truth (the break-even min(purity,
  completeness));
- the photometric part trained on 20,000 rows per class (the shipped setting) and on
  100,000;
- on the stars and quasars alone, an "XD" likelihood: each class's colour mixture (the very
  one the simulator draws from, `yl8c4net.simulate.colours`) convolved with the row's own
  colour errors, as XDQSO does (Bovy et al. 2011, there in fluxes). It knows the simulator's
  colour distributions exactly; what it lacks is information the photometry does not carry.

Two observing conditions: the simulator's range (seeing 0.9-2.0", sky 0.65-1.3 x typical)
and the best of it (seeing 1.0", dark sky, as on 4510/4/30).

    python benchmarks/qso_ceiling.py [--cells 800]

Prints a table; writes benchmarks/out/qso_ceiling.json. ~3 min on 2 cores.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from classification_quality import sky_mix_table  # noqa: E402

from yl8c4net.catalog.quality import recall_purity  # noqa: E402
from yl8c4net.classify.fusion import PHOTOMETRIC_FEATURES, class_indices, photometric_features  # noqa: E402
from yl8c4net.classify.fusion import train_photometric_classifier  # noqa: E402
from yl8c4net.classify.probabilities import shift_priors  # noqa: E402
from yl8c4net.sdss.queries import SPEC_CLASSES  # noqa: E402
from yl8c4net.simulate.colours import load_colour_model  # noqa: E402
from yl8c4net.simulate.photometry import photometry_training_table  # noqa: E402
from record import write_record

QSO, STAR = SPEC_CLASSES.index("QSO"), SPEC_CLASSES.index("STAR")
CONDITIONS = {
    "simulator's range": {},
    'best (seeing 1.0", dark sky)': {"fwhm_range": (1.0, 1.0), "sky_scale_range": (0.72, 0.72)},
}
R_RANGES = ((14.0, 22.2), (14.0, 21.0), (21.0, 22.2))


def xd_log_likelihoods(table, colour_model, classes=("STAR", "QSO")) -> np.ndarray:
    """log p(observed u-g, g-r, r-i, i-z | class) for each row and class: the class's colour
    mixture convolved with the row's colour error covariance (from its err_u ... err_z;
    neighbouring colours share a band, hence the off-diagonal terms)."""
    mags = table[list("ugriz")].to_numpy(float)
    var = table[[f"err_{b}" for b in "ugriz"]].to_numpy(float) ** 2
    colours = mags[:, :4] - mags[:, 1:]
    cov = np.zeros((len(table), 4, 4))
    for i in range(4):
        cov[:, i, i] = var[:, i] + var[:, i + 1]
        if i < 3:
            cov[:, i, i + 1] = cov[:, i + 1, i] = -var[:, i + 1]
    out = []
    for cls in classes:
        model = colour_model[cls]
        total = np.full(len(table), -np.inf)
        for w, mean, covariance in zip(model.weights, model.means, model.covariances):
            t = covariance[None] + cov
            d = colours - mean
            maha = np.einsum("ni,nij,nj->n", d, np.linalg.inv(t), d)
            logdet = np.linalg.slogdet(t)[1]
            total = np.logaddexp(total, np.log(w) - 0.5 * (maha + logdet + 4 * np.log(2 * np.pi)))
        out.append(total)
    return np.column_stack(out)


def break_even(score: np.ndarray, is_qso: np.ndarray) -> dict:
    """The threshold on ``score`` that maximises min(purity, completeness) of the rows above
    it, and those two (an oracle's choice: it looks at the truth)."""
    best = {"min": -1.0}
    for t in np.unique(np.quantile(score, np.linspace(0.80, 0.9995, 400))):
        called = score >= t
        hits = int((called & is_qso).sum())
        purity, completeness = hits / max(int(called.sum()), 1), hits / max(int(is_qso.sum()), 1)
        if min(purity, completeness) > best["min"]:
            best = {"min": min(purity, completeness), "purity": purity, "completeness": completeness}
    return best


def scores_by_r(score, y, r_true, pred=None) -> dict:
    out = {}
    for lo, hi in R_RANGES:
        sel = (r_true >= lo) & (r_true < hi)
        row = {"break_even": break_even(score[sel], y[sel] == QSO)}
        if pred is not None:
            row["argmax"] = recall_purity(y[sel], pred[sel], QSO)
        out[f"{lo:g}-{hi:g}"] = row
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cells", type=int, default=800, help="sky cells of 0.05 deg square (~38 rows each)")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "out" / "qso_ceiling.json")
    args = ap.parse_args()
    colour_model = load_colour_model()
    report = {"cells": args.cells, "conditions": {}}
    lines = [
        "| conditions | answer (true priors) | QSO P / C, most probable class | break-even P = C: r < 22.2 / < 21 / 21-22.2 |",
        "|---|---|---|---|",
    ]
    for name, cond in CONDITIONS.items():
        sky = sky_mix_table(args.cells, **cond)
        y, r_true = class_indices(sky["class"]), sky["r_true"].to_numpy(float)
        shares = np.bincount(y, minlength=len(SPEC_CLASSES)) / len(y)
        res = {"n": int(len(sky)), "n_qso": int((y == QSO).sum()), "n_star": int((y == STAR).sum()), "answers": {}}
        answers = {}
        point = (y == STAR) | (y == QSO)
        for per_class in (20000, 100000):
            fwhm = cond.get("fwhm_range", (0.9, 2.0))
            train = photometry_training_table(0, per_class, fwhm_range=fwhm)
            clf = train_photometric_classifier(train, PHOTOMETRIC_FEATURES, seed=0)
            post = shift_priors(clf.predict_proba(photometric_features(sky)), np.full(3, 1 / 3), shares)
            answers[f"photometric part, {per_class:,} per class: all rows"] = (post[:, QSO], y, r_true, post.argmax(1))
            ratio = np.log(post[point, QSO] + 1e-300) - np.log(post[point, STAR] + 1e-300)
            answers[f"photometric part, {per_class:,} per class: stars and QSOs only"] = (
                ratio,
                y[point],
                r_true[point],
                None,
            )
        loglike = xd_log_likelihoods(sky[point], colour_model)
        answers["XD colour likelihood (the simulator's own colour model): stars and QSOs only"] = (
            loglike[:, 1] - loglike[:, 0],
            y[point],
            r_true[point],
            None,
        )
        for label, (score, yy, rr, pred) in answers.items():
            row = scores_by_r(score, yy, rr, pred)
            res["answers"][label] = row
            full = row["14-22.2"]
            arg = full.get("argmax")
            arg_txt = f"{arg['purity']:.2f} / {arg['recall']:.2f}" if arg else "-"
            be = " / ".join(f"{row[k]['break_even']['min']:.2f}" for k in ("14-22.2", "14-21", "21-22.2"))
            lines.append(f"| {name} | {label} | {arg_txt} | {be} |")
        report["conditions"][name] = res
        print(f"{name}: {len(sky):,} rows, {res['n_qso']} QSOs, {res['n_star']:,} stars", flush=True)
    print("\n".join(lines))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_record(args.out, report)
    print(f"written {args.out}")


if __name__ == "__main__":
    main()
