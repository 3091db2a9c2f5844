"""Rule morphology_check: do the simulator's sources look like this run's? The concentration
of every source of a few of the run's r frames against the simulator's at the same seeing and sky."""

import json

from yl8c4net.config import simulated_galaxy_population
from yl8c4net.pipeline.blocks import field_path, field_status
from yl8c4net.pipeline.steps import step
from yl8c4net.report.morphology import check_fields, plot_morphology

with step(snakemake.log[0], "morphology_check") as log:
    run = snakemake.wildcards.run
    cfg = snakemake.params.config
    checks, passed_over = check_fields(
        field_status(snakemake.input.frames),
        lambda fid: field_path(snakemake.params.files["frames"], fid),
        cfg["report"]["morphology_fields"],
        simulated_galaxy_population(cfg),
        log,
    )
    for name, reason in passed_over.items():
        log.warning("%s passed over: %s", name, reason)
    if not checks:
        log.warning("run %s: no field to check the morphology on; the figure says so", run)
    summary = {
        "run": int(run),
        "galaxy_sizes": cfg["simulate"]["galaxy_sizes"],
        "fields": {name: check.record() for name, check in checks.items()},
        "passed_over": passed_over,
    }
    with open(snakemake.output.summary, "w") as fh:
        json.dump(summary, fh, indent=1)
    plot_morphology(
        checks,
        snakemake.output.figure,
        f"run {run}: detected sources against the simulator's at the same seeing and sky",
        frame_label=f"run {run}",
    )
