"""Rule fetch_astrans: a run's asTrans file (lean mode's WCS for all its fields), verified."""

from pathlib import Path

from yl8c4net.config import frame_source
from yl8c4net.sdss.fields import astrans_relpath
from yl8c4net.pipeline.steps import step

with step(snakemake.log[0], "fetch_astrans") as log:
    cfg = snakemake.params.config["sdss"]
    rel = astrans_relpath(int(snakemake.wildcards.run), cfg["rerun"], cfg["data_release"])
    frame_source(snakemake.params.config).fetch(rel, Path(snakemake.output[0]))
    log.info("%s: %d bytes", rel, Path(snakemake.output[0]).stat().st_size)
