import copy
from pathlib import Path

import pytest
import yaml

from yl8c4net.config import field_ids, load_config, validate_config
from yl8c4net.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
DEFAULT = yaml.safe_load((REPO / "config.yaml").read_text())


def test_default_config_is_valid_and_gets_defaults():
    cfg = load_config(REPO / "config.yaml", SCHEMA)
    assert cfg["sdss"]["download"]["retries"] == 5
    assert cfg["runs"][0]["strip"] == "N"
    fids = field_ids(cfg)
    assert [(f.run, f.camcol, f.field) for f in fids][:2] == [(9101, 3, 11), (9101, 3, 12)]


def _bad(mutate):
    cfg = copy.deepcopy(DEFAULT)
    mutate(cfg)
    with pytest.raises(ConfigError) as err:
        validate_config(cfg, SCHEMA, source="config.yaml")
    assert "\n" not in str(err.value)
    return str(err.value)


def test_unknown_key_is_named():
    msg = _bad(lambda c: c["sdss"].update(frame_sorce="mirror"))
    assert msg.startswith("config.yaml: sdss: unknown key(s)") and "frame_sorce" in msg


def test_bad_value_is_named():
    assert _bad(lambda c: c["runs"][0].update(camcols=[7])).startswith("config.yaml: runs.0.camcols.0: 7 is greater")
    assert "sdss.frame_source" in _bad(lambda c: c["sdss"].update(frame_source="ftp"))


def test_cross_key_rules():
    assert "sdss.bands: must include g, r and i" in _bad(lambda c: c["sdss"].update(bands=["u", "r"]))
    assert "simulate.enabled" in _bad(lambda c: c["sdss"].update(frame_source="sas"))
    assert "first field 14 > last 11" in _bad(lambda c: c["runs"][0].update(fields=[14, 11]))


def test_unreadable_yaml_is_one_line(tmp_path):
    bad = tmp_path / "c.yaml"
    bad.write_text("runs: [\n  - run: 1\n sdss: {")
    with pytest.raises(ConfigError, match=r"c.yaml: line \d+ is not valid YAML"):
        load_config(bad, SCHEMA)
