"""Field blocks: the unit of work of the per-field rules.

A survey of 20 runs is ~27 k fields; seven per-field rules would make a DAG of ~190 k jobs,
which Snakemake needs many minutes to build (benchmarks/dryrun_scale.py). The per-field
rules therefore run on *blocks* of consecutive fields of one run and camcol (config
``fields_per_block``, 100 by default): the DAG has one job per block and stage, while every
field still gets its own output files at its own path.

Each block job writes a small JSON manifest, its declared output, that lists every field of
the block as ``ok`` or ``quarantined`` (with the one-line reason). The next stage reads the
manifest, skips quarantined fields, and records them as quarantined in turn, so one bad
field never fails the other 49, and never disappears silently.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from yl8c4net.errors import (
    BlockManifestError,
    CatalogValidationError,
    DownloadError,
    FrameVerificationError,
    QueryError,
)
from yl8c4net.io import sha256_of, write_json_atomic
from yl8c4net.sdss.fields import FieldId

#: Errors that concern one field's data: the field is quarantined, the block goes on.
FIELD_ERRORS = (FrameVerificationError, DownloadError, QueryError, CatalogValidationError)


@dataclass(frozen=True)
class FieldBlock:
    """Consecutive fields of one run and camcol, named ``{first:04d}-{last:04d}``."""

    run: int
    camcol: int
    fields: tuple[int, ...]
    rerun: int

    @property
    def name(self) -> str:
        return f"{self.fields[0]:04d}-{self.fields[-1]:04d}"

    def field_ids(self) -> list[FieldId]:
        return [FieldId(self.run, self.camcol, f, self.rerun) for f in self.fields]

    def __str__(self) -> str:
        return f"run {self.run} camcol {self.camcol} fields {self.fields[0]}-{self.fields[-1]}"


def field_blocks(fields: Iterable[FieldId], size: int) -> list[FieldBlock]:
    """Cut each run/camcol's fields (in the given order) into blocks of at most ``size``."""
    by_strip: dict[tuple[int, int, int], list[int]] = {}
    for f in fields:
        by_strip.setdefault((f.run, f.camcol, f.rerun), []).append(f.field)
    return [
        FieldBlock(run, camcol, tuple(nums[k : k + size]), rerun)
        for (run, camcol, rerun), nums in by_strip.items()
        for k in range(0, len(nums), size)
    ]


def read_block_manifest(path: str | Path) -> dict:
    """A block manifest, checked: ``{"stage", "run", "camcol", "block", "fields": {field: entry}}``
    with each entry ``{"status": "ok"}`` or ``{"status": "quarantined", "reason": ...}``."""
    path = Path(path)
    try:
        m = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise BlockManifestError(f"{path}: not a readable block manifest ({exc})") from None
    entries = m.get("fields") if isinstance(m, dict) else None
    if not isinstance(entries, dict) or not all(
        isinstance(e, dict) and e.get("status") in ("ok", "quarantined") for e in entries.values()
    ):
        raise BlockManifestError(f"{path}: block manifest lacks a valid 'fields' status table")
    return m


def field_status(manifest_paths: Iterable[str | Path]) -> dict[FieldId, str | None]:
    """Every field of the given block manifests -> None when ok in all of them, else the
    first quarantine reason (prefixed with its stage)."""
    status: dict[FieldId, str | None] = {}
    for path in manifest_paths:
        m = read_block_manifest(path)
        for num, entry in m["fields"].items():
            fid = FieldId(m["run"], m["camcol"], int(num), m.get("rerun", 301))
            if status.get(fid) is None:
                status[fid] = None if entry["status"] == "ok" else f"{m['stage']}: {entry['reason']}"
    return status


