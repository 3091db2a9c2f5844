# The simulated survey, written as a local SAS-layout mirror (offline default).


rule simulate_block:
    output:
        BLOCK_MANIFESTS["simulate"],
    log:
        "logs/simulate_block/{run}-{camcol}-{block}.log",
    benchmark:
        "results/benchmarks/simulate_block/{run}-{camcol}-{block}.tsv"
    conda:
        "../../envs/sdss.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=20,
    params:
        config=run_settings(
            "sdss.rerun",
            "sdss.mirror_root",
            "sdss.data_release",
            "simulate",
            "composite.scales",
            "composite.q",
            "composite.stretch",
            "composite.minimum",
            "composite.clip_negative",
            "composite.saturation_nmgy",
        ),
        code=code_version("simulate_block"),
        fields=block_fields,
    script:
        "../scripts/simulate_block.py"


rule simulate_specphoto:
    input:
        lambda wc: block_manifests("simulate", run=wc.run),
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
    params:
        config=run_settings(
            "sdss.rerun",
            "sdss.mirror_root",
            "sdss.data_release",
            "simulate",
            "composite.scales",
            "composite.q",
            "composite.stretch",
            "composite.minimum",
            "composite.clip_negative",
            "composite.saturation_nmgy",
        ),
        code=code_version("simulate_specphoto"),
    script:
        "../scripts/simulate_specphoto.py"
