"""Rule catalog_run: one run's catalogue partition (dedup, exclusion of sources already in
earlier runs' partitions, PhotoObjAll crossmatch), sorted by sky position."""

import json
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

import yl8c4net
from yl8c4net.catalog import CLASS_DTYPE, gather_run, write_catalog_parquet
from yl8c4net.config import config_hash
from yl8c4net.fetch import sha256_of
from yl8c4net.steps import step

with step(snakemake.log[0], "catalog_run") as log:
    cfg = snakemake.config
    cat = cfg["catalog"]
    run = int(snakemake.wildcards.run)
    parts, frames = [], {}
    for det_path, manifest_path in zip(snakemake.input.classified, snakemake.input.manifests):
        m = json.loads(Path(manifest_path).read_text())
        frames[f"{m['run']}-{m['camcol']}-{m['field']}"] = {b: f["sha256"] for b, f in m["frames"].items()}
        d = pd.read_parquet(det_path)
        if len(d):
            parts.append(d.assign(run=m["run"], rerun=m["rerun"], camcol=m["camcol"], field=m["field"],
                                  box=d[["w", "h"]].max(axis=1), det_conf=d["conf"],
                                  **{"class": d["class"].astype(CLASS_DTYPE)}))
    det = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(
        columns=["ra", "dec", "run", "camcol", "field", "x", "y", "det_conf"])
    earlier = [pd.read_parquet(p, columns=["ra", "dec"]) for p in snakemake.input.earlier]
    photo = pd.concat([pd.read_parquet(p) for p in snakemake.input.photoobj], ignore_index=True)
    result = gather_run(det, photo, earlier, cat["dedup_radius_arcsec"], cat["match_radius_arcsec"])
    model_sha = sorted({(pq.read_schema(p).metadata or {}).get(b"model_sha256", b"").decode()
                        for p in snakemake.input.detections})
    provenance = {
        "code_version": yl8c4net.__version__, "config_hash": config_hash(cfg), "run": run,
        "detector_sha256": model_sha, "classifier_sha256": sha256_of(snakemake.input.classifier),
        "frames_sha256": frames, "dedup_radius_arcsec": cat["dedup_radius_arcsec"],
        "match_radius_arcsec": cat["match_radius_arcsec"], "earlier_partitions": list(snakemake.input.earlier),
    }
    write_catalog_parquet(result.matched, snakemake.output.matched, provenance)
    write_catalog_parquet(result.unmatched, snakemake.output.unmatched, provenance)
    write_catalog_parquet(result.duplicates, snakemake.output.duplicates, provenance)
    log.info("run %d: %d detections -> %d unique -> %d new (%d already in earlier runs) -> %d matched, %d unmatched",
             run, len(det), result.unique, len(result.matched) + len(result.unmatched), len(result.duplicates),
             len(result.matched), len(result.unmatched))
