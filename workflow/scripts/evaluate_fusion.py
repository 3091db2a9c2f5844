"""Rule evaluate_fusion: test-split metrics of the image-only, colour-only, photometric and
fused answers, the reliability diagram with each answer's expected calibration error, and
QSO purity and completeness against r at the sky's class mix."""

from yl8c4net.classify.fusion import class_indices, load_fusion
from yl8c4net.classify.metrics import classification_metrics, plot_reliability
from yl8c4net.classify.model import CLASS_NAMES
from yl8c4net.classify.probabilities import reliability
from yl8c4net.classify.sky_mix import decision_shares, plot_purity_completeness, qso_curves
from yl8c4net.classify.train import predict_split
from yl8c4net.io import write_json_atomic
from yl8c4net.pipeline.steps import step

with step(snakemake.log[0], "evaluate_fusion") as log:
    cfg = snakemake.params.config
    rows, p_image = predict_split(
        snakemake.input.images, snakemake.input.table, snakemake.input.weights, "test", cfg["classifier"]["device"]
    )
    fusion = load_fusion(snakemake.input.fusion)
    answers = {
        "image (Conv4Net)": p_image,
        "image, temperature-scaled": fusion.image_proba(p_image),
        "colour only": fusion.colour_proba(rows),
        "photometric": fusion.photometric_proba(rows),
        "fused": fusion.fused_proba(rows, p_image),
    }
    y = class_indices(rows["class"])
    metrics = {}
    for name, p in answers.items():
        m = classification_metrics(y, p, CLASS_NAMES)
        m["ece"] = reliability(p, y).ece
        metrics[name] = m
        log.info("%s: accuracy %.4f, ECE %.4f (n = %d)", name, m["accuracy"], m["ece"], m["n"])
    subsets = {}
    if "faint_draw" in rows.columns:
        # Rendered cut-outs: at the magnitudes of real SDSS spectra (the paper's test
        # conditions) and the faint share (r uniform in classify_data.rendered_faint_range).
        for name, sel in (("spectroscopic r", ~rows["faint_draw"]), ("faint r", rows["faint_draw"])):
            sel = sel.to_numpy(bool)
            subsets[name] = {
                k: {"n": int(sel.sum()), "accuracy": float((p[sel].argmax(1) == y[sel]).mean()) if sel.any() else None}
                for k, p in answers.items()
            }
            log.info(
                "%s subset (n = %d): %s", name, int(sel.sum()), {k: v["accuracy"] for k, v in subsets[name].items()}
            )
    # The QSO decision is taken at the priors this config's catalogue moves to.
    prior_mode = cfg["fusion"]["prior_mode"]
    shares = decision_shares(prior_mode, cfg["fusion"]["sky_priors"])
    curves = qso_curves(
        {k: answers[k] for k in ("image, temperature-scaled", "photometric", "fused")},
        y,
        rows["r_true"].to_numpy(float),
        fusion.train_priors,
        shares,
    )
    for name, curve in curves.items():
        q = curve["below"]["21"]
        log.info(
            "%s: QSO at the sky's mix, r < 21: purity %s, completeness %s (%d QSOs)",
            name,
            "n/a" if q["purity"] is None else f"{q['purity']:.3f}",
            "n/a" if q["completeness"] is None else f"{q['completeness']:.3f}",
            q["n_true"],
        )
    out = {
        "split": "test (equal class priors)",
        "answers": metrics,
        "subsets": subsets,
        "qso_at_sky_mix": curves,
        "qso_decision_priors": {
            "prior_mode": prior_mode,
            "shares": None if shares is None else dict(zip(CLASS_NAMES, map(float, shares))),
        },
    }
    write_json_atomic(out, snakemake.output.metrics)
    plot_reliability(
        {k: reliability(answers[k], y) for k in ("image (Conv4Net)", "image, temperature-scaled", "fused")},
        snakemake.output.reliability,
        n_label=f" (test split, n = {len(y)})",
    )
    plot_purity_completeness(
        {"image": curves["image, temperature-scaled"], **{k: curves[k] for k in ("photometric", "fused")}},
        snakemake.output.qso_by_r,
        n_label=f" (test split, {int((y == CLASS_NAMES.index('QSO')).sum())} QSOs)",
    )
