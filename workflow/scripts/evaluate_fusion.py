"""Rule evaluate_fusion: test-split metrics of the image-only, colour-only, photometric and
fused answers, and the reliability diagram with each answer's expected calibration error."""

from yl8c4net.classify.fusion import class_indices, load_fusion
from yl8c4net.classify.metrics import classification_metrics, plot_reliability
from yl8c4net.classify.model import CLASS_NAMES
from yl8c4net.classify.probabilities import reliability
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
    out = {"split": "test (equal class priors)", "answers": metrics, "subsets": subsets}
    write_json_atomic(out, snakemake.output.metrics)
    plot_reliability(
        {k: reliability(answers[k], y) for k in ("image (Conv4Net)", "image, temperature-scaled", "fused")},
        snakemake.output.reliability,
        n_label=f" (test split, n = {len(y)})",
    )
