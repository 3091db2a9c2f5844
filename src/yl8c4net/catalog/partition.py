"""One run's catalogue partition from its per-field files (rule ``catalog_run``): the
classified detections of every catalogued field, the run's PhotoObjAll rows, the earlier
runs' partitions; gathered by `yl8c4net.catalog.build.gather_run` and written with provenance."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from yl8c4net.pipeline.blocks import field_path, field_status, field_tag, ok_fields, quarantine_origins
from yl8c4net.catalog.build import MergeRule, RunCatalog, gather_run
from yl8c4net.catalog.columns import CATALOG_COLUMNS, CLASS_DTYPE, DUPLICATE_COLUMNS, UNMATCHED_COLUMNS
from yl8c4net.catalog.files import concat_catalog_parquet, read_provenance, write_catalog_parquet
from yl8c4net.catalog.provenance import data_provenance
from yl8c4net.classify.catalog_classes import IMAGE_PROBABILITY_COLUMNS, assign_classes, keep_image_answer
from yl8c4net.classify.fusion import load_fusion
from yl8c4net.detect.bright import BRIGHT_TILE
from yl8c4net.io import sha256_of

log = logging.getLogger(__name__)


def load_run_detections(manifests, files: dict) -> tuple[pd.DataFrame, dict, set, dict]:
    """The classified detections of every field that the block manifests (the classify
    stage's, and any other stage's that can quarantine a field on its own, as PhotoObjAll's)
    all list as ok.

    Returns
    -------
    detections : pandas.DataFrame
        All fields' rows with ``run``, ``rerun``, ``camcol``, ``field``, ``box`` (larger box
        side), ``det_conf`` and Conv4Net's answer as ``class_image`` and ``p_*_image``.
    frames : dict
        ``run-camcol-field`` -> {band: frame SHA-256, "irg": JPEG SHA-256}, for provenance.
    detector_sha256 : set of str
        Checksums of the detector weights the detections were made with.
    status : dict
        Every field -> None (catalogued) or its quarantine reason.
    """
    status = field_status(manifests)
    parts, frames, detector_sha = [], {}, set()
    for fid, reason in sorted(status.items()):
        if reason is not None:
            log.warning("%s not in the catalogue: %s", fid, reason)
            continue
        manifest = json.loads(Path(field_path(files["frames"], fid)).read_text())
        # The pixels the catalogue came from: the frames, and the irg JPEG (the composite; in
        # lean mode the only image a field has).
        frames[field_tag(fid)] = {band: f["sha256"] for band, f in manifest["frames"].items()}
        if manifest.get("irg_jpeg_sha256"):
            frames[field_tag(fid)]["irg"] = manifest["irg_jpeg_sha256"]
        meta = pq.read_schema(field_path(files["detections"], fid)).metadata or {}
        detector_sha.add(meta.get(b"model_sha256", b"").decode())
        d = keep_image_answer(pd.read_parquet(field_path(files["classified"], fid)))
        if len(d):
            parts.append(
                d.assign(
                    run=manifest["run"],
                    rerun=manifest["rerun"],
                    camcol=manifest["camcol"],
                    field=manifest["field"],
                    box=d[["w", "h"]].max(axis=1),
                    det_conf=d["conf"],
                    det_method=np.where(d["tile"].to_numpy() == BRIGHT_TILE, 1, 0).astype(np.int16),
                    class_image=d["class_image"].astype(CLASS_DTYPE),
                )
            )
    empty = pd.DataFrame(
        columns=[
            "ra",
            "dec",
            "run",
            "camcol",
            "field",
            "x",
            "y",
            "det_conf",
            "det_method",
            "class_image",
            *IMAGE_PROBABILITY_COLUMNS,
        ]
    )
    detections = pd.concat(parts, ignore_index=True) if parts else empty
    return detections, frames, detector_sha, status


def build_run_partition(
    run: int,
    classify_manifests,
    photoobj_manifests,
    earlier_partitions,
    classifier_weights,
    files: dict,
    settings: dict,
    outputs: dict,
    code_version: str = "",
    block_templates: dict | None = None,
    fusion_model=None,
    fusion_settings: dict | None = None,
    data_settings: dict | None = None,
) -> RunCatalog:
    """Build and write one run's partition.

    ``fusion_model`` (a path, or None for the image-only answer) and ``fusion_settings``
    (the config's ``fusion`` section) give the rows their ``class`` and ``p_*``
    (`yl8c4net.classify.catalog_classes.assign_classes`). ``data_settings`` (the config's
    ``sdss`` and ``detector`` keys `yl8c4net.catalog.provenance.data_provenance` reads) adds
    where the data came from and the detection thresholds to the provenance (``data``).
    ``settings`` is the config's ``catalog`` section; ``outputs`` names the ``matched``,
    ``unmatched`` and ``duplicates`` Parquet files; ``block_templates`` (stage -> block
    manifest path template) lets the provenance name the block to force for each
    quarantined field. Returns the gather result.
    """
    # A field quarantined at any stage is left out, its PhotoObjAll query included: its
    # detections are not "new sources", and it counts among the quarantined fields.
    manifests = [*classify_manifests, *photoobj_manifests]
    det, frames, detector_sha, status = load_run_detections(manifests, files)
    earlier = [pd.read_parquet(p, columns=["ra", "dec"]) for p in earlier_partitions]
    photo = pd.concat(
        [pd.read_parquet(field_path(files["photoobj"], f)) for f in ok_fields(photoobj_manifests)],
        ignore_index=True,
    )
    rule = MergeRule(
        settings["dedup_radius_arcsec"], settings["merge_min_ios"], settings["merge_max_offset_box_fraction"]
    )
    catalogued = {(f.run, f.camcol, f.field) for f, reason in status.items() if reason is None}
    result = gather_run(det, photo, earlier, rule, settings["match_radius_arcsec"], catalogued)
    fusion = load_fusion(fusion_model) if fusion_model else None
    result.matched, (result.unmatched, result.duplicates), class_info = assign_classes(
        result.matched, [result.unmatched, result.duplicates], photo, fusion, fusion_settings or {}
    )
    provenance = {
        "code_version": code_version,
        "run": int(run),
        "fields_asked": len(status),
        "quarantined": quarantine_origins(manifests, block_templates) if block_templates else {},
        "detector_sha256": sorted(detector_sha),
        "classifier_sha256": sha256_of(classifier_weights),
        "fusion_sha256": sha256_of(fusion_model) if fusion_model else None,
        **class_info,
        "frames_sha256": frames,
        **settings,
        "earlier_partitions": [str(p) for p in earlier_partitions],
    }
    if data_settings is not None:
        provenance["data"] = data_provenance(data_settings, sorted(detector_sha))
    write_catalog_parquet(result.matched, outputs["matched"], provenance, CATALOG_COLUMNS)
    write_catalog_parquet(result.unmatched, outputs["unmatched"], provenance, UNMATCHED_COLUMNS)
    write_catalog_parquet(result.duplicates, outputs["duplicates"], provenance, DUPLICATE_COLUMNS)
    reasons = result.duplicates["duplicate_reason"].value_counts().to_dict() if len(result.duplicates) else {}
    log.info("run %d: %d fields catalogued, %d quarantined", run, len(frames), len(status) - len(frames))
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
    return result


def merge_partitions(partitions, out_path, columns, code_version: str = "") -> int:
    """Concatenate run partitions (in config order) into one catalogue file, one row group
    in memory at a time (`~yl8c4net.catalog.files.concat_catalog_parquet`); each partition's
    provenance is kept in the merged file's metadata. Returns the row count."""
    provenance = {"code_version": code_version, "partitions": {str(p): read_provenance(p) for p in partitions}}
    return concat_catalog_parquet(list(partitions), out_path, provenance, columns)


def coverage_summary(partitions) -> tuple[int, int, dict]:
    """(fields asked, fields catalogued, quarantined fields -> {stage, reason, retry}) over
    run partitions, from their provenance."""
    asked, done, quarantined = 0, 0, {}
    for path in partitions:
        prov = read_provenance(path)
        asked += prov.get("fields_asked", 0)
        done += len(prov.get("frames_sha256", {}))
        quarantined.update(prov.get("quarantined", {}))
    return asked, done, quarantined