def quarantine_origins(manifest_paths: Iterable[str | Path], block_templates: dict) -> dict[str, dict]:
    """Every quarantined field of the given (last-stage) block manifests -> its reason, the
    stage that quarantined it (the innermost ``stage:`` prefix of the propagated reason) and
    the block manifest of that stage: forcing it (``snakemake -R {path}``) retries the field
    and everything downstream. Keys are ``run-camcol-field`` tags."""
    out = {}
    for path in manifest_paths:
        m = read_block_manifest(path)
        for num, entry in m["fields"].items():
            if entry["status"] == "ok":
                continue
            origin, rest = m["stage"], entry["reason"]
            while ": " in rest and rest.split(": ", 1)[0] in block_templates:
                origin, rest = rest.split(": ", 1)
            fid = FieldId(m["run"], m["camcol"], int(num), m.get("rerun", 301))
            out[field_tag(fid)] = {
                "stage": origin,
                "reason": rest,
                "retry": block_templates[origin].format(run=fid.run, camcol=fid.camcol, block=m["block"]),
            }
    return out


def ok_fields(manifest_paths: Iterable[str | Path]) -> list[FieldId]:
    return sorted(f for f, reason in field_status(manifest_paths).items() if reason is None)


#: The per-field files (keys of the workflow's FIELD_FILES) each stage writes; their
#: checksums go into the block manifest, so a changed field file changes the manifest.
STAGE_FILES = {
    "fetch": ("frames",),
    "photoobj": ("photoobj",),
    "composite": ("composite", "composite_info"),
    "tiles": ("tiles_summary",),
    "cutouts": ("cutout_images", "cutout_table"),
    "detect": ("detections",),
    "classify": ("classified",),
}


def run_block(
    stage: str,
    block: FieldBlock,
    out_path: str | Path,
    upstream: Iterable[str | Path],
    work: Callable[[FieldId], str | None],
    log,
    files: dict | None = None,
    workers: int = 1,
    pool: str = "threads",
) -> dict:
    """Run ``work`` on every field of ``block`` and write the block manifest.

    ``work(field)`` returns None when the field is done, or a one-line reason to quarantine
    it; it may also raise one of `FIELD_ERRORS` for the same effect. Fields quarantined by an
    upstream stage are not worked on. Any other exception fails the job: a bug or a bad
    model is not a property of one field. With ``files`` (the per-field path templates), an
    ok field's entry records the SHA-256 of each file the stage wrote (`STAGE_FILES`).

    ``workers`` > 1 works on that many fields at once, in threads (``work`` must be safe to
    call concurrently: each field writes only its own files). Downloads, decompression,
    image coding and numpy release the GIL, so a block job uses the cores and connections it
    was given; the manifest is the same as with one worker, in field order. On an error that
    fails the job, fields not yet started are cancelled.

    ``work`` may also be a recipe (`yl8c4net.pipeline.field_pool.FieldWorkRecipe`), built
    here, or with ``pool="processes"`` once in each of ``workers`` spawned processes, for
    work that holds the GIL (`yl8c4net.pipeline.field_pool`); the manifest and every
    field's files are the same either way.
    """
    from yl8c4net.pipeline import field_pool

    if pool not in field_pool.POOLS:
        raise ValueError(f"{stage}: pool {pool!r} is not one of {field_pool.POOLS}")
    before = field_status(upstream)
    to_work_on = [f for f in block.field_ids() if before.get(f) is None and (f in before or not before)]
    in_processes = pool == "processes" and workers > 1 and len(to_work_on) > 1
    if pool == "processes" and not hasattr(work, "build"):
        raise TypeError(f"{stage}: a process pool needs a recipe with build(), not {work!r}")
    with contextlib.ExitStack() as stack:
        if in_processes:
            work = stack.enter_context(field_pool.process_pool(work, workers))
        elif hasattr(work, "build"):
            work = work.build()
        return _run_fields(stage, block, out_path, before, work, log, files, workers, pool if in_processes else "")


