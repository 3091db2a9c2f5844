# Training data (paper section 2): composite, labels + pasting + tiles, classification cut-outs.


rule composite:
    input:
        manifest="resources/frames/{run}/{camcol}/{field}/manifest.json",
    output:
        image=f"resources/composite/{{run}}/{{camcol}}/{{field}}{COMPOSITE_SUFFIX}",
        info="resources/composite/{run}/{camcol}/{field}.json",
    log:
        "logs/composite/{run}-{camcol}-{field}.log",
    benchmark:
        "results/benchmarks/composite/{run}-{camcol}-{field}.tsv"
    group:
        "fields"
    conda:
        "../../envs/images.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/composite.py"


rule field_training_data:
    input:
        manifest="resources/frames/{run}/{camcol}/{field}/manifest.json",
        image=rules.composite.output.image,
        info=rules.composite.output.info,
        photoobj="resources/catalogs/photoobj/{run}/{camcol}/{field}.parquet",
    output:
        tiles=directory("resources/training/detect/{run}/{camcol}/{field}"),
        summary="resources/training/detect/{run}/{camcol}/{field}.json",
    log:
        "logs/field_training_data/{run}-{camcol}-{field}.log",
    benchmark:
        "results/benchmarks/field_training_data/{run}-{camcol}-{field}.tsv"
    group:
        "fields"
    conda:
        "../../envs/images.yaml"
    threads: 1
    resources:
        mem_mb=3000,
        runtime=15,
    script:
        "../scripts/field_training_data.py"


rule detect_dataset:
    input:
        tiles=role_field_paths(
            "resources/training/detect/{run}/{camcol}/{field}", "detect_train"
        ),
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
    script:
        "../scripts/detect_dataset.py"


rule field_cutouts:
    input:
        manifest="resources/frames/{run}/{camcol}/{field}/manifest.json",
        image=rules.composite.output.image,
        info=rules.composite.output.info,
        photoobj="resources/catalogs/photoobj/{run}/{camcol}/{field}.parquet",
        specphoto="resources/catalogs/specphoto/{run}.parquet",
    output:
        images="resources/training/classify/{run}/{camcol}/{field}.npy",
        table="resources/training/classify/{run}/{camcol}/{field}.parquet",
    log:
        "logs/field_cutouts/{run}-{camcol}-{field}.log",
    benchmark:
        "results/benchmarks/field_cutouts/{run}-{camcol}-{field}.tsv"
    group:
        "fields"
    conda:
        "../../envs/images.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/field_cutouts.py"


rule classify_dataset:
    input:
        images=role_field_paths(
            "resources/training/classify/{run}/{camcol}/{field}.npy", "classify_train"
        ),
        tables=role_field_paths(
            "resources/training/classify/{run}/{camcol}/{field}.parquet",
            "classify_train",
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
        runtime=10,
    script:
        "../scripts/classify_dataset.py"


rule pasting_figure:
    input:
        image=rules.composite.output.image,
        info=rules.composite.output.info,
        tiles="resources/training/detect/{run}/{camcol}/{field}",
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
    script:
        "../scripts/pasting_figure.py"
