# Shared set-up: config validation, the field list, wildcard constraints, path helpers.

import sys

from yl8c4net.config import field_ids, validate_config
from yl8c4net.errors import ConfigError
from yl8c4net.imageio import image_suffix

# One line naming the bad key, instead of a schema dump or a traceback.
try:
    _validated = validate_config(
        config, workflow.source_path("../schemas/config.schema.yaml"), source="config"
    )
except ConfigError as exc:
    sys.exit(f"ERROR {exc}")
config.clear()
config.update(_validated)

FIELDS = field_ids(config)
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


wildcard_constraints:
    run=r"\d{1,6}",
    camcol=r"[1-6]",
    field=r"\d{1,4}",


def field_paths(pattern):
    """`pattern` formatted for every configured field."""
    return [pattern.format(run=f.run, camcol=f.camcol, field=f.field) for f in FIELDS]


def role_field_paths(pattern, role):
    """`pattern` formatted for the fields of the runs that play `role`: training data
    comes only from the training runs, so adding a catalogue run retrains nothing."""
    return [
        pattern.format(run=f.run, camcol=f.camcol, field=f.field)
        for f in FIELDS
        if f.run in RUNS_BY_ROLE[role]
    ]


def fields_of_run(run):
    return [f for f in FIELDS if f.run == int(run)]


def sim_field_marker(wildcards):
    """The simulator's output for a field when the mirror is simulated, else nothing."""
    if not SIMULATED:
        return []
    return (
        f"{MIRROR}/sim/fields/{wildcards.run}/{wildcards.camcol}/{wildcards.field}.json"
    )


def sim_run_marker(wildcards):
    if not SIMULATED:
        return []
    return f"{MIRROR}/sim/specphoto/{wildcards.run}.json"


def all_targets(wildcards):
    return [
        "results/data/field_status.tsv",
        "resources/training/detect/dataset.yaml",
        "results/data/classify_dataset.json",
        "results/eval/classifier_metrics.json",
        "results/eval/detector_metrics.json",
        "results/catalog/catalog.parquet",
        "results/report/catalog/overlay-{f.run}-{f.camcol}-{f.field}.png".format(
            f=next(f for f in FIELDS if f.run in RUNS_IN_ORDER)
        ),
        "results/report/pasting/{f.run}-{f.camcol}-{f.field}.png".format(
            f=next(f for f in FIELDS if f.run in RUNS_BY_ROLE["detect_train"])
        ),
    ]


def classifier_weights(wildcards=None):
    """The configured checkpoint, or the one this workflow trains."""
    return config["classifier"]["weights"] or "results/models/classifier/conv4net.pt"


def detector_weights(wildcards=None):
    """The configured weights, or the ones this workflow trains."""
    return config["detector"]["weights"] or "results/models/detector/yolov8.pt"


def earlier_partitions(wildcards):
    """Partitions of the runs listed before this one: a later run never changes them."""
    before = RUNS_IN_ORDER[: RUNS_IN_ORDER.index(int(wildcards.run))]
    return [f"results/catalog/runs/{r}.parquet" for r in before] + [
        f"results/catalog/runs/{r}-unmatched.parquet" for r in before
    ]
