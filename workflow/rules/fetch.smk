# Frames of each field from the Science Archive Server or a local mirror, verified.


rule fetch_block:
    input:
        sim=SIM_BLOCK_MARKER,
        astrans=ASTRANS_INPUT,
    output:
        BLOCK_MANIFESTS["fetch"],
    log:
        "logs/fetch_block/{run}-{camcol}-{block}.log",
    benchmark:
        "results/benchmarks/fetch_block/{run}-{camcol}-{block}.tsv"
    retries: 2
    group:
        "fields"
    conda:
        "../../envs/sdss.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=240,
    params:
        config=settings(
            "sdss.rerun",
            "sdss.bands",
            "sdss.lean",
            "sdss.frame_source",
            "sdss.mirror_root",
            "sdss.sas_base_url",
            "sdss.download",
            "sdss.data_release",
            "sdss.frame_storage",
            "training_data.use_official_jpeg",
        ),
        code=code_version("fetch_block"),
        what=FETCHED_FILES,
        fields=block_fields,
        files=FIELD_FILES,
    # The dry run shows what each block downloads (issue 16: bytes per field).
    message:
        "Fetch run {wildcards.run} camcol {wildcards.camcol} fields {wildcards.block}: {params.what} -> {output}"
    script:
        "../scripts/fetch_block.py"


# Lean mode (sdss.lean): the run's asTrans file, once per run, gives every field its WCS.
rule fetch_astrans:
    input:
        SIM_RUN_MARKER,
    output:
        ASTRANS_FILE,
    log:
        "logs/fetch_astrans/{run}.log",
    benchmark:
        "results/benchmarks/fetch_astrans/{run}.tsv"
    retries: 2
    conda:
        "../../envs/sdss.yaml"
    threads: 1
    resources:
        mem_mb=500,
        runtime=30,
    params:
        config=settings(
            "sdss.rerun",
            "sdss.frame_source",
            "sdss.mirror_root",
            "sdss.sas_base_url",
            "sdss.download",
            "sdss.data_release",
        ),
        code=code_version("fetch_astrans"),
    script:
        "../scripts/fetch_astrans.py"
