"""Every acceptance number of the classification in one table:

1. the balanced test split of a workflow's classification data set: Conv4Net alone, the
   photometric and colour parts, and the fusion (``results/eval/fusion_metrics.json``);
2. the colour part of that workflow's fusion model on the held-out part of the real
   SkyServer table (``specphoto_split``; never used to fit anything), at equal priors and at
   the priors EM finds in those rows (as the catalogue does per run);
3. optionally (``--render-test N``), a fresh balanced set of N rendered cut-outs per class
   at the r magnitudes of real SDSS spectra (the paper's test conditions), from a seed the
   workflow never used: Conv4Net alone and the fusion;
4. optionally (``--sky-mix-cells N``), the photometric part alone, with EM priors (one per
   set, ``em``, and a logistic function of r, ``em_r``), on the
   simulated PhotoObjAll measurements of N sky cells (0.05 deg square, seed 777) at the
   population's real-sky densities: enough QSOs to measure their purity and completeness;
5. optionally, the catalogue of a simulated survey against its truth: the fused answer
   (``class``) and the paper's image-only one (``class_image``).

    python benchmarks/classification_quality.py --workdir . [--render-test 1200] \\
        [--survey-workdir DIR --survey-configfile DIR/config.yaml [OVERLAY.yaml]] [--label NAME]

Prints the table; writes benchmarks/out/classification_quality-NAME.json.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from catalog_quality import catalogue_truth, merged_config  # noqa: E402

from yl8c4net.catalog.quality import class_scores, recall_purity  # noqa: E402
from yl8c4net.classify.fusion import class_indices, load_fusion  # noqa: E402
from yl8c4net.sdss.queries import SPEC_CLASSES  # noqa: E402
from yl8c4net.simulate.colours import read_specphoto_csv, specphoto_split  # noqa: E402
from record import write_record

DEFAULT_CSV = Path(__file__).resolve().parents[2] / "shared/data/skyserver_dr14_specphoto_10k.csv"


def real_colour_scores(fusion, csv: Path) -> dict:
    """The colour part on the table's held-out part, at equal priors and at the priors EM
    finds in those rows (what the catalogue does for a run)."""
    from yl8c4net.classify.probabilities import estimate_priors_em

    real = read_specphoto_csv(csv)
    test = real[specphoto_split(real) == "test"].reset_index(drop=True)
    p = fusion.colour_proba(test)
    y = class_indices(test["class"])
    est = estimate_priors_em(p, fusion.train_priors)
    out = {"n": int(len(test)), "em_priors": est.priors.round(4).tolist()}
    for priors, probs in (("equal", p), ("em", est.posteriors)):
        pred = probs.argmax(axis=1)
        out[priors] = {"accuracy": float((pred == y).mean())}
        for k, c in enumerate(SPEC_CLASSES):
            out[priors][c] = recall_purity(y, pred, k)
    return out


def rendered_test_scores(args, fusion) -> dict:
    """Conv4Net alone and fused on a fresh rendered set at the r of real spectra."""
    from yl8c4net.classify.metrics import classification_metrics
    from yl8c4net.classify.train import load_classifier, predict_proba
    from yl8c4net.config import load_config, lupton_stretch, simulated_seeing_range
    from yl8c4net.images.labels import BoxTable
    from yl8c4net.images.seeing import crop_settings
    from yl8c4net.simulate.cutout_set import render_cutout_set

    cfg = load_config([args.workdir / "config.yaml"])
    model, norm, meta = load_classifier(args.workdir / "results/models/classifier/conv4net.pt", SPEC_CLASSES, 3, "cpu")
    images, table = render_cutout_set(
        args.render_seed,
        args.render_test,
        faint_fraction=0.0,
        stretch=lupton_stretch(cfg),
        box_table=BoxTable.from_config(cfg["training_data"]["box_table"]),
        fwhm_range=simulated_seeing_range(cfg),
        jpeg_quality=90 if cfg["training_data"]["use_official_jpeg"] else None,
        seeing_reference_arcsec=crop_settings(meta),
    )
    p_image = predict_proba(model, norm, images)
    y = class_indices(table["class"])
    return {
        "image (Conv4Net)": classification_metrics(y, p_image, SPEC_CLASSES),
        "fused": classification_metrics(y, fusion.fused_proba(table, p_image), SPEC_CLASSES),
    }


def sky_mix_table(n_cells: int, seed: int = 777, **conditions) -> pd.DataFrame:
    """Simulated PhotoObjAll rows (r <= 22.2) of ``n_cells`` sky cells (0.05 deg square) at
    the population model's real-sky densities, each cell measured under its own field
    conditions (``conditions``: `~yl8c4net.simulate.render.field_conditions`' ranges):
    ``class``, true ``r_true`` and the columns of `measure_photometry`."""
    from yl8c4net.simulate.photometry import measure_photometry
    from yl8c4net.simulate.population import PopulationParams, cell_sources
    from yl8c4net.simulate.render import field_conditions

    rng = np.random.default_rng(seed)
    parts = []
    for i in range(n_cells):
        src = cell_sources(seed, 8000 + i, 100, PopulationParams())
        src = src[src["r"] <= 22.2].reset_index(drop=True)
        measured = measure_photometry(src, field_conditions(rng, **conditions), rng)
        parts.append(pd.concat([src[["class"]], src[["r"]].rename(columns={"r": "r_true"}), measured], axis=1))
    return pd.concat(parts, ignore_index=True)


def sky_mix_scores(fusion, n_cells: int, seed: int = 777) -> dict:
    """The photometric part with EM priors on `sky_mix_table`'s rows."""
    from yl8c4net.classify.catalog_classes import run_priors
    from yl8c4net.classify.probabilities import reliability, shift_priors

    sky = sky_mix_table(n_cells, seed)
    p = fusion.photometric_proba(sky)
    y = class_indices(sky["class"])
    qso = SPEC_CLASSES.index("QSO")
    out = {"n": int(len(sky))}
    for mode in ("em", "em_r"):
        settings = {"prior_mode": mode, "em_min_rows": 200, "sky_priors": {"GALAXY": 0.72, "STAR": 0.27, "QSO": 0.01}}
        priors = run_priors(p, settings, sky["r"].to_numpy(float)).priors
        post = shift_priors(p, fusion.train_priors, priors)
        pred = post.argmax(axis=1)
        res = {"accuracy": float((pred == y).mean()), "ece": reliability(post, y).ece, "QSO": {}}
        res["mean_priors"] = (priors if priors.ndim == 1 else priors.mean(axis=0)).round(5).tolist()
        for lo, hi in ((14.0, 22.2), (14.0, 19.0), (19.0, 21.0), (21.0, 22.2)):
            sel = ((sky["r_true"] >= lo) & (sky["r_true"] < hi)).to_numpy()
            res["QSO"][f"{lo:g}-{hi:g}"] = recall_purity(y[sel], pred[sel], qso)
        out[mode] = res
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workdir", type=Path, default=Path("."), help="workflow directory with the trained models")
    ap.add_argument("--survey-workdir", type=Path, help="workflow directory of a simulated survey's catalogue")
    ap.add_argument("--survey-configfile", type=Path, nargs="+", help="that survey's config file(s), merged in order")
    ap.add_argument("--specphoto-csv", type=Path, default=DEFAULT_CSV)
    ap.add_argument("--render-test", type=int, default=0, help="render this many test cut-outs per class")
    ap.add_argument("--render-seed", type=int, default=20261125, help="seed of those cut-outs (not the workflow's)")
    ap.add_argument("--sky-mix-cells", type=int, default=0, help="photometric part on this many sky cells")
    ap.add_argument("--label", default="demo")
    args = ap.parse_args()
    result = {}
    lines = [("measure", "value", "sample", "target")]
    evaluation = json.loads((args.workdir / "results/eval/fusion_metrics.json").read_text())
    metrics = evaluation["answers"]
    result["test_split"] = evaluation
    for name, m in metrics.items():
        target = ">= 0.89" if name == "image (Conv4Net)" else ""
        ci = f" [{m['accuracy_low']:.3f}, {m['accuracy_high']:.3f}]"
        lines.append((f"balanced test split, {name}: accuracy [95 %]", f"{m['accuracy']:.3f}{ci}", m["n"], target))
        lines.append(("  ... expected calibration error", f"{m['ece']:.3f}", m["n"], ""))
        for subset, answers in evaluation.get("subsets", {}).items():
            a = answers[name]
            lines.append((f"  ... accuracy, {subset} subset", _fmt(a["accuracy"]), a["n"], ""))
    fusion = load_fusion(args.workdir / "results/models/fusion/fusion.joblib")
    if args.render_test:
        rendered = rendered_test_scores(args, fusion)
        result["rendered_spectroscopic_test"] = rendered
        for name, m in rendered.items():
            ci = f" [{m['accuracy_low']:.3f}, {m['accuracy_high']:.3f}]"
            target = ">= 0.89" if name == "image (Conv4Net)" else ""
            lines.append(
                (f"fresh test set at spectra's r, {name}: accuracy [95 %]", f"{m['accuracy']:.3f}{ci}", m["n"], target)
            )
    if args.sky_mix_cells:
        mix = sky_mix_scores(fusion, args.sky_mix_cells)
        result["sky_mix_photometric"] = mix
        for mode, res in ((m, mix[m]) for m in ("em", "em_r")):
            lines.append(
                (f"sky mix, photometric part, {mode} priors: accuracy", f"{res['accuracy']:.3f}", mix["n"], "")
            )
            lines.append(("  ... expected calibration error", f"{res['ece']:.3f}", mix["n"], ""))
            for band, q in res["QSO"].items():
                lines.append(
                    (
                        f"  ... QSO purity / completeness, r {band}",
                        f"{_fmt(q['purity'])} / {_fmt(q['recall'])}",
                        q["n_true"],
                        "",
                    )
                )
    if args.specphoto_csv.is_file():
        real = real_colour_scores(fusion, args.specphoto_csv)
        result["real_table_colour_part"] = real
        for priors, target in (("equal", ""), ("em", ">= 0.95")):
            r = real[priors]
            lines.append(
                (
                    f"real SkyServer held-out part, colour part, {priors} priors: accuracy",
                    f"{r['accuracy']:.3f}",
                    real["n"],
                    target,
                )
            )
            q = r["QSO"]
            lines.append(
                (
                    "  ... QSO completeness / purity",
                    f"{q['recall']:.3f} / {_fmt(q['purity'])}",
                    q["n_true"],
                    ">= 0.85" if target else "",
                )
            )
            lines.append(("  ... STAR recall", f"{r['STAR']['recall']:.3f}", r["STAR"]["n_true"], ""))
    else:
        print(f"real SkyServer table not found at {args.specphoto_csv}: its rows are skipped", file=sys.stderr)
    if args.survey_workdir:
        cfg = merged_config(args.survey_configfile)
        catalog = pd.read_parquet(args.survey_workdir / "results/catalog/catalog.parquet")
        truth = catalogue_truth(args.survey_workdir, cfg)
        for answer, label in (("", "fused (class)"), ("_image", "image only (class_image)")):
            c = class_scores(catalog, truth, answer)
            result[f"survey_{c['answer']}"] = c
            tgt = answer == ""
            lines += [
                (f"unseen survey, {label}: accuracy", f"{c['accuracy']:.3f}", c["n"], ">= 0.95" if tgt else ""),
                ("  ... STAR recall", f"{c['STAR']['recall']:.3f}", c["STAR"]["n_true"], ">= 0.90" if tgt else ""),
                ("  ... QSO purity", _fmt(c["QSO"]["purity"]), c["QSO"]["n_called"], ">= 0.80" if tgt else ""),
                ("  ... QSO completeness", _fmt(c["QSO"]["recall"]), c["QSO"]["n_true"], ">= 0.80" if tgt else ""),
                ("  ... expected calibration error", f"{c['ece']:.3f}", c["n"], "<= 0.03" if tgt else ""),
                ("  ... accuracy r < 19", _fmt(c["accuracy_r_lt_19"]), c["n_r_lt_19"], ""),
            ]
            lim = c["within_r_limit"]
            q = lim["QSO"]
            lines += [
                (f"  ... rows with true r <= {lim['r_limit']:g}: accuracy", _fmt(lim["accuracy"]), lim["n"], ""),
                ("  ... ... QSO purity / completeness", f"{_fmt(q['purity'])} / {_fmt(q['recall'])}", q["n_true"], ""),
            ]
    width = max(len(r[0]) for r in lines)
    for row in lines:
        print(f"{row[0]:<{width}}  {str(row[1]):>22}  {str(row[2]):>7}  {row[3]}")
    out = Path(__file__).resolve().parent / "out" / f"classification_quality-{args.label}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    write_record(out, result)


def _fmt(v) -> str:
    return "-" if v is None else f"{v:.3f}"


if __name__ == "__main__":
    main()
