"""Every example config under config/ passes check-config and plans a catalogue-only run:
the shipped models staged, nothing trained, no spectra asked for."""

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import SHARED_SAS
from test_workflow import REPO, _rules_to_run, snakemake

EXAMPLES = sorted((REPO / "config").glob("*.yaml"))
#: Every example sits on top of config.yaml; these need another example under them.
BASES = {"real-mirror.yaml": ["real.yaml"]}
RUNS = {"runs": [{"run": 1035, "camcols": [6], "fields": [17, 17], "roles": ["catalog"]}]}


def config_files(example: Path) -> list[Path]:
    return [REPO / "config" / name for name in BASES.get(example.name, [])] + [example]


def test_the_examples_are_the_ones_the_readme_names():
    assert {p.name for p in EXAMPLES} == {"real.yaml", "real-mirror.yaml"}
    readme = (REPO / "README.md").read_text()
    assert "--configfile config/real.yaml region.yaml" in readme


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_example_config_passes_check_config_and_plans_a_catalogue_only_run(example, tmp_path):
    if "mirror_root" in example.read_text() and not SHARED_SAS.is_dir():
        pytest.skip(f"{example.name} reads the real fields of {SHARED_SAS}, absent here")
    region = tmp_path / "region.yaml"
    region.write_text(yaml.safe_dump(RUNS))
    files = [str(p) for p in config_files(example)] + [str(region)]
    check = subprocess.run(
        [sys.executable, "-m", "yl8c4net.cli", "check-config", "--configfile", *files],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert check.returncode == 0, check.stderr
    assert check.stdout.strip() == "config OK: 1 run(s), 1 fields"
    # The dry run works in another directory: a relative mirror_root is made absolute there.
    overlay = tmp_path / "where.yaml"
    overlay.write_text(
        yaml.safe_dump({"sdss": {"mirror_root": str(SHARED_SAS)}}) if "mirror_root" in example.read_text() else "{}\n"
    )
    args = ["-n", "--quiet", "rules", "--configfile", str(REPO / "config.yaml"), *files[:-1], str(region), str(overlay)]
    rules = _rules_to_run(snakemake(*args, cwd=tmp_path))
    assert {"stage_shipped_model", "fetch_block", "query_photoobj_block", "detect_block", "classify_block"} <= rules
    assert {"catalog_run", "catalog"} <= rules
    assert not {r for r in rules if r.startswith(("train_", "simulate", "query_specphoto", "cutouts"))}, rules
    dry = snakemake("-n", *args[3:], cwd=tmp_path)
    out = dry.stdout + dry.stderr
    for model in ("detector.pt", "classifier.pt", "fusion.joblib"):
        assert f"resources/models/shipped/{model}" in out
