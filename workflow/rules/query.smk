# Catalogue rows: PhotoObjAll per field, SpecPhoto per run (SkyServer, CasJobs or mirror).


rule query_photoobj:
    input:
        sim_field_marker,
    output:
        "resources/catalogs/photoobj/{run}/{camcol}/{field}.parquet",
    log:
        "logs/query_photoobj/{run}-{camcol}-{field}.log",
    benchmark:
        "results/benchmarks/query_photoobj/{run}-{camcol}-{field}.tsv"
    retries: 2
    group:
        "fields"
    conda:
        "../../envs/sdss.yaml"
    threads: 1
    resources:
        mem_mb=500,
        runtime=10,
        skyserver=1,
    script:
        "../scripts/query_photoobj.py"


rule query_specphoto:
    input:
        sim_run_marker,
    output:
        "resources/catalogs/specphoto/{run}.parquet",
    log:
        "logs/query_specphoto/{run}.log",
    benchmark:
        "results/benchmarks/query_specphoto/{run}.tsv"
    retries: 2
    conda:
        "../../envs/sdss.yaml"
    threads: 1
    resources:
        mem_mb=500,
        runtime=30,
        skyserver=1,
    script:
        "../scripts/query_specphoto.py"


rule field_status:
    input:
        manifests=field_paths("resources/frames/{run}/{camcol}/{field}/manifest.json"),
        photoobj=field_paths(
            "resources/catalogs/photoobj/{run}/{camcol}/{field}.parquet"
        ),
        specphoto=expand("resources/catalogs/specphoto/{run}.parquet", run=RUNS),
    output:
        "results/data/field_status.tsv",
    log:
        "logs/field_status.log",
    benchmark:
        "results/benchmarks/field_status.tsv"
    conda:
        "../../envs/sdss.yaml"
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    script:
        "../scripts/field_status.py"
