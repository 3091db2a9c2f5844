"""Rule train_fusion: the photometric classifier (on simulated PhotoObjAll measurements) and
its fusion with Conv4Net (weights and image temperature fitted on the validation split)."""

from yl8c4net.classify.fusion import save_fusion, train_fusion
from yl8c4net.config import simulated_galaxy_population, simulated_seeing_range
from yl8c4net.classify.train import predict_split
from yl8c4net.io import sha256_of, write_json_atomic
from yl8c4net.simulate.photometry import photometry_training_table
from yl8c4net.pipeline.model_files import record_model_checksum
from yl8c4net.pipeline.steps import step

with step(snakemake.log[0], "train_fusion") as log:
    cfg = snakemake.params.config
    fc = cfg["fusion"]
    val, p_val = predict_split(
        snakemake.input.images, snakemake.input.table, snakemake.input.weights, "val", cfg["classifier"]["device"]
    )
    photometry = photometry_training_table(
        fc["seed"],
        fc["photometry_per_class"],
        fwhm_range=simulated_seeing_range(cfg, "fusion"),
        params=simulated_galaxy_population(cfg),
    )
    log.info(
        "photometric training set: %d simulated measurements (%d per class)",
        len(photometry),
        fc["photometry_per_class"],
    )
    fusion = train_fusion(photometry, val, p_val, seed=fc["seed"])
    fusion.info["classifier_sha256"] = sha256_of(snakemake.input.weights)
    save_fusion(fusion, snakemake.output.model)
    record_model_checksum(snakemake.output.model)
    summary = {
        "w_phot": fusion.w_phot,
        "w_image": fusion.w_image,
        "image_temperature": fusion.image_temperature,
        **fusion.info,
    }
    write_json_atomic(summary, snakemake.output.summary)
    log.info(
        "fusion: log p = %.3f log p_phot + %.3f log p_image; image temperature %.3f (fitted on %d validation cut-outs)",
        fusion.w_phot,
        fusion.w_image,
        fusion.image_temperature,
        len(val),
    )