def _run_fields(stage, block, out_path, before, work, log, files, workers, pool_note) -> dict:
    fields = block.field_ids()
    t_block = time.perf_counter()
    done = 0

    def one_field(fid: FieldId) -> dict:
        reason = before.get(fid)
        if fid not in before and before:
            reason = "missing from the upstream block manifest"
        if reason is None:
            try:
                reason = work(fid)
            except FIELD_ERRORS as exc:
                reason = str(exc)
            if reason is not None and not isinstance(reason, str):
                # Only a one-line reason quarantines a field: anything else is a bug of the stage.
                raise TypeError(f"{stage}: the work on {fid} returned {reason!r}, not None or a reason")
        entry = {"status": "ok"} if reason is None else {"status": "quarantined", "reason": reason}
        if reason is None and files:
            written = {key: Path(field_path(files[key], fid)) for key in STAGE_FILES.get(stage, ())}
            entry["sha256"] = {key: sha256_of(p) for key, p in written.items() if p.is_file()}
        return entry

    def report(fid: FieldId, entry: dict, seconds: float) -> None:
        nonlocal done
        done += 1
        if entry["status"] == "ok":
            log.info("[%d/%d] %s: ok (%.1f s)", done, len(fields), fid, seconds)
        else:
            log.warning("[%d/%d] %s: quarantined: %s", done, len(fields), fid, entry["reason"])

    def timed_field(fid: FieldId) -> tuple[dict, float]:
        t0 = time.perf_counter()
        return one_field(fid), time.perf_counter() - t0

    entries = {}
    if workers <= 1 or len(fields) <= 1:
        for fid in fields:
            entry, seconds = timed_field(fid)
            entries[str(fid.field)] = entry
            report(fid, entry, seconds)
    else:
        from concurrent.futures import ThreadPoolExecutor, as_completed

        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"{stage}-field")
        try:
            futures = {pool.submit(timed_field, fid): fid for fid in fields}
            for future in as_completed(futures):
                entry, seconds = future.result()  # re-raises what fails the job
                entries[str(futures[future].field)] = entry
                report(futures[future], entry, seconds)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        entries = {str(fid.field): entries[str(fid.field)] for fid in fields}
    manifest = {
        "stage": stage,
        "run": block.run,
        "rerun": block.rerun,
        "camcol": block.camcol,
        "block": block.name,
        "fields": entries,
    }
    write_json_atomic(manifest, out_path)
    n_bad = sum(e["status"] != "ok" for e in entries.values())
    log.info(
        "%s %s: %d fields ok, %d quarantined, %.1f s%s",
        stage,
        block,
        len(entries) - n_bad,
        n_bad,
        time.perf_counter() - t_block,
        f" ({workers} fields at a time{', in ' + pool_note if pool_note else ''})" if workers > 1 else "",
    )
    return manifest


def field_path(template: str, fid: FieldId) -> str:
    """A per-field file name from its ``{run}/{camcol}/{field}`` template."""
    return template.format(run=fid.run, camcol=fid.camcol, field=fid.field)


def field_tag(fid: FieldId) -> str:
    """``run-camcol-field``: the key of a field in dataset splits and metrics."""
    return f"{fid.run}-{fid.camcol}-{fid.field}"


def block_of_job(job) -> FieldBlock:
    """The block a Snakemake block job works on: wildcards ``run`` and ``camcol``, the
    field numbers in ``params.fields``, the rerun from the rule's config slice."""
    w = job.wildcards
    return FieldBlock(int(w.run), int(w.camcol), tuple(job.params.fields), job.params.config["sdss"]["rerun"])


def field_status_table(manifest_paths: Iterable[str | Path], files: dict):
    """One row per field of the block manifests: run, camcol, field, status (ok or
    quarantined), fetched bands, whether the official irg JPEG was used, the bytes of the
    field's files (what a fresh run downloads for it), PhotoObjAll rows,
    the kind of fault ("data" for every quarantine) and the quarantine reason (rule
    ``field_status``)."""
    import pandas as pd

    rows = []
    for fid, reason in sorted(field_status(manifest_paths).items()):
        manifest_path = Path(field_path(files["frames"], fid))
        manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {}
        photo = Path(field_path(files["photoobj"], fid))
        rows.append(
            {
                "run": fid.run,
                "camcol": fid.camcol,
                "field": fid.field,
                "status": "ok" if reason is None else "quarantined",
                "bands": "".join(sorted(manifest.get("frames", {}), key="ugriz".index)),
                "irg_jpeg": bool(manifest.get("irg_jpeg")),
                "bytes": int(manifest.get("bytes", 0)),
                "n_photoobj": len(pd.read_parquet(photo, columns=["objid"])) if photo.is_file() else 0,
                # Only defects of the data quarantine a field; a transient failure (network,
                # service) fails the job instead and never reaches this table.
                "fault": "" if reason is None else "data",
                "reason": reason or "",
            }
        )
    return pd.DataFrame(rows)
