# YL8C4Net: SDSS frames -> YOLOv8 detections -> Conv4Net classes -> source catalogue.
# Usage: see README.md. Every stage is one file under workflow/rules/; the science lives in
# the importable package src/yl8c4net/ and the rules only wire files to it.

import os
import sys

from snakemake.utils import min_version

from yl8c4net.config import read_yaml_mapping
from yl8c4net.errors import ConfigError
from yl8c4net.pipeline.preflight import unwritable_output_dirs

min_version("9.0")

# The conda envs' post-deploy scripts (envs/*.post-deploy.sh) install the package from here.
os.environ.update(YL8C4NET_PACKAGE_DIR=workflow.basedir)


# Snakemake's own parser reports a YAML error without file or line: read it first with ours.
try:
    if os.path.exists("config.yaml"):
        read_yaml_mapping("config.yaml")
except ConfigError as exc:
    sys.exit(f"ERROR {exc}")


configfile: "config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"


_misplaced = unwritable_output_dirs(permissions=False)
if _misplaced:
    sys.exit("ERROR " + "; ".join(_misplaced))


include: "workflow/rules/simulate.smk"
include: "workflow/rules/fetch.smk"
include: "workflow/rules/query.smk"
include: "workflow/rules/training_data.smk"
include: "workflow/rules/classifier.smk"
include: "workflow/rules/detector.smk"
include: "workflow/rules/catalog.smk"


onstart:
    _unwritable = unwritable_output_dirs()
    if _unwritable:
        sys.exit("ERROR " + "; ".join(_unwritable))


rule all:
    default_target: True
    input:
        all_targets,
