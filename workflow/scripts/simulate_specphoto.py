"""Rule simulate_specphoto: the SpecPhoto-like table of one simulated run, and the run's
asTrans file (the WCS of sdss.lean runs)."""

from yl8c4net.config import sim_config
from yl8c4net.io import write_json_atomic
from yl8c4net.simulate.mirror import simulate_astrans, simulate_specphoto
from yl8c4net.pipeline.steps import step

with step(snakemake.log[0], "simulate_specphoto") as log:
    cfg = snakemake.params.config
    spec = simulate_specphoto(sim_config(cfg), int(snakemake.wildcards.run), cfg["sdss"]["mirror_root"])
    log.info("run %s: %d spectra", snakemake.wildcards.run, len(spec))
    log.info("asTrans: %s", simulate_astrans(sim_config(cfg), int(snakemake.wildcards.run), cfg["sdss"]["mirror_root"]))
    write_json_atomic({"run": int(snakemake.wildcards.run), "n_spectra": len(spec)}, snakemake.output[0])
