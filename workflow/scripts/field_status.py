"""Rule field_status: one line per field (frames status, catalogue rows), quarantine listed."""

import json

import pandas as pd

from yl8c4net.steps import step

with step(snakemake.log[0], "field_status") as log:
    rows = []
    for manifest_path, photo_path in zip(snakemake.input.manifests, snakemake.input.photoobj):
        m = json.loads(open(manifest_path).read())
        rows.append({
            "run": m["run"], "camcol": m["camcol"], "field": m["field"], "status": m["status"],
            "bands": "".join(sorted(m["frames"], key="ugriz".index)),
            "irg_jpeg": bool(m["irg_jpeg"]), "n_photoobj": len(pd.read_parquet(photo_path, columns=["objid"])),
            "reason": m["reason"] or "",
        })
    table = pd.DataFrame(rows)
    for r in table[table["status"] != "ok"].itertuples():
        log.warning("quarantined run %d camcol %d field %d: %s", r.run, r.camcol, r.field, r.reason)
    log.info("%d fields ok, %d quarantined", (table["status"] == "ok").sum(), (table["status"] != "ok").sum())
    table.to_csv(snakemake.output[0], sep="\t", index=False)
