"""Rule simulate_field: render one simulated field into the SAS-layout mirror."""

from yl8c4net.config import sim_config
from yl8c4net.fetch import write_json_atomic
from yl8c4net.sdss.fields import FieldId
from yl8c4net.simulate.mirror import simulate_field
from yl8c4net.steps import step

with step(snakemake.log[0], "simulate_field") as log:
    cfg = snakemake.config
    w = snakemake.wildcards
    fid = FieldId(int(w.run), int(w.camcol), int(w.field), cfg["sdss"]["rerun"])
    summary = simulate_field(sim_config(cfg), fid, cfg["sdss"]["mirror_root"])
    log.info("%s", summary)
    write_json_atomic(summary, snakemake.output[0])
