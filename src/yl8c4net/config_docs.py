"""The config reference (``docs/reference/config.md``), generated from the config schema so the two
cannot drift apart: ``yl8c4net config-docs --out docs/reference/config.md``."""

from __future__ import annotations

import json
from collections.abc import Iterator


def schema_keys(schema: dict, prefix: str = "") -> Iterator[tuple[str, dict]]:
    """Every key of the schema as (dotted path, its sub-schema), depth first in schema
    order; the keys of list items appear as ``runs[].run``."""
    for key, sub in schema.get("properties", {}).items():
        path = f"{prefix}{key}"
        yield path, sub
        yield from schema_keys(sub, f"{path}.")
        items = sub.get("items")
        if isinstance(items, dict) and "properties" in items:
            yield from schema_keys(items, f"{path}[].")


def _type_of(sub: dict) -> str:
    if "enum" in sub:
        return " | ".join(json.dumps(v) for v in sub["enum"])
    kind = sub.get("type", "")
    kind = " or ".join(kind) if isinstance(kind, list) else kind
    if kind == "array" and isinstance(sub.get("items"), dict):
        inner = sub["items"]
        kind = f"array of {' | '.join(map(str, inner['enum'])) if 'enum' in inner else inner.get('type', 'object')}"
    bounds = [
        f"{sym} {sub[k]}"
        for k, sym in (("minimum", ">="), ("exclusiveMinimum", ">"), ("maximum", "<="), ("exclusiveMaximum", "<"))
        if k in sub
    ]
    return kind + (f" ({', '.join(bounds)})" if bounds else "")


def _cell(text) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def render_config_reference(schema: dict) -> str:
    """Markdown: one table row per key with its type, bounds, default and description."""
    lines = [
        "# Configuration reference",
        "",
        "Generated from `src/yl8c4net/schemas/config.schema.yaml` by",
        "`yl8c4net config-docs --out docs/reference/config.md`; do not edit by hand (a test compares them).",
        "`config.yaml` is the offline demo; a file given with `--configfile` overrides its keys.",
        "",
        "| key | type | default | description |",
        "|---|---|---|---|",
    ]
    for path, sub in schema_keys(schema):
        default = f"`{json.dumps(sub['default'])}`" if "default" in sub else ""
        required = " (required)" if path.rsplit(".", 1)[-1].removesuffix("[]") in _required(schema, path) else ""
        lines.append(
            f"| `{path}` | {_cell(_type_of(sub))} | {_cell(default)} | {_cell(sub.get('description', ''))}{required} |"
        )
    return "\n".join(lines) + "\n"


def _required(schema: dict, path: str) -> set[str]:
    """The required keys of the object that holds ``path``."""
    parent = schema
    for part in path.split(".")[:-1]:
        parent = parent["properties"][part.removesuffix("[]")]
        if part.endswith("[]"):
            parent = parent["items"]
    return set(parent.get("required", []))
