# The simulated survey, written as a local SAS-layout mirror (offline default).


rule simulate_field:
    output:
        f"{MIRROR}/sim/fields/{{run}}/{{camcol}}/{{field}}.json",
    log:
        "logs/simulate_field/{run}-{camcol}-{field}.log",
    benchmark:
        "results/benchmarks/simulate_field/{run}-{camcol}-{field}.tsv"
    conda:
        "../../envs/sdss.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=20,
    script:
        "../scripts/simulate_field.py"


rule simulate_specphoto:
    input:
        lambda wc: [
            f"{MIRROR}/sim/fields/{f.run}/{f.camcol}/{f.field}.json"
            for f in fields_of_run(wc.run)
        ],
    output:
        f"{MIRROR}/sim/specphoto/{{run}}.json",
    log:
        "logs/simulate_specphoto/{run}.log",
    benchmark:
        "results/benchmarks/simulate_specphoto/{run}.tsv"
    conda:
        "../../envs/sdss.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    script:
        "../scripts/simulate_specphoto.py"
