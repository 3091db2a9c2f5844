"""Rule catalog_run: one run's catalogue partition (field ownership of overlaps, dedup,
exclusion of sources already in earlier runs' partitions, one-to-one PhotoObjAll crossmatch),
sorted by sky position."""

import json
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from yl8c4net.blocks import field_path, field_status, field_tag, ok_fields
from yl8c4net.catalog import (
    CLASS_DTYPE,
    DUPLICATE_COLUMNS,
    UNMATCHED_COLUMNS,
    MergeRule,
    gather_run,
    write_catalog_parquet,
)
from yl8c4net.io import sha256_of
from yl8c4net.steps import step

with step(snakemake.log[0], "catalog_run") as log:
    cat = snakemake.params.config["catalog"]
    run = int(snakemake.wildcards.run)
    files = snakemake.params.files
    parts, frames, model_sha = [], {}, set()
    status = field_status(snakemake.input.classified)
    for fid, reason in sorted(status.items()):
        if reason is not None:
            log.warning("%s not in the catalogue: %s", fid, reason)
            continue
        m = json.loads(Path(field_path(files["frames"], fid)).read_text())
        frames[field_tag(fid)] = {b: f["sha256"] for b, f in m["frames"].items()}
        meta = pq.read_schema(field_path(files["detections"], fid)).metadata or {}
        model_sha.add(meta.get(b"model_sha256", b"").decode())
        d = pd.read_parquet(field_path(files["classified"], fid))
        if len(d):
            parts.append(
                d.assign(
                    run=m["run"],
                    rerun=m["rerun"],
                    camcol=m["camcol"],
                    field=m["field"],
                    box=d[["w", "h"]].max(axis=1),
                    det_conf=d["conf"],
                    **{"class": d["class"].astype(CLASS_DTYPE)},
                )
            )
    det = (
        pd.concat(parts, ignore_index=True)
        if parts
        else pd.DataFrame(columns=["ra", "dec", "run", "camcol", "field", "x", "y", "det_conf"])
    )
    earlier = [pd.read_parquet(p, columns=["ra", "dec"]) for p in snakemake.input.earlier]
    photo = pd.concat(
        [pd.read_parquet(field_path(files["photoobj"], f)) for f in ok_fields(snakemake.input.photoobj)],
        ignore_index=True,
    )
    rule = MergeRule(cat["dedup_radius_arcsec"], cat["merge_min_ios"], cat["merge_max_offset_box_fraction"])
    catalogued = {(f.run, f.camcol, f.field) for f, reason in status.items() if reason is None}
    result = gather_run(det, photo, earlier, rule, cat["match_radius_arcsec"], catalogued)
    provenance = {
        "code_version": snakemake.params.code,
        "run": run,
        "detector_sha256": sorted(model_sha),
        "classifier_sha256": sha256_of(snakemake.input.classifier),
        "frames_sha256": frames,
        **cat,
        "earlier_partitions": list(snakemake.input.earlier),
    }
    write_catalog_parquet(result.matched, snakemake.output.matched, provenance)
    write_catalog_parquet(result.unmatched, snakemake.output.unmatched, provenance, UNMATCHED_COLUMNS)
    write_catalog_parquet(result.duplicates, snakemake.output.duplicates, provenance, DUPLICATE_COLUMNS)
    log.info("run %d: %d fields catalogued, %d quarantined", run, len(frames), len(status) - len(frames))
    reasons = result.duplicates["duplicate_reason"].value_counts().to_dict() if len(result.duplicates) else {}
    log.info(
        "run %d: %d detections -> %d in rows their field owns -> %d unique -> %d new (%d already in earlier"
        " runs) -> %d matched, %d unmatched",
        run,
        len(det),
        len(det) - reasons.get("field_overlap", 0),
        result.unique,
        len(result.matched) + len(result.unmatched),
        reasons.get("earlier_run", 0),
        len(result.matched),
        len(result.unmatched),
    )
