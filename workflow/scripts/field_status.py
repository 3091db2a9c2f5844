"""Rule field_status: one line per field (frames status, catalogue rows), quarantine listed."""

import json
from pathlib import Path

import pandas as pd

from yl8c4net.blocks import field_path, field_status
from yl8c4net.steps import step

with step(snakemake.log[0], "field_status") as log:
    status = field_status(list(snakemake.input.frames) + list(snakemake.input.photoobj))
    rows = []
    for fid, reason in sorted(status.items()):
        paths = {
            k: field_path(snakemake.params.files[v], fid) for k, v in (("manifest", "frames"), ("photoobj", "photoobj"))
        }
        m = json.loads(Path(paths["manifest"]).read_text()) if Path(paths["manifest"]).is_file() else {}
        photo = Path(paths["photoobj"])
        rows.append(
            {
                "run": fid.run,
                "camcol": fid.camcol,
                "field": fid.field,
                "status": "ok" if reason is None else "quarantined",
                "bands": "".join(sorted(m.get("frames", {}), key="ugriz".index)),
                "irg_jpeg": bool(m.get("irg_jpeg")),
                "n_photoobj": len(pd.read_parquet(photo, columns=["objid"])) if photo.is_file() else 0,
                "reason": reason or "",
            }
        )
    table = pd.DataFrame(rows)
    for r in table[table["status"] != "ok"].itertuples():
        log.warning("quarantined run %d camcol %d field %d: %s", r.run, r.camcol, r.field, r.reason)
    log.info("%d fields ok, %d quarantined", (table["status"] == "ok").sum(), (table["status"] != "ok").sum())
    table.to_csv(snakemake.output[0], sep="\t", index=False)
