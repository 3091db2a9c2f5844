# Classification of the detections and the catalogue (paper section 4.4).


rule classify_field:
    input:
        detections="results/detections/{run}/{camcol}/{field}.parquet",
        image=rules.composite.output.image,
        info=rules.composite.output.info,
        manifest="resources/frames/{run}/{camcol}/{field}/manifest.json",
        weights=classifier_weights,
    output:
        "results/classified/{run}/{camcol}/{field}.parquet",
    log:
        "logs/classify_field/{run}-{camcol}-{field}.log",
    benchmark:
        "results/benchmarks/classify_field/{run}-{camcol}-{field}.tsv"
    group:
        "fields_gpu"
    conda:
        "../../envs/ml.yaml"
    threads: 1
    resources:
        mem_mb=3000,
        runtime=10,
        gpu=1,
    script:
        "../scripts/classify_field.py"


rule catalog_run:
    input:
        classified=lambda wc: [
            f"results/classified/{f.run}/{f.camcol}/{f.field}.parquet"
            for f in fields_of_run(wc.run)
        ],
        detections=lambda wc: [
            f"results/detections/{f.run}/{f.camcol}/{f.field}.parquet"
            for f in fields_of_run(wc.run)
        ],
        manifests=lambda wc: [
            f"resources/frames/{f.run}/{f.camcol}/{f.field}/manifest.json"
            for f in fields_of_run(wc.run)
        ],
        photoobj=lambda wc: [
            f"resources/catalogs/photoobj/{f.run}/{f.camcol}/{f.field}.parquet"
            for f in fields_of_run(wc.run)
        ],
        earlier=earlier_partitions,
        classifier=classifier_weights,
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
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
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
        mem_mb=8000,
        runtime=30,
    script:
        "../scripts/catalog.py"


rule catalog_figures:
    input:
        image=rules.composite.output.image,
        classified="results/classified/{run}/{camcol}/{field}.parquet",
        catalog="results/catalog/catalog.parquet",
    output:
        overlay=report(
            "results/report/catalog/overlay-{run}-{camcol}-{field}.png",
            caption="../report/overlay.rst",
            category="Catalogue",
        ),
        sky_map=report(
            "results/report/catalog/sky_map-{run}-{camcol}-{field}.png",
            caption="../report/sky_map.rst",
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
    script:
        "../scripts/catalog_figures.py"
