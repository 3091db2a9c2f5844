# Shared set-up: config validation, the field list, wildcard constraints, path helpers.

import json
import sys

from pathlib import Path

from yl8c4net.pipeline.blocks import field_blocks
from yl8c4net.pipeline.code_version import script_code_version
from yl8c4net.config import check_real_pixel_fields, field_ids, validate_config
from yl8c4net.errors import ConfigError, YL8C4NetError
from yl8c4net.images.imageio import image_suffix
from yl8c4net.sdss.fields import field_triple

# One line naming the bad key, instead of a schema dump or a traceback.
try:
    _validated = validate_config(
        config, workflow.source_path("../schemas/config.schema.yaml"), source="config"
    )
except ConfigError as exc:
    sys.exit(f"ERROR {exc}")
# `shipped` names a model inside the package: the workflow works on a copy under its own
# tree (rule stage_shipped_model), so that no param or input holds the path where the
# package is installed, and a project moved elsewhere reruns nothing.
SHIPPED_MODEL = "resources/models/shipped/{model_file}"
SHIPPED_MODEL_FILES = {
    "detector": "detector.pt",
    "classifier": "classifier.pt",
    "fusion": "fusion.joblib",
}
for _section, _key, _kind in (
    ("detector", "weights", "detector"),
    ("detector", "init_weights", "detector"),
    ("classifier", "weights", "classifier"),
    ("fusion", "model", "fusion"),
):
    if config.get(_section, {}).get(_key) == "shipped":
        _validated[_section][_key] = SHIPPED_MODEL.format(
            model_file=SHIPPED_MODEL_FILES[_kind]
        )
config.clear()
config.update(_validated)


# A missing or malformed field index, or a real_pixels field the runs do not fetch: one line.
try:
    FIELDS = field_ids(config)
    check_real_pixel_fields(config, FIELDS)
except YL8C4NetError as exc:
    sys.exit(f"ERROR {exc}")
RUNS = sorted({fid.run for fid in FIELDS})
# Catalogue partitions are built in config order: adding a run at the end of the list
# recomputes only that run's jobs, its partition and the final concatenation.
ROLES = ("detect_train", "classify_train", "catalog")
RUNS_BY_ROLE = {
    role: [r["run"] for r in config["runs"] if role in r.get("roles", ROLES)]
    for role in ROLES
}
RUNS_IN_ORDER = RUNS_BY_ROLE["catalog"]
MIRROR = config["sdss"].get("mirror_root", "")
SIMULATED = config["simulate"]["enabled"]
COMPOSITE_SUFFIX = image_suffix(3 + len(config["training_data"]["extra_bands"]))
# Lean mode: one asTrans file per run replaces the r frames' WCS.
ASTRANS_FILE = "resources/astrans/asTrans-{run}.fit"
ASTRANS_INPUT = [ASTRANS_FILE] if config["sdss"]["lean"] else []
# What fetch_block downloads per field, in words (its dry-run message).
FETCHED_FILES = (
    f"frames {','.join(config['sdss']['bands']) or 'none (WCS from the run asTrans)'} + the irg JPEG (g, r, i frames where the archive has none)"
    if config["training_data"]["use_official_jpeg"]
    else f"frames {','.join(config['sdss']['bands'])}"
)


# Per-field stages run on blocks of consecutive fields (yl8c4net.pipeline.blocks): one job per
# block and stage keeps the DAG of a 27k-field survey small; outputs stay per field.
BLOCKS = field_blocks(FIELDS, config["fields_per_block"])
# Fields a CPU block job works on at once (its threads; yl8c4net.pipeline.blocks.run_block).
FIELD_THREADS = config["field_workers"]["cpu"]
GPU_FIELD_THREADS = config["field_workers"]["gpu"]


def gpu_block_mem_mb(base_mb, threads, worker_processes=False):
    """Memory (MB) of a detect or classify block job: its model and process, plus about
    900 MB per field in flight (one per thread; benchmarks/block_throughput.py measures it),
    so that a profile's set-threads raises the request with the fields in flight; with
    ``worker_processes`` (field_workers.pool: processes), 800 MB more per field in flight
    for each worker's own interpreter, torch and model."""
    return base_mb + (900 + (800 if worker_processes else 0)) * threads


