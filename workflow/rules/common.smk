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
MIRROR = config["sdss"].get("mirror_root", "")
SIMULATED = config["simulate"]["enabled"]
COMPOSITE_SUFFIX = image_suffix(3 + len(config["training_data"]["extra_bands"]))


wildcard_constraints:
    run=r"\d{1,6}",
    camcol=r"[1-6]",
    field=r"\d{1,4}",


def field_paths(pattern):
    """`pattern` formatted for every configured field."""
    return [
        pattern.format(run=f.run, camcol=f.camcol, field=f.field) for f in FIELDS
    ]


def fields_of_run(run):
    return [f for f in FIELDS if f.run == int(run)]


def sim_field_marker(wildcards):
    """The simulator's output for a field when the mirror is simulated, else nothing."""
    if not SIMULATED:
        return []
    return f"{MIRROR}/sim/fields/{wildcards.run}/{wildcards.camcol}/{wildcards.field}.json"


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
        "results/report/pasting/{f.run}-{f.camcol}-{f.field}.png".format(f=FIELDS[0]),
    ]
