"""What a release carries and how the project speaks of itself: the version (CLI, CITATION.cff,
CHANGELOG, catalogue provenance), a valid CITATION.cff, dependencies that match the imports,
and no development history in tracked text."""

import json
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import jsonschema
import pytest
import yaml

import yl8c4net
from yl8c4net.cli import main as cli_main

REPO = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]

#: Words that narrate how the project got here rather than what it is (the CHANGELOG and git
#: hold that). Checked in every tracked text file.
HISTORY = re.compile(
    r"\b(this|that|previous|earlier|last|next|one|first|second|third|fourth|fifth|sixth|seventh|eighth|ninth"
    r"|tenth|eleventh|twelfth|thirteenth|\d+(?:st|nd|rd|th)) session\b"
    r"|\bre-?measured\b|\bpreviously\b|\bused to (?:be|fail|give|count|take|say)\b"
    r"|\bthe previous (?:version|run|reference|detector|default|release)\b",
    re.IGNORECASE,
)
#: In what users read (README, docs, model cards, the schema behind the config reference),
#: the issue tracker's numbers say nothing either.
ISSUE_REFERENCE = re.compile(r"\bissues? #?\d+", re.IGNORECASE)
USER_TEXT = re.compile(r"^(README\.md|docs/.*\.md|src/.*\.md|src/yl8c4net/schemas/.*\.yaml|CITATION\.cff)$")


def tracked_text_files():
    names = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    for name in names:
        if name in ("CHANGELOG.md", "LICENSE", "tests/test_release.py") or name.startswith("tests/fixtures/"):
            continue
        path = REPO / name
        if path.suffix in {".py", ".md", ".smk", ".yaml", ".yml", ".toml", ".cff", ".sh", ".txt", ".rst"} or name in (
            "Snakefile",
            "Makefile",
        ):
            yield name, path


def test_no_history_wording_in_tracked_text():
    if not (REPO / ".git").exists():
        pytest.skip("not a git checkout: the tracked files are unknown")
    hits = []
    for name, path in tracked_text_files():
        for lineno, line in enumerate(path.read_text(errors="replace").splitlines(), start=1):
            found = HISTORY.search(line) or (USER_TEXT.match(name) and ISSUE_REFERENCE.search(line))
            if found:
                hits.append(f"{name}:{lineno}: {found.group(0)!r}")
    assert hits == [], "\n".join(hits)


def test_the_history_check_catches_what_it_should():
    for text in ("as before the eleventh session", "re-measured this week", "the previous version gave"):
        assert HISTORY.search(text), text
    for text in ("a pytest session fixture", "onnxruntime session", "never used to fit anything"):
        assert not HISTORY.search(text), text


def test_version_is_one_name_everywhere(capsys):
    with pytest.raises(SystemExit) as done:
        cli_main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.strip() == f"yl8c4net {PROJECT['version']}"
    assert yl8c4net.__version__ == PROJECT["version"]
    citation = yaml.safe_load((REPO / "CITATION.cff").read_text())
    assert citation["version"] == PROJECT["version"]
    changelog = (REPO / "CHANGELOG.md").read_text()
    assert re.search(rf"^## \[{re.escape(PROJECT['version'])}\] - \d{{4}}-\d\d-\d\d$", changelog, re.M), changelog[:300]


def test_citation_cff_is_valid():
    schema = json.loads((REPO / "tests" / "fixtures" / "cff" / "schema-1.2.0.json").read_text())
    # CFF dates are YAML dates; the schema checks them as strings, as cffconvert does.
    citation = yaml.load((REPO / "CITATION.cff").read_text(), Loader=yaml.BaseLoader)
    for key in ("volume", "year", "month"):
        if key in citation.get("preferred-citation", {}):
            citation["preferred-citation"][key] = int(citation["preferred-citation"][key])
    jsonschema.validate(citation, schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)
    assert citation["preferred-citation"]["doi"] == "10.1088/1674-4527/ade492"
    broken = dict(citation, authors=[{"nickname": 3}])
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema)


def test_dependencies_match_the_imports():
    """deptry: every import of the package, workflow scripts, tests and benchmarks is declared,
    and nothing declared goes unused (configured in pyproject.toml)."""
    deptry = shutil.which("deptry", path=str(Path(sys.executable).parent))
    if deptry is None:
        pytest.skip("deptry (test extra) not installed")
    done = subprocess.run([deptry, "."], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
