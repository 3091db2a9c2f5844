"""The field index: runs without a fields range take their fields from a cached index
(SkyServer Field table, or the mirror's listing), so a dry run needs no network."""

import pandas as pd
import pytest
import yaml

from yl8c4net.cli import main as cli_main
from yl8c4net.config import field_ids, load_config
from yl8c4net.errors import CatalogValidationError, ConfigError
from yl8c4net.sdss.field_index import read_field_index, write_field_index
from yl8c4net.sdss.queries import MirrorCatalogBackend, SkyServerBackend
from yl8c4net.sdss.fields import FieldId
from yl8c4net.sdss.sql import field_table_sql
from conftest import REPO, SHARED_SAS, LocalHTTPServer, needs_shared
from test_catalog import FIX


def _skyserver(method, path, query, body, headers):
    assert query["cmd"].strip() == field_table_sql(4510)  # astroquery adds a leading space
    return 200, (FIX / "field_4510.csv").read_bytes()


def _config(tmp_path, runs, **sdss):
    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    cfg["runs"] = runs
    cfg["simulate"]["enabled"] = False
    cfg["sdss"].update(field_index_dir=str(tmp_path / "index"), **sdss)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_field_table_query_is_cached_and_gives_the_configured_camcols(tmp_path):
    with LocalHTTPServer(_skyserver) as srv:
        path = write_field_index(SkyServerBackend(base_url=srv.url), 4510, 301, tmp_path / "index")
    table = read_field_index(path, 4510, 301)
    assert table[["camcol", "field"]].values.tolist() == [[1, 30], [4, 11], [4, 29], [4, 30], [4, 31]]
    cfg = load_config(_config(tmp_path, [{"run": 4510, "camcols": [4]}]))
    assert field_ids(cfg) == [FieldId(4510, 4, f) for f in (11, 29, 30, 31)]


def test_missing_or_foreign_index_stops_with_one_line_naming_the_file(tmp_path):
    cfg = load_config(_config(tmp_path, [{"run": 4510, "camcols": [4]}]))
    with pytest.raises(ConfigError, match=r"run 4510 lists no fields and its field index .*4510.csv does not exist"):
        field_ids(cfg)
    (tmp_path / "index").mkdir()
    pd.DataFrame({"run": [4511], "rerun": [301], "camcol": [4], "field": [30]}).to_csv(
        tmp_path / "index" / "4510.csv", index=False
    )
    with pytest.raises(CatalogValidationError, match=r"4510.csv: row 0 is run 4511"):
        field_ids(cfg)


def test_a_simulated_run_needs_a_fields_range(tmp_path):
    cfg = yaml.safe_load(_config(tmp_path, [{"run": 4510, "camcols": [4]}]).read_text())
    cfg["simulate"]["enabled"] = True
    (tmp_path / "sim.yaml").write_text(yaml.safe_dump(cfg))
    with pytest.raises(ConfigError, match=r"runs.0.fields: a simulated run needs a fields range"):
        load_config(tmp_path / "sim.yaml")


@needs_shared
def test_cli_indexes_a_mirror_from_its_frame_listing(tmp_path, capsys):
    cfg = _config(
        tmp_path,
        [{"run": 4510, "camcols": [4]}, {"run": 1035, "camcols": [6], "fields": [17, 17]}],
        catalog_source="mirror",
        mirror_root=str(SHARED_SAS),
    )
    assert cli_main(["field-index", "--configfile", str(cfg)]) == 0
    assert "run 4510: field index written" in capsys.readouterr().out
    assert not (tmp_path / "index" / "1035.csv").exists()  # it has a range: not indexed without --all
    assert field_ids(load_config(cfg)) == [FieldId(4510, 4, 30), FieldId(1035, 6, 17)]
    assert MirrorCatalogBackend(SHARED_SAS).fields_of_run(2583)["field"].tolist() == [136]


def test_cli_reports_a_bad_config_in_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("runs: [")
    assert cli_main(["field-index", "--configfile", str(bad)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("ERROR") and "bad.yaml" in err and len(err.splitlines()) == 1