#: Classification blocks run their fields in flight in worker processes.
CLASSIFY_IN_PROCESSES = config["field_workers"]["pool"] == "processes"


BLOCK_BY_NAME = {(b.run, b.camcol, b.name): b for b in BLOCKS}
BLOCK_OF_FIELD = {(b.run, b.camcol, f): b for b in BLOCKS for f in b.fields}

# Files each block job writes for every field of its block (the block manifest, the job's
# declared output, says which fields are ok).
FIELD_FILES = {
    "frames": "resources/frames/{run}/{camcol}/{field}/manifest.json",
    "photoobj": "resources/catalogs/photoobj/{run}/{camcol}/{field}.parquet",
    "composite": f"resources/composite/{{run}}/{{camcol}}/{{field}}{COMPOSITE_SUFFIX}",
    "composite_info": "resources/composite/{run}/{camcol}/{field}.json",
    "tiles": "resources/training/detect/{run}/{camcol}/{field}",
    "tiles_summary": "resources/training/detect/{run}/{camcol}/{field}.json",
    "cutout_images": "resources/training/classify/{run}/{camcol}/{field}.npy",
    "cutout_table": "resources/training/classify/{run}/{camcol}/{field}.parquet",
    "detections": "results/detections/{run}/{camcol}/{field}.parquet",
    "classified": "results/classified/{run}/{camcol}/{field}.parquet",
}
BLOCK_MANIFESTS = {
    "simulate": f"{MIRROR}/sim/blocks/{{run}}/{{camcol}}/{{block}}.json",
    "fetch": "resources/frames/{run}/{camcol}/block-{block}.json",
    "photoobj": "resources/catalogs/photoobj/{run}/{camcol}/block-{block}.json",
    "composite": "resources/composite/{run}/{camcol}/block-{block}.json",
    "tiles": "resources/training/detect/{run}/{camcol}/block-{block}.json",
    "cutouts": "resources/training/classify/{run}/{camcol}/block-{block}.json",
    "detect": "results/detections/{run}/{camcol}/block-{block}.json",
    "classify": "results/classified/{run}/{camcol}/block-{block}.json",
}


wildcard_constraints:
    run=r"\d{1,6}",
    camcol=r"[1-6]",
    field=r"\d{1,4}",
    block=r"\d{4}-\d{4}",


BLOCKS_OF_RUN = {}
for _b in BLOCKS:
    BLOCKS_OF_RUN.setdefault(_b.run, []).append(_b)


def block_manifests(stage, role=None, run=None):
    """The block manifests of `stage` for all blocks, those of runs playing `role`, or one run."""
    blocks = BLOCKS if run is None else BLOCKS_OF_RUN.get(int(run), [])
    runs = None if role is None else set(RUNS_BY_ROLE[role])
    return [
        BLOCK_MANIFESTS[stage].format(run=b.run, camcol=b.camcol, block=b.name)
        for b in blocks
        if runs is None or b.run in runs
    ]


# A mirror's catalogue tables are the PhotoObjAll blocks' inputs (a real mirror, not the
# simulated one, which the workflow writes itself): a table fixed or added in the mirror then
# reruns its block with the plain command (its mtime, or the set of inputs, changed).
LOCAL_CATALOG = config["sdss"]["catalog_source"] == "mirror" and not SIMULATED


def mirror_photoobj_files(wildcards):
    """The mirror's PhotoObjAll tables of this block's fields, those it has (a missing one is
    that field's quarantine, not a planning error)."""
    if not LOCAL_CATALOG:
        return []
    from yl8c4net.sdss.fields import FieldId
    from yl8c4net.sdss.queries import mirror_catalog_relpath

    block = BLOCK_BY_NAME[(int(wildcards.run), int(wildcards.camcol), wildcards.block)]
    rerun = config["sdss"]["rerun"]
    paths = [
        Path(MIRROR)
        / mirror_catalog_relpath(
            "PhotoObjAll", FieldId(block.run, block.camcol, f, rerun)
        )
        for f in block.fields
    ]
    return [str(p) for p in paths if p.is_file()]


