# Catalogue rows: PhotoObjAll per field, SpecPhoto per run (SkyServer, CasJobs or mirror).


rule query_photoobj_block:
    input:
        sim=SIM_BLOCK_MARKER,
        mirror=mirror_photoobj_files,
    output:
        BLOCK_MANIFESTS["photoobj"],
    log:
        "logs/query_photoobj_block/{run}-{camcol}-{block}.log",
    benchmark:
        "results/benchmarks/query_photoobj_block/{run}-{camcol}-{block}.tsv"
    retries: 2
    group:
        "fields"
    conda:
        "../../envs/sdss.yaml"
    threads: 1
    resources:
        mem_mb=500,
        runtime=60,
        skyserver=1,
    params:
        config=settings(
            "sdss.rerun",
            "sdss.catalog_source",
            "sdss.mirror_root",
            "sdss.skyserver_url",
            "sdss.data_release",
            "sdss.download",
        ),
        code=code_version("query_photoobj_block"),
        fields=block_fields,
        files=FIELD_FILES,
    script:
        "../scripts/query_photoobj_block.py"


rule query_specphoto:
    input:
        SIM_RUN_MARKER,
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
    params:
        config=settings(
            "sdss.rerun",
            "sdss.catalog_source",
            "sdss.mirror_root",
            "sdss.skyserver_url",
            "sdss.data_release",
            "sdss.download",
        ),
        code=code_version("query_specphoto"),
    script:
        "../scripts/query_specphoto.py"


rule field_status:
    input:
        frames=block_manifests("fetch"),
        photoobj=block_manifests("photoobj"),
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
    params:
        code=code_version("field_status"),
        files=FIELD_FILES,
    script:
        "../scripts/field_status.py"
