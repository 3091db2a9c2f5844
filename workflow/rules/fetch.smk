# Frames of each field from the Science Archive Server or a local mirror, verified.


rule fetch_field:
    input:
        sim_field_marker,
    output:
        manifest="resources/frames/{run}/{camcol}/{field}/manifest.json",
    log:
        "logs/fetch_field/{run}-{camcol}-{field}.log",
    benchmark:
        "results/benchmarks/fetch_field/{run}-{camcol}-{field}.tsv"
    retries: 2
    group:
        "fields"
    conda:
        "../../envs/sdss.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=30,
    script:
        "../scripts/fetch_field.py"
