"""Rule simulate_block: render the fields of one block into the SAS-layout mirror."""

from yl8c4net.pipeline.blocks import block_of_job, run_block
from yl8c4net.config import sim_config
from yl8c4net.simulate.mirror import simulate_field
from yl8c4net.pipeline.steps import step

with step(snakemake.log[0], "simulate_block") as log:
    cfg = snakemake.params.config
    block = block_of_job(snakemake)
    sim = sim_config(cfg)

    def simulate(fid):
        log.info("%s: %s", fid, simulate_field(sim, fid, cfg["sdss"]["mirror_root"]))

    run_block("simulate", block, snakemake.output[0], [], simulate, log)
