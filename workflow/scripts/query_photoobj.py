"""Rule query_photoobj: PhotoObjAll rows of one field, cached as Parquet."""

from yl8c4net.config import catalog_backend
from yl8c4net.sdss.catalog import write_parquet
from yl8c4net.sdss.fields import FieldId
from yl8c4net.steps import step

with step(snakemake.log[0], "query_photoobj") as log:
    cfg = snakemake.config
    w = snakemake.wildcards
    fid = FieldId(int(w.run), int(w.camcol), int(w.field), cfg["sdss"]["rerun"])
    table = catalog_backend(cfg).photoobj_field(fid)
    log.info("%s: %d PhotoObjAll rows", fid, len(table))
    write_parquet(table, snakemake.output[0])
