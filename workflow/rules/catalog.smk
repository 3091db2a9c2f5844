# Classification of the detections and the catalogue (paper section 4.4).


rule classify_block:
    input:
        frames=block_input("fetch"),
        composite=block_input("composite"),
        detections=block_input("detect"),
        weights=classifier_inference_weights(),
    output:
        BLOCK_MANIFESTS["classify"],
    log:
        "logs/classify_block/{run}-{camcol}-{block}.log",
    benchmark:
        "results/benchmarks/classify_block/{run}-{camcol}-{block}.tsv"
    group:
        "fields_gpu"
    conda:
        "../../envs/ml.yaml"
    threads: GPU_FIELD_THREADS
    resources:
        mem_mb=lambda wc, threads: gpu_block_mem_mb(
            1200, threads, CLASSIFY_IN_PROCESSES
        ),
        runtime=60,
        gpu=1,
        # Worker processes the job starts (0: its fields run in threads). How, not what: a
        # resource rather than a param, so changing field_workers.pool reruns nothing.
        field_processes=GPU_FIELD_THREADS if CLASSIFY_IN_PROCESSES else 0,
    params:
        config=settings(
            "sdss.rerun",
            "sdss.lean",
            "classifier.device",
            "classifier.runtime",
            "classifier.predict_batch",
            "classifier.crop_side",
            "training_data.extra_bands",
            "training_data.box_table",
            "catalog.centroid_window_fwhm_arcsec",
            "catalog.aperture_radius_arcsec",
            "catalog.near_bright_mag_r",
            "catalog.near_bright_radius_arcsec",
            "detector.bright_complement.saturation_counts",
        ),
        code=code_version("classify_block"),
        fields=block_fields,
        files=FIELD_FILES,
    script:
        "../scripts/classify_block.py"


rule catalog_run:
    input:
        classified=lambda wc: block_manifests("classify", run=wc.run),
        photoobj=lambda wc: block_manifests("photoobj", run=wc.run),
        earlier=earlier_partitions,
        classifier=classifier_weights,
        fusion=fusion_model,
    output:
        matched="results/catalog/runs/{run}.parquet",
        unmatched="results/catalog/runs/{run}-unmatched.parquet",
        duplicates="results/catalog/runs/{run}-duplicates.parquet",
    log:
        "logs/catalog_run/{run}.log",
    benchmark:
        "results/benchmarks/catalog_run/{run}.tsv"
    conda:
        "../../envs/sdss.yaml"
    threads: 2
    resources:
        mem_mb=8000,
        runtime=30,
    params:
        config=settings(
            "catalog.dedup_radius_arcsec",
            "catalog.merge_min_ios",
            "catalog.merge_max_offset_box_fraction",
            "catalog.match_radius_arcsec",
            "fusion",
        ),
        data=settings(
            "sdss.frame_source",
            "sdss.catalog_source",
            "sdss.data_release",
            "sdss.rerun",
            "sdss.mirror_root",
            "sdss.sas_base_url",
            "sdss.skyserver_url",
            "sdss.lean",
            "detector.conf",
            "detector.verify",
            "detector.bright_complement",
        ),
        code=code_version("catalog_run"),
        files=FIELD_FILES,
        blocks=BLOCK_MANIFESTS,
    script:
        "../scripts/catalog_run.py"


rule catalog:
    input:
        matched=expand("results/catalog/runs/{run}.parquet", run=RUNS_IN_ORDER),
        unmatched=expand(
            "results/catalog/runs/{run}-unmatched.parquet", run=RUNS_IN_ORDER
        ),
    output:
        catalog="results/catalog/catalog.parquet",
        unmatched="results/catalog/unmatched.parquet",
        fits="results/catalog/catalog.fits",
    log:
        "logs/catalog.log",
    benchmark:
        "results/benchmarks/catalog.tsv"
    conda:
        "../../envs/sdss.yaml"
    threads: 1
    resources:
        # The merge holds one row group at a time, whatever the catalogue's size
        # (docs/measurements/catalogue-scale.md: 1.5 GB at 5 M rows).
        mem_mb=3000,
        runtime=30,
    params:
        code=code_version("catalog_merge"),
    script:
        "../scripts/catalog_merge.py"


rule catalog_hats:
    input:
        "results/catalog/catalog.parquet",
    output:
        collection="results/catalog/hats/yl8c4net/collection.properties",
    log:
        "logs/catalog_hats.log",
    benchmark:
        "results/benchmarks/catalog_hats.tsv"
    conda:
        "../../envs/hats.yaml"
    threads: 2
    resources:
        mem_mb=8000,
        runtime=60,
    params:
        code=code_version("catalog_hats"),
    script:
        "../scripts/catalog_hats.py"


rule catalog_figures:
    input:
        composite=field_block_input("composite"),
        classified=field_block_input("classify"),
        frames=field_block_input("fetch"),
    output:
        overlay=report(
            "results/report/catalog/overlay-{run}-{camcol}-{field}.png",
            caption="../report/overlay.rst",
            category="Catalogue",
        ),
    log:
        "logs/catalog_figures/{run}-{camcol}-{field}.log",
    benchmark:
        "results/benchmarks/catalog_figures/{run}-{camcol}-{field}.tsv"
    conda:
        "../../envs/images.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=5,
    params:
        config=settings("sdss.rerun"),
        code=code_version("catalog_figures"),
        files=FIELD_FILES,
    script:
        "../scripts/catalog_figures.py"


rule sky_map:
    input:
        "results/catalog/runs/{run}.parquet",
    output:
        report(
            "results/report/catalog/sky_map-{run}.png",
            caption="../report/sky_map.rst",
            category="Catalogue",
        ),
    log:
        "logs/sky_map/{run}.log",
    benchmark:
        "results/benchmarks/sky_map/{run}.tsv"
    conda:
        "../../envs/images.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=5,
    params:
        code=code_version("sky_map"),
    script:
        "../scripts/sky_map.py"


rule metrics_table:
    input:
        unpack(metrics_table_inputs),
    output:
        report(
            "results/report/metrics.html",
            caption="../report/metrics.rst",
            category="Summary",
        ),
    log:
        "logs/metrics_table.log",
    benchmark:
        "results/benchmarks/metrics_table.tsv"
    conda:
        "../../envs/images.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        code=code_version("metrics_table"),
    script:
        "../scripts/metrics_table.py"


rule morphology_check:
    input:
        frames=lambda wc: block_manifests("fetch", run=wc.run),
    output:
        figure=report(
            "results/report/catalog/morphology-{run}.png",
            caption="../report/morphology.rst",
            category="Catalogue",
        ),
        summary="results/report/catalog/morphology-{run}.json",
    log:
        "logs/morphology_check/{run}.log",
    benchmark:
        "results/benchmarks/morphology_check/{run}.tsv"
    conda:
        "../../envs/images.yaml"
    threads: 1
    resources:
        mem_mb=3000,
        runtime=lambda wc: 5 + config["report"]["morphology_fields"],
    params:
        config=settings("report", "simulate.galaxy_sizes", "simulate.galaxy_colours"),
        code=code_version("morphology_check"),
        files=FIELD_FILES,
    script:
        "../scripts/morphology_check.py"