def block_fields(wildcards):
    """Field numbers of the block named by the wildcards."""
    key = (int(wildcards.run), int(wildcards.camcol), wildcards.block)
    return list(BLOCK_BY_NAME[key].fields)


# Planning cost (issue 16): a block rule's inputs are plain wildcard patterns, not input
# functions, since Snakemake inspects and calls a function once per job (~100 k jobs for DR17).
def block_input(stage):
    """This block's manifest of an earlier `stage` (a pattern in the block wildcards)."""
    return BLOCK_MANIFESTS[stage]


def field_block_input(stage):
    """Input function for a one-field rule: the manifest of the block holding the field."""

    def manifest(wc):
        b = BLOCK_OF_FIELD[(int(wc.run), int(wc.camcol), int(wc.field))]
        return BLOCK_MANIFESTS[stage].format(run=b.run, camcol=b.camcol, block=b.name)

    return manifest


def fields_of_run(run):
    return [f for f in FIELDS if f.run == int(run)]


# The simulator's outputs when the mirror is simulated, else nothing.
SIM_BLOCK_MARKER = [BLOCK_MANIFESTS["simulate"]] if SIMULATED else []
SIM_RUN_MARKER = [f"{MIRROR}/sim/specphoto/{{run}}.json"] if SIMULATED else []


def all_targets(wildcards):
    """The catalogue with its report figures, and the training data, models and their
    evaluation for whichever models this config trains (none in a catalogue-only config).
    """
    targets = [
        "results/data/field_status.tsv",
        "results/catalog/catalog.parquet",
        "results/report/catalog/overlay-{f.run}-{f.camcol}-{f.field}.png".format(
            f=next(f for f in FIELDS if f.run in RUNS_IN_ORDER)
        ),
        "results/report/metrics.html",
    ]
    targets += [f"results/report/catalog/sky_map-{run}.png" for run in RUNS_IN_ORDER]
    # Lean mode fetches no r frame: nothing to measure the morphology on.
    if config["report"]["morphology_fields"] and not config["sdss"]["lean"]:
        targets += [
            f"results/report/catalog/morphology-{run}.png" for run in RUNS_IN_ORDER
        ]
    if RUNS_BY_ROLE["detect_train"]:
        targets += [
            "resources/training/detect/dataset.yaml",
            "results/eval/detector_metrics.json",
            "results/report/pasting/{f.run}-{f.camcol}-{f.field}.png".format(
                f=next(f for f in FIELDS if f.run in RUNS_BY_ROLE["detect_train"])
            ),
        ]
    if RUNS_BY_ROLE["classify_train"]:
        targets += [
            "results/data/classify_dataset.json",
            "results/eval/classifier_metrics.json",
        ]
        if config["fusion"]["enabled"]:
            targets.append("results/eval/fusion_metrics.json")
    if config["catalog"]["hats"]:
        targets.append("results/catalog/hats/yl8c4net/collection.properties")
    return targets


def metrics_table_inputs(wildcards):
    """What the report's metrics table summarises: the evaluations of the models this
    config trains, the field status and the catalogue."""
    inputs = {
        "field_status": "results/data/field_status.tsv",
        "catalog": "results/catalog/catalog.parquet",
        "unmatched": "results/catalog/unmatched.parquet",
    }
    if RUNS_BY_ROLE["detect_train"]:
        inputs["detector"] = "results/eval/detector_metrics.json"
    if RUNS_BY_ROLE["classify_train"]:
        inputs["classifier"] = "results/eval/classifier_metrics.json"
        if config["fusion"]["enabled"]:
            inputs["fusion"] = "results/eval/fusion_metrics.json"
    return inputs


def base_classifier_weights(wildcards=None):
    """The configured checkpoint, or the one this workflow trains on simulated cut-outs."""
    return config["classifier"]["weights"] or "results/models/classifier/conv4net.pt"


def real_pixels_fetched(wildcards=None):
    """Without ``real_pixels.mirror_root``: the fetch manifests of the blocks holding the
    real_pixels fields, whose frames the fine-tuning labels and crops."""
    if config["real_pixels"]["mirror_root"]:
        return []
    blocks = {
        BLOCK_OF_FIELD[field_triple(name)] for name in config["real_pixels"]["fields"]
    }
    return sorted(
        BLOCK_MANIFESTS["fetch"].format(run=b.run, camcol=b.camcol, block=b.name)
        for b in blocks
    )


