"""Sphinx configuration of the YL8C4Net documentation (``make docs``; built with warnings as
errors in the tests). Pages are Markdown (MyST); the API reference comes from the package's
numpydoc docstrings; three reference pages are generated at build time from the code itself
(the catalogue's columns, the package's module list) and from the benchmark records under
``measurements/data/``."""

from __future__ import annotations

import json
import pkgutil
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
REPO = DOCS.parent
GENERATED = DOCS / "_generated"
sys.path.insert(0, str(REPO / "src"))

import yl8c4net  # noqa: E402

project = "YL8C4Net survey pipeline"
author = "The YL8C4Net survey pipeline developers"
copyright = "2025-2026, " + author
release = version = yl8c4net.__version__

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "numpydoc",
    "sphinxarg.ext",
]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
exclude_patterns = ["_build", "_generated", "measurements/data", "**/README.md"]
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3
html_theme = "alabaster"
html_title = f"YL8C4Net {release}"
html_static_path: list[str] = []

# API reference: the docstrings as written (numpydoc sections), members in source order.
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
autodoc_member_order = "bysource"
autodoc_typehints = "none"
autodoc_default_options = {"members": True, "show-inheritance": False, "exclude-members": "cKDTree"}
# Heavy optional imports stay real (the API pages import every module, as a user would).
nitpicky = False


def _table(header: list[str], rows: list[list[str]]) -> str:
    def cell(v) -> str:
        return str(v).replace("|", "\\|").replace("\n", " ")

    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(out) + "\n"


def write_columns_page() -> None:
    """The catalogue's columns with dtype, unit and description, from the code's own schema."""
    from yl8c4net.catalog.columns import CATALOG_COLUMNS, DUPLICATE_COLUMNS, UNMATCHED_COLUMNS

    parts = [
        "# Catalogue columns\n",
        "Generated from `yl8c4net.catalog.build` (the schema every catalogue file is written with: the same\n"
        "units and descriptions are in the Parquet field metadata and the FITS `TUNITn` / `TCOMMn`\n"
        "cards).\n",
    ]
    for title, cols in (
        ("`catalog.parquet`, `catalog.fits`, `runs/{run}.parquet`", CATALOG_COLUMNS),
        ("`unmatched.parquet`", UNMATCHED_COLUMNS),
        ("`runs/{run}-duplicates.parquet`", DUPLICATE_COLUMNS),
    ):
        rows = [[f"`{name}`", str(dtype), unit or "-", desc] for name, (dtype, unit, desc) in cols.items()]
        parts += [f"\n## {title}\n\n", _table(["column", "type", "unit", "description"], rows)]
    (GENERATED / "columns.md").write_text("".join(parts))


def write_api_page() -> None:
    """One autodoc section per module of the package, found by walking it."""
    names = sorted(m.name for m in pkgutil.walk_packages(yl8c4net.__path__, "yl8c4net."))
    lines = [
        "API reference",
        "=============",
        "",
        "Every module of the ``yl8c4net`` package, from its docstrings (numpydoc style).",
        "",
    ]
    for name in ["yl8c4net", *names]:
        lines += [name, "-" * len(name), "", f".. automodule:: {name}", ""]
    (GENERATED / "api.rst").write_text("\n".join(lines))


def write_measurements_page() -> None:
    """The current table of every published benchmark record (``measurements/data/*.json``)."""
    parts = [
        "# Current benchmark records\n\n",
        "Rendered from the JSON records under `docs/measurements/data/`, each written by its\n"
        "benchmark script (`benchmarks/record.py`) and published with `python benchmarks/publish.py`.\n"
        "A record carries the date, the commit and the machine it was measured on, and the command\n"
        "that reproduces it; its history is the file's git history.\n",
    ]
    records = sorted((DOCS / "measurements" / "data").glob("*.json"))
    for path in records:
        rec = json.loads(path.read_text())
        m = rec["machine"]
        machine = f"{m.get('cpu_count')} CPU cores, {m.get('memory_gib', '?')} GiB, " + (
            f"GPU {m['gpu']}" if m.get("gpu") else "no GPU"
        )
        parts += [
            # The file's name: a benchmark may have records of other settings beside its own.
            f"\n## `{path.stem}`\n\n",
            f"- date: {rec['date']}\n- commit: `{rec['commit']}`\n- machine: {machine} ({m.get('platform')})\n",
            f"- command: `{rec['command']}`\n\n",
        ]
        table = rec.get("table") or []
        parts.append(("\n".join(table) + "\n") if table else "(no table printed; see the JSON record)\n")
    if not records:
        parts.append("\nNo record is published yet.\n")
    (GENERATED / "measurements.md").write_text("".join(parts))


def generate(app) -> None:
    GENERATED.mkdir(exist_ok=True)
    write_columns_page()
    write_api_page()
    write_measurements_page()


def setup(app) -> None:
    app.connect("builder-inited", generate)
