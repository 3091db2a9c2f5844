# Training data (paper section 2): composite, labels + pasting + tiles, classification cut-outs.


rule composite_block:
    input:
        frames=block_input("fetch"),
    output:
        BLOCK_MANIFESTS["composite"],
    log:
        "logs/composite_block/{run}-{camcol}-{block}.log",
    benchmark:
        "results/benchmarks/composite_block/{run}-{camcol}-{block}.tsv"
    group:
        "fields"
    conda:
        "../../envs/images.yaml"
    threads: FIELD_THREADS
    resources:
        mem_mb=2000 * FIELD_THREADS,
        runtime=120,
    params:
        config=settings(
            "sdss.rerun",
            "composite",
            "training_data.use_official_jpeg",
            "training_data.extra_bands",
        ),
        code=code_version("composite_block"),
        fields=block_fields,
        files=FIELD_FILES,
    script:
        "../scripts/composite_block.py"


rule training_data_block:
    input:
        frames=block_input("fetch"),
        composite=block_input("composite"),
        photoobj=block_input("photoobj"),
    output:
        BLOCK_MANIFESTS["tiles"],
    log:
        "logs/training_data_block/{run}-{camcol}-{block}.log",
    benchmark:
        "results/benchmarks/training_data_block/{run}-{camcol}-{block}.tsv"
    group:
        "fields"
    conda:
        "../../envs/images.yaml"
    threads: FIELD_THREADS
    resources:
        mem_mb=3000 * FIELD_THREADS,
        runtime=240,
    params:
        config=settings(
            "sdss.rerun",
            "training_data.r_limit",
            "training_data.box_table",
            "training_data.petro_scale",
            "training_data.max_side_px",
            "training_data.tile_px",
            "training_data.min_visible_fraction",
            "training_data.pasting",
        ),
        code=code_version("training_data_block"),
        fields=block_fields,
        files=FIELD_FILES,
    script:
        "../scripts/training_data_block.py"


rule detect_dataset:
    input:
        tiles=block_manifests("tiles", role="detect_train"),
    output:
        yaml="resources/training/detect/dataset.yaml",
        summary="results/data/detect_dataset.json",
    log:
        "logs/detect_dataset.log",
    benchmark:
        "results/benchmarks/detect_dataset.tsv"
    conda:
        "../../envs/images.yaml"
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    params:
        config=settings(
            "training_data.val_fraction",
            "training_data.split_seed",
            "training_data.extra_bands",
        ),
        code=code_version("detect_dataset"),
        files=FIELD_FILES,
    script:
        "../scripts/detect_dataset.py"


rule cutouts_block:
    input:
        frames=block_input("fetch"),
        composite=block_input("composite"),
        photoobj=block_input("photoobj"),
        specphoto="resources/catalogs/specphoto/{run}.parquet",
    output:
        BLOCK_MANIFESTS["cutouts"],
    log:
        "logs/cutouts_block/{run}-{camcol}-{block}.log",
    benchmark:
        "results/benchmarks/cutouts_block/{run}-{camcol}-{block}.tsv"
    group:
        "fields"
    conda:
        "../../envs/images.yaml"
    threads: FIELD_THREADS
    resources:
        mem_mb=2000 * FIELD_THREADS,
        runtime=120,
    params:
        config=settings(
            "sdss.rerun",
            "classify_data",
            "training_data.box_table",
            "training_data.r_limit",
        ),
        code=code_version("cutouts_block"),
        fields=block_fields,
        files=FIELD_FILES,
    script:
        "../scripts/cutouts_block.py"


rule classify_dataset:
    input:
        cutouts=(
            block_manifests("cutouts", role="classify_train")
            if config["classify_data"]["source"] == "fields"
            else []
        ),
    output:
        images="resources/training/classify/dataset.npy",
        table="resources/training/classify/dataset.parquet",
        summary="results/data/classify_dataset.json",
    log:
        "logs/classify_dataset.log",
    benchmark:
        "results/benchmarks/classify_dataset.tsv"
    conda:
        "../../envs/images.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=120,  # rendering: ~30 ms per cut-out on one core
    params:
        config=settings(
            "classify_data",
            "simulate.galaxy_sizes",
            "simulate.galaxy_colours",
            "simulate.seeing_range_arcsec",
            "composite.scales",
            "composite.q",
            "composite.stretch",
            "composite.minimum",
            "composite.clip_negative",
            "composite.saturation_nmgy",
            "training_data.box_table",
            "training_data.use_official_jpeg",
        ),
        code=code_version("classify_dataset"),
        files=FIELD_FILES,
    script:
        "../scripts/classify_dataset.py"


rule pasting_figure:
    input:
        composite=field_block_input("composite"),
        tiles=field_block_input("tiles"),
    output:
        report(
            "results/report/pasting/{run}-{camcol}-{field}.png",
            caption="../report/pasting.rst",
            category="Training data",
        ),
    log:
        "logs/pasting_figure/{run}-{camcol}-{field}.log",
    benchmark:
        "results/benchmarks/pasting_figure/{run}-{camcol}-{field}.tsv"
    conda:
        "../../envs/images.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=5,
    params:
        config=settings(
            "sdss.rerun",
            "training_data.r_limit",
            "training_data.box_table",
            "training_data.petro_scale",
            "training_data.max_side_px",
            "training_data.tile_px",
            "training_data.min_visible_fraction",
            "training_data.pasting",
        ),
        code=code_version("pasting_figure"),
        files=FIELD_FILES,
    script:
        "../scripts/pasting_figure.py"
