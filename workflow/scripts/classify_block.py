"""Rule classify_block: Conv4Net class and probabilities for every detection of each field,
its windowed centroid on the r frame, and that position on the sky through the r-frame WCS
(`yl8c4net.classify.field.FieldClassification`), ``field_workers.gpu`` fields at a time, in
threads or worker processes (``field_workers.pool``).

The body stays under ``if __name__ == "__main__"``: a worker process imports this script again
(as ``__mp_main__``) and must not run the block a second time."""

from yl8c4net.pipeline.blocks import block_of_job, run_block
from yl8c4net.classify.field import FieldClassificationRecipe, crop_box_table
from yl8c4net.classify.model import CLASS_NAMES
from yl8c4net.pipeline.model_files import check_model_before_use
from yl8c4net.pipeline.steps import step

if __name__ == "__main__":
    with step(snakemake.log[0], "classify_block") as log:
        cfg = snakemake.params.config
        block = block_of_job(snakemake)
        channels = 3 + len(cfg["training_data"]["extra_bands"])
        check_model_before_use(snakemake.input.weights, "classifier", CLASS_NAMES, channels)
        recipe = FieldClassificationRecipe(
            weights=str(snakemake.input.weights),
            in_channels=channels,
            runtime=cfg["classifier"]["runtime"],
            device=cfg["classifier"]["device"],
            predict_batch=cfg["classifier"]["predict_batch"],
            files=snakemake.params.files,
            options={
                "centroid_window_fwhm_arcsec": cfg["catalog"]["centroid_window_fwhm_arcsec"],
                "lean": cfg["sdss"]["lean"],
                "aperture_radius_arcsec": cfg["catalog"]["aperture_radius_arcsec"],
                "saturation_counts": cfg["detector"]["bright_complement"]["saturation_counts"],
                "near_bright_mag_r": cfg["catalog"]["near_bright_mag_r"],
                "near_bright_radius_arcsec": cfg["catalog"]["near_bright_radius_arcsec"],
                "crop_box_table": crop_box_table(cfg),
            },
        )
        run_block(
            "classify",
            block,
            snakemake.output[0],
            [snakemake.input.frames, snakemake.input.composite, snakemake.input.detections],
            recipe,
            log,
            files=snakemake.params.files,
            workers=snakemake.threads,
            pool="processes" if snakemake.resources.field_processes else "threads",
        )
