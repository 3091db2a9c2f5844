"""Rule field_status: one line per field (frames status, catalogue rows), quarantine listed."""

from yl8c4net.pipeline.blocks import field_status_table
from yl8c4net.pipeline.steps import step

with step(snakemake.log[0], "field_status") as log:
    table = field_status_table(list(snakemake.input.frames) + list(snakemake.input.photoobj), snakemake.params.files)
    quarantined = table[table["status"] != "ok"]
    for row in quarantined.itertuples():
        log.warning("quarantined run %d camcol %d field %d: %s", row.run, row.camcol, row.field, row.reason)
    log.info("%d fields ok, %d quarantined", len(table) - len(quarantined), len(quarantined))
    table.to_csv(snakemake.output[0], sep="\t", index=False)
