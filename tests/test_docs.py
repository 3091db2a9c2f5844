"""The documentation site builds with warnings as errors (``make docs``), and documents every
CLI command and option and every config key; the README's links lead somewhere."""

import argparse
import html
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from yl8c4net.cli import build_parser
from yl8c4net.config import load_schema
from yl8c4net.config_docs import schema_keys

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def built_docs(tmp_path_factory):
    sphinx = shutil.which("sphinx-build", path=str(Path(sys.executable).parent))
    if sphinx is None:
        pytest.skip("sphinx-build (docs extra, in the test extra) not installed")
    out = tmp_path_factory.mktemp("html")
    done = subprocess.run(
        [sphinx, "-W", "--keep-going", "-q", "-b", "html", "-d", str(out / ".doctrees"), "docs", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return out


def page_text(path: Path) -> str:
    return html.unescape(re.sub(r"<[^>]+>", " ", path.read_text()))


def test_every_config_key_is_in_the_built_reference(built_docs):
    text = page_text(built_docs / "reference" / "config.html")
    keys = [path for path, _ in schema_keys(load_schema())]
    assert len(keys) > 50
    missing = [k for k in keys if k not in text]
    assert missing == []


def test_every_cli_command_and_option_is_in_the_built_reference(built_docs):
    text = page_text(built_docs / "reference" / "cli.html")
    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    assert {"field-index", "check-config", "config-docs"} <= set(commands)
    missing = []
    for name, sub in commands.items():
        if name not in text:
            missing.append(name)
        for action in sub._actions:
            missing += [
                f"{name} {opt}" for opt in action.option_strings if opt not in ("-h", "--help") and opt not in text
            ]
    missing += [
        opt for a in parser._actions for opt in a.option_strings if opt not in text and opt not in ("-h", "--help")
    ]
    assert missing == []


def test_api_reference_has_every_module_and_the_columns_page_every_column(built_docs):
    import pkgutil

    import yl8c4net
    from yl8c4net.catalog.columns import CATALOG_COLUMNS, DUPLICATE_COLUMNS, UNMATCHED_COLUMNS

    api = page_text(built_docs / "reference" / "api.html")
    modules = [m.name for m in pkgutil.walk_packages(yl8c4net.__path__, "yl8c4net.")]
    assert [m for m in modules if m not in api] == []
    columns = page_text(built_docs / "reference" / "columns.html")
    names = {**CATALOG_COLUMNS, **UNMATCHED_COLUMNS, **DUPLICATE_COLUMNS}
    assert [c for c in names if c not in columns] == []
    assert "deg" in columns and "arcsec" in columns


def test_published_benchmark_records_are_rendered(built_docs):
    import json

    text = page_text(built_docs / "measurements" / "current.html")
    records = sorted((REPO / "docs" / "measurements" / "data").glob("*.json"))
    assert records, "no benchmark record is published"
    for path in records:
        rec = json.loads(path.read_text())
        assert rec["benchmark"] in text and rec["commit"] in text and rec["date"] in text


def test_readme_links_lead_to_files_and_its_length_stays_a_front_page():
    text = (REPO / "README.md").read_text()
    assert len(text.splitlines()) <= 300
    links = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", text)
    local = [ln for ln in links if not re.match(r"[a-z]+://", ln)]
    assert len(local) > 10
    assert [ln for ln in local if not (REPO / ln).exists()] == []
    # Every figure the README quotes sits in a table row or paragraph that links to the docs.
    for line in text.splitlines():
        if line.startswith("| ") and re.search(r"\d\.\d{2}", line) and "measure" not in line:
            assert "docs/measurements/" in line, line
