"""benchmarks/publish.py: only complete records of clean commits reach the documentation, each
under its benchmark's name or, with --name, beside it."""

import json
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture
def publish(tmp_path, monkeypatch):
    if str(BENCH) not in sys.path:
        sys.path.insert(0, str(BENCH))
    import publish

    monkeypatch.setattr(publish, "DATA", tmp_path / "data")
    return publish


def a_record(tmp_path, name="catalog_quality-unseen-em_r.json", **changes):
    record = {
        "benchmark": "catalog_quality",
        "date": "2026-12-05T12:00:00+00:00",
        "commit": "0123456789ab",
        "machine": {"cpu_count": 2},
        "command": "python benchmarks/catalog_quality.py --label unseen-em_r",
        "table": ["| a |"],
        "results": {"accuracy": 0.9},
        **changes,
    }
    path = tmp_path / name
    path.write_text(json.dumps(record))
    return path, record


def test_a_record_is_published_under_its_benchmark_or_the_name_given(publish, tmp_path):
    path, record = a_record(tmp_path)
    assert publish.main([str(path)]) == 0
    assert json.loads((tmp_path / "data" / "catalog_quality.json").read_text()) == record
    assert publish.main(["--name", "catalog_quality-em_r", str(path)]) == 0
    assert json.loads((tmp_path / "data" / "catalog_quality-em_r.json").read_text()) == record
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == [
        "catalog_quality-em_r.json",
        "catalog_quality.json",
    ]


@pytest.mark.parametrize(
    "args, drop, changes, message",
    [
        (["--name", "real_classes-em_r"], (), {}, "--name real_classes-em_r: must be catalog_quality-SUFFIX"),
        (["--name", "catalog_quality-../x"], (), {}, "must be catalog_quality-SUFFIX"),
        ([], (), {"commit": "0123456789ab-dirty"}, "measured on uncommitted code"),
        ([], ("table", "results"), {}, "not a benchmark record (missing table, results)"),
    ],
)
def test_a_bad_record_or_name_stops_with_one_line_and_publishes_nothing(
    publish, tmp_path, args, drop, changes, message
):
    path, record = a_record(tmp_path, **changes)
    path.write_text(json.dumps({k: v for k, v in record.items() if k not in drop}))
    with pytest.raises(SystemExit) as stop:
        publish.main([*args, str(path)])
    line = str(stop.value)
    assert line.startswith(f"ERROR {path}: ") and message in line and "\n" not in line
    assert not (tmp_path / "data").exists() or not any((tmp_path / "data").iterdir())
