"""Every config key is documented, the generated reference is current, and the command-line
entry points take partial configs and --help as an astronomer would use them (issue 17)."""

from pathlib import Path

import pytest
import yaml

from yl8c4net.cli import main as cli_main
from yl8c4net.config import load_schema
from yl8c4net.config_docs import render_config_reference, schema_keys
from yl8c4net.simulate.colours import main as colours_main

REPO = Path(__file__).resolve().parents[1]
#: JSON-schema keywords the config schema uses; anything else under a key is a typo (or a
#: comma inside an unquoted flow-style description, which YAML turns into a key).
KEYWORDS = {
    "description", "type", "default", "enum", "minimum", "maximum", "exclusiveMinimum",
    "exclusiveMaximum", "items", "properties", "required", "additionalProperties", "minItems",
    "maxItems", "uniqueItems", "pattern",
}  # fmt: skip


def test_every_schema_key_has_a_description_and_only_known_keywords():
    keys = list(schema_keys(load_schema()))
    assert len(keys) > 100
    undocumented = [path for path, sub in keys if not str(sub.get("description", "")).strip()]
    assert undocumented == []
    unknown = {path: sorted(set(sub) - KEYWORDS) for path, sub in keys if set(sub) - KEYWORDS}
    assert unknown == {}


def test_every_key_of_the_demo_config_is_in_the_reference():
    reference = (REPO / "docs" / "reference" / "config.md").read_text()

    def walk(d, prefix=""):
        for k, v in d.items():
            yield f"{prefix}{k}"
            if isinstance(v, dict) and k not in ("density_deg2", "spec_fraction", "box_table", "pasting", "download"):
                yield from walk(v, f"{prefix}{k}.")

    for key in walk(yaml.safe_load((REPO / "config.yaml").read_text())):
        assert f"| `{key}` |" in reference, key


def test_generated_reference_is_current():
    """docs/reference/config.md is what `yl8c4net config-docs --out docs/reference/config.md` writes now."""
    assert (REPO / "docs" / "reference" / "config.md").read_text() == render_config_reference(load_schema())


def test_field_index_takes_a_partial_config_on_top_of_config_yaml(tmp_path, monkeypatch, capsys):
    (tmp_path / "config.yaml").write_text((REPO / "config.yaml").read_text())
    (tmp_path / "partial.yaml").write_text("runs:\n  - {run: 9102, camcols: [2], fields: [5, 6]}\n")
    monkeypatch.chdir(tmp_path)
    assert cli_main(["field-index", "--configfile", "partial.yaml"]) == 0
    assert "run 9102: has a fields range" in capsys.readouterr().out
    (tmp_path / "broken.yaml").write_text("runs: [\n")
    assert cli_main(["field-index", "--configfile", "broken.yaml"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("ERROR config.yaml + broken.yaml") or err.startswith("ERROR broken.yaml: line 2")
    assert len(err.splitlines()) == 1


def test_colour_model_command_has_help_and_names_a_missing_file(tmp_path, capsys):
    with pytest.raises(SystemExit) as done:
        colours_main(["--help"])
    assert done.value.code == 0 and "usage: python -m yl8c4net.simulate.colours" in capsys.readouterr().out
    assert colours_main([str(tmp_path / "missing.csv"), str(tmp_path / "out.json")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"ERROR {tmp_path / 'missing.csv'}") and len(err.splitlines()) == 1
    assert not (tmp_path / "out.json").exists()


def test_check_config_names_the_file_line_and_key(tmp_path, monkeypatch, capsys):
    """Snakemake's own parser says only 'Config file is not valid JSON or YAML' (issue 18,
    trial 11); `yl8c4net check-config` reads the files as the workflow does and says where."""
    (tmp_path / "config.yaml").write_text((REPO / "config.yaml").read_text())
    monkeypatch.chdir(tmp_path)
    assert cli_main(["check-config"]) == 0
    assert capsys.readouterr().out.strip() == "config OK: 1 run(s), 4 fields"
    (tmp_path / "mine.yaml").write_text("detector:\n  conf: 0.3\n   iou: 0.5\n")
    assert cli_main(["check-config", "--configfile", "mine.yaml"]) == 1
    assert capsys.readouterr().err.startswith("ERROR mine.yaml: line 3, column 7: is not valid YAML")
    (tmp_path / "mine.yaml").write_text("sdss:\n  download: {backoff_s: .inf}\n")
    assert cli_main(["check-config", "--configfile", "mine.yaml"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("ERROR config.yaml + mine.yaml: sdss.download.backoff_s: inf is greater than the maximum")


def test_every_number_in_the_schema_is_bounded():
    """Issue 18: `backoff_s: .inf` passed the schema and overflowed a sleep."""
    unbounded = []
    for path, sub in schema_keys(load_schema()):
        for name, s in ((path, sub), (f"{path}[]", sub.get("items") if isinstance(sub.get("items"), dict) else {})):
            if s.get("type") in ("integer", "number") and "enum" not in s:
                if not ({"minimum", "exclusiveMinimum"} & set(s) and {"maximum", "exclusiveMaximum"} & set(s)):
                    unbounded.append(name)
    assert unbounded == []
