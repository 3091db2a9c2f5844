"""Quasar purity and completeness against r, at the sky's class mix, of the shipped (or any)
classifier and fusion, on freshly rendered cut-outs the models never saw.

The cut-outs are rendered as the shipped models' training set was (the config's stretch,
box table, seeing and galaxy population), with r uniform in 16-22.2 for every class, from a
seed no workflow uses. Each answer (Conv4Net alone, temperature-scaled; the photometric part;
the fusion, with the image weight it was fitted with) is scored per r bin at the sky's class
shares by `yl8c4net.classify.sky_mix.purity_completeness_by_r`, and over r < 21 and
r < 22.2. Then the fused and photometric answers' QSO probability, moved to the sky's
shares, is cut at each of ``--cuts`` (`yl8c4net.classify.sky_mix.qso_cuts`): what a
catalogue user selecting ``p_qso >= cut`` gets, below r = 19, 21 and 22.2, with the
probabilities at each r bin's priors (``bin``: ``fusion.prior_mode: em_r``, the default) and
at one set of priors for all r (``run``: ``em``).

    python benchmarks/qso_curve.py [--per-class 1500] [--cuts 0.1 0.2 ...] [--figure PATH]

Prints the table; writes benchmarks/out/qso_curve.json.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from record import write_record  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
MODELS = REPO / "src/yl8c4net/models"
ANSWERS = ("image", "photometric", "fused")


def _interval(q: dict, key: str) -> str:
    if q[key] is None:
        return "-"
    return f"{q[key]:.3f} [{q[f'{key}_low']:.2f}, {q[f'{key}_high']:.2f}]"


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--classifier", type=Path, default=MODELS / "classifier.pt")
    ap.add_argument("--fusion", type=Path, default=MODELS / "fusion.joblib")
    ap.add_argument(
        "--configfile",
        type=Path,
        nargs="+",
        default=[REPO / "config.yaml", REPO / "benchmarks/configs/shipped-classes.yaml"],
        help="the config the models were trained with (rendering conditions), merged in order",
    )
    ap.add_argument("--per-class", type=int, default=1500, help="cut-outs per class (r uniform in 16-22.2)")
    ap.add_argument("--seed", type=int, default=20261205, help="seed of the cut-outs (no workflow's)")
    ap.add_argument("--figure", type=Path, help="also draw the curves here (PNG)")
    ap.add_argument(
        "--cuts", type=float, nargs="+", default=None, help="cuts on p_qso to score (default: sky_mix.QSO_CUTS)"
    )
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks/out/qso_curve.json")
    args = ap.parse_args(argv)
    if args.per_class < 10:
        ap.error(f"--per-class {args.per_class}: at least 10")
    if args.cuts is not None and not all(0.0 < c < 1.0 for c in args.cuts):
        ap.error(f"--cuts {' '.join(f'{c:g}' for c in args.cuts)}: each between 0 and 1")

    from yl8c4net.classify.fusion import class_indices, load_fusion
    from yl8c4net.classify.sky_mix import QSO_CUTS, decision_shares, plot_purity_completeness, qso_curves, qso_cuts
    from yl8c4net.classify.train import load_classifier, predict_proba
    from yl8c4net.config import load_config, lupton_stretch, simulated_galaxy_population, simulated_seeing_range
    from yl8c4net.errors import YL8C4NetError
    from yl8c4net.images.labels import BoxTable
    from yl8c4net.sdss.queries import SPEC_CLASSES
    from yl8c4net.images.seeing import crop_settings
    from yl8c4net.simulate.cutout_set import render_cutout_set

    # The renderer reports its progress through logging (every 2,000 cut-outs).
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    # Models and config are checked before ten minutes of rendering, with one line each.
    try:
        cfg = load_config(args.configfile)
        model, norm, meta = load_classifier(args.classifier, SPEC_CLASSES, 3, "cpu")
        fusion = load_fusion(args.fusion)
    except YL8C4NetError as exc:
        ap.exit(2, f"qso_curve.py: {exc}\n")
    started = time.perf_counter()
    images, table = render_cutout_set(
        args.seed,
        args.per_class,
        faint_fraction=1.0,
        faint_range=(16.0, 22.2),
        stretch=lupton_stretch(cfg),
        box_table=BoxTable.from_config(cfg["training_data"]["box_table"]),
        fwhm_range=simulated_seeing_range(cfg),
        jpeg_quality=90 if cfg["training_data"]["use_official_jpeg"] else None,
        params=simulated_galaxy_population(cfg),
        seeing_reference_arcsec=crop_settings(meta),
    )
    rendered_s = time.perf_counter() - started
    p_image = predict_proba(model, norm, images)
    answers = {
        "image": fusion.image_proba(p_image),
        "photometric": fusion.photometric_proba(table),
        "fused": fusion.fused_proba(table, p_image),
    }
    y = class_indices(table["class"])
    r_true = table["r_true"].to_numpy(float)
    curves = qso_curves(answers, y, r_true, fusion.train_priors)
    n_qso = int((y == SPEC_CLASSES.index("QSO")).sum())
    print(
        f"{len(y)} cut-outs ({args.per_class} per class, r 16-22.2, seed {args.seed}), rendered in"
        f" {rendered_s:.0f} s; classifier {args.classifier.name}, fusion {args.fusion.name}"
    )
    print()
    print("| r | QSOs | sky's QSO share | " + " | ".join(f"{a} completeness | {a} purity" for a in ANSWERS) + " |")
    print("|---|---|---|" + "---|---|" * len(ANSWERS))
    for j, b in enumerate(curves["fused"]["bins"]):
        cells = []
        for a in ANSWERS:
            q = curves[a]["bins"][j]
            cells += [_interval(q, "completeness"), _interval(q, "purity")]
        print(f"| {b['r_lo']:g}-{b['r_hi']:g} | {b['n'][2]} | {b['sky_share']:.4f} | " + " | ".join(cells) + " |")
    for limit in curves["fused"]["below"]:
        cells = []
        for a in ANSWERS:
            q = curves[a]["below"][limit]
            cells += [_interval(q, "completeness"), _interval(q, "purity")]
        n = curves["fused"]["below"][limit]["n_true"]
        print(f"| **r < {limit}** | {n} | | " + " | ".join(cells) + " |")
    cut_answers = ("fused", "photometric")
    # "run": one set of priors per run (fusion.prior_mode em); "bin": per r (em_r, the default).
    cuts = {
        priors: {
            a: qso_cuts(answers[a], y, r_true, fusion.train_priors, cuts=args.cuts or QSO_CUTS, shares=shares)
            for a in cut_answers
        }
        for priors, shares in (("run", decision_shares("em")), ("bin", decision_shares("em_r")))
    }
    limits = list(cuts["run"]["fused"]["argmax"])
    print()
    print(
        "| priors | answer | QSO selected by | "
        + " | ".join(f"r < {lim} completeness | purity" for lim in limits)
        + " |"
    )
    print("|---|---|---|" + "---|---|" * len(limits))
    for priors, by_answer in cuts.items():
        for a, by_cut in by_answer.items():
            for cut, below in by_cut.items():
                rule = "most probable class" if cut == "argmax" else f"p_qso >= {cut}"
                cells = [
                    x
                    for lim in limits
                    for x in (_interval(below[lim], "completeness"), _interval(below[lim], "purity"))
                ]
                print(f"| {priors} | {a} | {rule} | " + " | ".join(cells) + " |")
    if args.figure:
        plot_purity_completeness(curves, args.figure, n_label=f" ({n_qso} rendered QSOs)")
        print(f"\nfigure: {args.figure}")
    result = {
        "classifier": str(args.classifier),
        "fusion": str(args.fusion),
        "per_class": args.per_class,
        "seed": args.seed,
        "n": int(len(y)),
        "n_qso": n_qso,
        "render_s": round(rendered_s, 1),
        "curves": curves,
        "cuts": cuts,
        "accuracy": {name: float((p.argmax(axis=1) == y).mean()) for name, p in answers.items()},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_record(args.out, result)
    return result


if __name__ == "__main__":
    main()
