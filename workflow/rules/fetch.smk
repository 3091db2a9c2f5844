# Frames of each field from the Science Archive Server or a local mirror, verified.


rule fetch_block:
    input:
        sim_block_marker,
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
        fields=block_fields,
        files=FIELD_FILES,
    script:
        "../scripts/fetch_block.py"
