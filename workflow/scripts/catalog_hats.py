"""Rule catalog_hats: the catalogue as a HATS catalogue (for lsdb)."""

from pathlib import Path

from yl8c4net.catalog.hats import write_hats
from yl8c4net.pipeline.steps import step

with step(snakemake.log[0], "catalog_hats") as log:
    out = Path(snakemake.output.collection).parent
    rows = write_hats(snakemake.input[0], out)
    log.info("HATS catalogue %s: %d rows", out, rows)