def classifier_weights(wildcards=None):
    """The checkpoint the workflow classifies with: the base one, fine-tuned on real pixels
    when ``real_pixels.fields`` lists real fields (rule fine_tune_classifier_real)."""
    if config["real_pixels"]["fields"]:
        return "results/models/classifier/conv4net-real.pt"
    return base_classifier_weights()


def fusion_model(wildcards=None):
    """The configured fusion model, the one this workflow trains, or none when the
    catalogue's class is Conv4Net's image-only answer."""
    if not config["fusion"]["enabled"]:
        return []
    return config["fusion"]["model"] or "results/models/fusion/fusion.joblib"


def detector_init_weights(wildcards=None):
    """The weights detector training starts from, if any (fine-tuning)."""
    return (
        [config["detector"]["init_weights"]]
        if config["detector"]["init_weights"]
        else []
    )


def shipped_model_sha256(wildcards):
    """SHA-256 of the package's model staged as ``wildcards.model_file`` (a param of the
    staging rule)."""
    from yl8c4net.io import sha256_of
    from yl8c4net.pipeline.model_files import shipped_model

    kind = {f: k for k, f in SHIPPED_MODEL_FILES.items()}[wildcards.model_file]
    return sha256_of(shipped_model(kind))


def detector_weights(wildcards=None):
    """The configured weights, or the ones this workflow trains."""
    return config["detector"]["weights"] or "results/models/detector/yolov8.pt"


ONNX_MODELS = {
    "detector": "results/models/detector/onnx/detector.onnx",
    "classifier": "results/models/classifier/onnx/conv4net.onnx",
}


def detector_inference_weights(wildcards=None):
    """What detect_block runs: the detector weights, or their ONNX copy (detector.runtime)."""
    if config["detector"]["runtime"] == "onnx":
        return ONNX_MODELS["detector"]
    return detector_weights()


def classifier_inference_weights(wildcards=None):
    """What classify_block runs: the Conv4Net checkpoint, or its ONNX copy (classifier.runtime)."""
    if config["classifier"]["runtime"] == "onnx":
        return ONNX_MODELS["classifier"]
    return classifier_weights()


def earlier_partitions(wildcards):
    """Partitions of the runs listed before this one: a later run never changes them."""
    before = RUNS_IN_ORDER[: RUNS_IN_ORDER.index(int(wildcards.run))]
    return [f"results/catalog/runs/{r}.parquet" for r in before] + [
        f"results/catalog/runs/{r}-unmatched.parquet" for r in before
    ]


# Configuration reaches each job through `params:`: a slice of the config in the config's
# own nesting (the script reads `snakemake.params.config`), and the version of the code the
# script runs. A changed value, or changed package code that a stage imports, reruns exactly
# the jobs that depend on it and everything downstream (`snakemake -n` names the reason);
# see "What reruns when" in the README.
def settings(*keys, run=None):
    """The config values at the dotted ``keys`` ("detector.conf", or a whole section), in
    the config's nesting; with ``run``, also ``runs`` holding that run's entry only."""
    out = {}
    for key in keys:
        *parents, leaf = key.split(".")
        src, dst = config, out
        for part in parents:
            src = src[part]
            dst = dst.setdefault(part, {})
        dst[leaf] = src[leaf]
    if run is not None:
        out["runs"] = [r for r in config["runs"] if r["run"] == int(run)]
    # Keys sorted at every level: the order of keys in a YAML file means nothing, and
    # Snakemake compares params by their text.
    return json.loads(json.dumps(out, sort_keys=True))


def run_settings(*keys):
    """Input-function form of `settings` for per-run rules (wildcard ``run``)."""
    return lambda wildcards: settings(*keys, run=wildcards.run)


def code_version(script):
    """Package version + hash of the package modules `script` imports (a param)."""
    return script_code_version(
        Path(workflow.basedir) / "workflow" / "scripts" / f"{script}.py"
    )
