"""Rule fetch_field: verified frames (+ official JPEG) of one field, and its manifest."""

from pathlib import Path

from yl8c4net.config import frame_source
from yl8c4net.fetch import fetch_field, write_json_atomic
from yl8c4net.sdss.fields import FieldId
from yl8c4net.steps import step

with step(snakemake.log[0], "fetch_field") as log:
    cfg = snakemake.config
    w = snakemake.wildcards
    fid = FieldId(int(w.run), int(w.camcol), int(w.field), cfg["sdss"]["rerun"])
    out = Path(snakemake.output.manifest)
    manifest = fetch_field(fid, frame_source(cfg), cfg["sdss"]["bands"], out.parent)
    write_json_atomic(manifest, out)
