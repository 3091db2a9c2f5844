"""The Snakemake workflow: dry runs and start-up validation (no jobs are executed)."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import without_slurm_controller

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = shutil.which("snakemake", path=str(Path(sys.executable).parent)) or "snakemake"


def snakemake(*args, cwd=REPO, config_file=None):
    cmd = [SNAKEMAKE, "--snakefile", str(REPO / "Snakefile"), "--directory", str(cwd), "--cores", "1"]
    if config_file:
        cmd += ["--configfile", str(config_file)]
    env = without_slurm_controller({**os.environ, "YOLO_OFFLINE": "1"})
    return subprocess.run(cmd + list(args), capture_output=True, text=True, timeout=300, env=env)


def test_dry_run_lists_fetch_and_query_jobs_per_field_block(tmp_path):
    res = snakemake("-n", "--quiet", "rules", cwd=tmp_path, config_file=REPO / "config.yaml")
    assert res.returncode == 0, res.stderr
    dry = snakemake("-n", cwd=tmp_path, config_file=REPO / "config.yaml")
    out = dry.stdout + dry.stderr
    # The demo's fields 11-14 in blocks of 2: every job names its run, camcol and fields.
    for block in ("0011-0012", "0013-0014"):
        assert f"resources/frames/9101/3/block-{block}.json" in out
        assert f"resources/catalogs/photoobj/9101/3/block-{block}.json" in out
        assert f"wildcards: run=9101, camcol=3, block={block}" in out
        # What each block downloads, derived from the config (issue 16).
        assert f"Fetch run 9101 camcol 3 fields {block}: frames r + the irg JPEG" in out
    # The demo trains Conv4Net on rendered cut-outs (classify_data.source: rendered): no job
    # asks for the run's spectra.
    assert "specphoto/9101.parquet" not in out and "rule query_specphoto" not in out
    assert not re.search(r"block-0015|fields 0015", out)  # (the run's UUID may hold 0015)


def test_bad_config_stops_with_one_line_naming_the_key(tmp_path):
    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    cfg["sdss"]["catalog_source"] = "vizier"
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(cfg))
    res = snakemake("-n", cwd=tmp_path, config_file=bad)
    assert res.returncode != 0
    lines = [ln for ln in res.stderr.splitlines() if "sdss.catalog_source" in ln]
    assert len(lines) == 1 and "'vizier' is not one of" in lines[0]
    assert "Traceback" not in res.stderr


def test_adding_a_run_adds_only_its_jobs_and_the_merge(tmp_path):
    """With run 9102 appended, run 9101's partition still depends on nothing of 9102,
    and 9102's partition reads 9101's (to skip sources already catalogued)."""
    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    cfg["runs"].append({"run": 9102, "strip": "S", "camcols": [2], "fields": [11, 12], "roles": ["catalog"]})
    two = tmp_path / "two.yaml"
    two.write_text(yaml.safe_dump(cfg))
    first = snakemake("-n", "results/catalog/runs/9101.parquet", cwd=tmp_path, config_file=two)
    assert first.returncode == 0, first.stderr
    out = first.stdout + first.stderr
    assert "run=9101" in out and "9102" not in out
    second = snakemake("-n", "results/catalog/runs/9102.parquet", cwd=tmp_path, config_file=two)
    out2 = second.stdout + second.stderr
    assert "results/catalog/runs/9101.parquet" in out2  # read as an earlier partition


def test_gpu_rules_carry_a_gpu_resource(tmp_path):
    import re

    res = snakemake("-n", cwd=tmp_path, config_file=REPO / "config.yaml")
    out = res.stdout + res.stderr
    for rule in ("detect_block", "classify_block", "train_detector", "train_classifier", "composite_block"):
        m = re.search(rf"rule {rule}:\n.*?resources: ([^\n]*)", out, re.S)
        assert m, rule
        assert ("gpu=1" in m.group(1)) == (rule != "composite_block"), (rule, m.group(1))
    # Per-field jobs are grouped for the cluster: a CPU group and a GPU group.
    assert "Group job fields " in out.replace("fields (", "fields ") and "Group job fields_gpu" in out


def test_real_pixels_fine_tune_the_classifier_that_everything_downstream_uses(tmp_path):
    """With real_pixels.fields, the dry run fine-tunes the trained classifier once, and the
    fusion, the evaluation and the classify blocks read the fine-tuned checkpoint."""
    import re

    (tmp_path / "sas").mkdir()
    overlay = tmp_path / "real.yaml"
    overlay.write_text("real_pixels:\n  fields: [1035/6/17, 1992/1/87]\n  mirror_root: sas\n")
    res = snakemake("-n", "--configfile", str(REPO / "config.yaml"), str(overlay), cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    out = res.stdout
    tuned = "results/models/classifier/conv4net-real.pt"
    block = re.search(r"rule fine_tune_classifier_real:\n(.*?)\n\n", out, re.S).group(1)
    assert "input: " in block and "results/models/classifier/conv4net.pt" in block and tuned in block
    assert out.count("rule fine_tune_classifier_real:") == 1
    for rule in ("train_fusion", "evaluate_classifier", "classify_block"):
        inputs = re.search(rf"rule {rule}:\n\s+input: ([^\n]*)", out).group(1)
        assert tuned in inputs and "conv4net.pt" not in inputs.replace("conv4net-real.pt", ""), (rule, inputs)


def test_a_run_without_fields_dry_runs_from_its_cached_field_index(tmp_path):
    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    cfg["simulate"]["enabled"] = False
    cfg["runs"] = [{"run": 4510, "camcols": [4]}]
    cfg["sdss"]["field_index_dir"] = str(tmp_path / "index")
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg))
    missing = snakemake("-n", cwd=tmp_path, config_file=path)
    assert missing.returncode != 0 and "Traceback" not in missing.stderr
    assert [ln for ln in missing.stderr.splitlines() if "field index" in ln][0].startswith("ERROR runs: run 4510")
    (tmp_path / "index").mkdir()
    (tmp_path / "index" / "4510.csv").write_text(
        "run,rerun,camcol,field\n" + "".join(f"4510,301,4,{f}\n" for f in range(30, 33))
    )
    dry = snakemake("-n", cwd=tmp_path, config_file=path)
    assert dry.returncode == 0, dry.stderr
    assert "block=0030-0031" in dry.stdout and "block=0032-0032" in dry.stdout


def test_workflow_is_lint_clean_and_snakefmt_formatted(tmp_path):
    lint = snakemake("--lint", cwd=tmp_path, config_file=REPO / "config.yaml")
    assert lint.returncode == 0 and "Congratulations" in lint.stdout + lint.stderr, (lint.stdout + lint.stderr)[-3000:]
    snakefmt = shutil.which("snakefmt", path=str(Path(sys.executable).parent)) or "snakefmt"
    fmt = subprocess.run([snakefmt, "--check", "Snakefile", "workflow/rules"], cwd=REPO, capture_output=True, text=True)
    assert fmt.returncode == 0, fmt.stderr[-2000:]


def test_python_is_ruff_clean_and_formatted():
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or "ruff"
    paths = ["src", "workflow/scripts", "tests", "benchmarks", "docs/conf.py"]
    check = subprocess.run([ruff, "check", *paths], cwd=REPO, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout[-3000:]
    fmt = subprocess.run([ruff, "format", "--check", *paths], cwd=REPO, capture_output=True, text=True)
    assert fmt.returncode == 0, fmt.stdout[-3000:]


def test_catalog_only_config_with_given_models_dry_runs_without_training(tmp_path, model_checkpoints):
    """All runs have the role 'catalog' and both models are given: accepted, and the dry run
    has no training, dataset or evaluation job."""
    shutil.copyfile(model_checkpoints / "detector.pt", tmp_path / "det.pt")
    shutil.copyfile(model_checkpoints / "conv4net.pt", tmp_path / "cls.pt")
    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    cfg["runs"] = [{"run": 9103, "strip": "N", "camcols": [2], "fields": [20, 22], "roles": ["catalog"]}]
    cfg["detector"]["weights"] = "det.pt"
    cfg["classifier"]["weights"] = "cls.pt"
    path = tmp_path / "catalog-only.yaml"
    path.write_text(yaml.safe_dump(cfg))
    # The fusion is fitted on the classifier's validation cut-outs: without them, a model.
    no_fusion = snakemake("-n", cwd=tmp_path, config_file=path)
    assert no_fusion.returncode != 0 and "Traceback" not in no_fusion.stderr
    assert "fusion.model: needed when no run has the role 'classify_train'" in no_fusion.stderr
    shutil.copyfile(model_checkpoints / "fusion.joblib", tmp_path / "fusion.joblib")
    cfg["fusion"]["model"] = "fusion.joblib"
    path.write_text(yaml.safe_dump(cfg))
    dry = snakemake("-n", cwd=tmp_path, config_file=path)
    assert dry.returncode == 0, dry.stderr
    out = dry.stdout
    for rule in ("detect_block", "classify_block", "catalog_run", "catalog"):
        assert f"rule {rule}:" in out, rule
    for rule in (
        "train_detector",
        "train_classifier",
        "detect_dataset",
        "classify_dataset",
        "evaluate_detector",
        "evaluate_classifier",
        "train_fusion",
        "evaluate_fusion",
        "training_data_block",
        "cutouts_block",
        # A catalogue needs no spectra: most runs a user catalogues have few or none.
        "query_specphoto",
    ):
        assert f"rule {rule}:" not in out, rule
    # Without the detector's weights the same config is refused, naming what is missing.
    cfg["detector"]["weights"] = None
    path.write_text(yaml.safe_dump(cfg))
    refused = snakemake("-n", cwd=tmp_path, config_file=path)
    assert refused.returncode != 0 and "Traceback" not in refused.stderr
    assert "no run has the role 'detect_train' (or set detector.weights" in refused.stderr
    cfg["detector"]["weights"] = "missing.pt"
    path.write_text(yaml.safe_dump(cfg))
    missing = snakemake("-n", cwd=tmp_path, config_file=path)
    assert missing.returncode != 0 and "detector.weights: missing.pt does not exist" in missing.stderr
    # Trial 8 of issue 18: classifier weights given as detector weights stop the planning
    # with one line, not inside the jobs with the job's log empty.
    cfg["detector"]["weights"] = "cls.pt"
    path.write_text(yaml.safe_dump(cfg))
    swapped = snakemake("-n", cwd=tmp_path, config_file=path)
    assert swapped.returncode != 0 and "Traceback" not in swapped.stderr
    assert "detector.weights: cls.pt is a Conv4Net classifier checkpoint, not YOLO weights" in swapped.stderr


def _rules_to_run(res):
    """Rule names with jobs in a `snakemake -n --quiet rules` answer."""
    import re

    assert res.returncode == 0, res.stderr[-3000:]
    text = res.stdout + res.stderr
    if "Nothing to be done" in text:
        return set()
    return set(re.findall(r"^(\w+)\s+\d+$", text, re.M)) - {"total"}


@pytest.fixture(scope="module")
def finished_demo(tmp_path_factory):
    """A working directory in which every job of the demo config counts as done: its outputs
    exist and Snakemake's metadata records every job's params (`--touch --forceall`)."""
    tmp = tmp_path_factory.mktemp("finished")
    summary = snakemake("--summary", cwd=tmp, config_file=REPO / "config.yaml")
    assert summary.returncode == 0, summary.stderr[-3000:]
    for line in summary.stdout.splitlines()[1:]:
        path = tmp / line.split("\t")[0]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
    touched = snakemake("--touch", "--forceall", cwd=tmp, config_file=REPO / "config.yaml")
    assert touched.returncode == 0, touched.stderr[-3000:]
    assert _rules_to_run(snakemake("-n", "--quiet", "rules", cwd=tmp, config_file=REPO / "config.yaml")) == set()
    return tmp


def test_a_finished_project_copied_to_another_path_has_nothing_to_do(finished_demo, tmp_path):
    """No param or input holds the project's location: `init_weights: shipped` is a copy under
    the project (rule stage_shipped_model), its param the weights' checksum."""
    moved = tmp_path / "elsewhere" / "project"
    shutil.copytree(finished_demo, moved, symlinks=True)
    assert _rules_to_run(snakemake("-n", "--quiet", "rules", cwd=moved, config_file=REPO / "config.yaml")) == set()
    # (`snakemake --list-changes params` cannot say it: Snakemake 9.27 lists every output it
    # compared, changed or not, since its ParamsChange iterates over its files even when empty.)

    # What Snakemake recorded of every job (params, inputs) names no absolute path: neither
    # the checkout (where the package and its shipped detector live) nor the project.
    records = [p.read_text() for p in (moved / ".snakemake" / "metadata").iterdir()]
    assert len(records) > 20
    assert [r for r in records if str(REPO) in r or str(finished_demo) in r] == []


@pytest.mark.parametrize(
    "section, key, value, rerun, kept",
    [
        (
            "detector",
            "conf",
            0.3,
            {
                "detect_block",
                "classify_block",
                "catalog_run",
                "catalog",
                "catalog_figures",
                "evaluate_detector",
                "sky_map",
                "metrics_table",
            },
            {"fetch_block", "query_photoobj_block", "composite_block", "train_detector", "train_classifier"},
        ),
        (
            "classifier",
            "epochs",
            31,
            {
                "train_classifier",
                "evaluate_classifier",
                # The fusion is fitted on this classifier's answers.
                "train_fusion",
                "evaluate_fusion",
                "classify_block",
                "catalog_run",
                "catalog",
                "catalog_figures",
                "sky_map",
                "metrics_table",
            },
            {"fetch_block", "train_detector", "detect_block", "cutouts_block", "classify_dataset"},
        ),
        (
            # How classify_block runs the network, not the model: no training reruns.
            "classifier",
            "predict_batch",
            32,
            {"classify_block", "catalog_run", "catalog", "catalog_figures", "sky_map", "metrics_table"},
            {"train_classifier", "evaluate_classifier", "train_fusion", "evaluate_fusion", "detect_block"},
        ),
        (
            "catalog",
            "match_radius_arcsec",
            1.5,
            {"catalog_run", "catalog", "sky_map", "metrics_table"},
            {
                "classify_block",
                "detect_block",
                "train_detector",
                "train_classifier",
                "fetch_block",
                "catalog_figures",
                "morphology_check",
            },
        ),
        (
            "sdss",
            "download",
            {"retries": 3, "backoff_s": 2.0, "timeout_s": 60},
            # Everything downstream of the fetch: its outputs count as changed. The demo's
            # classification cut-outs are rendered, not cut from the fetched frames.
            {
                "fetch_block",
                "composite_block",
                "training_data_block",
                "detect_dataset",
                "train_detector",
                "detect_block",
                "classify_block",
                "evaluate_detector",
                "field_status",
                "pasting_figure",
                "catalog_run",
                "catalog",
                "catalog_figures",
                "sky_map",
                "morphology_check",
                "metrics_table",
                # The queries use the same retry policy.
                "query_photoobj_block",
            },
            {"simulate_block", "simulate_specphoto", "classify_dataset", "train_classifier", "train_fusion"},
        ),
    ],
)
def test_changing_one_key_reruns_exactly_the_jobs_that_read_it(finished_demo, section, key, value, rerun, kept):
    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    cfg[section][key] = value
    path = finished_demo / f"changed-{section}-{key}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    would_run = _rules_to_run(snakemake("-n", "--quiet", "rules", cwd=finished_demo, config_file=path))
    assert would_run == rerun | {"all"}, would_run
    assert not (kept & would_run), would_run
    why = snakemake("-n", cwd=finished_demo, config_file=path)
    assert "Params have changed since last execution" in why.stdout


def test_code_version_follows_the_modules_a_script_imports():
    from yl8c4net.pipeline.code_version import _closure, script_code_version

    detect = _closure("yl8c4net.detect.infer")
    assert "yl8c4net.images.tiling" in detect and "yl8c4net.simulate.render" not in detect
    assert "yl8c4net.catalog.ownership" in _closure("yl8c4net.catalog.build")
    scripts = REPO / "workflow" / "scripts"
    a, b = script_code_version(scripts / "detect_block.py"), script_code_version(scripts / "catalog_run.py")
    assert a.startswith("0.") and a != b and a == script_code_version(scripts / "detect_block.py")


def test_broken_yaml_in_config_yaml_names_the_line(tmp_path):
    """Trial 11 of issue 18: Snakemake's parser says only 'not valid JSON or YAML'."""
    text = (REPO / "config.yaml").read_text().replace("  rerun: 301\n", "  rerun: 301\n   bands: [u, g\n", 1)
    (tmp_path / "config.yaml").write_text(text)
    line = text.splitlines().index("   bands: [u, g") + 1
    res = snakemake("-n", cwd=tmp_path)
    assert res.returncode != 0 and "Traceback" not in res.stderr
    assert f"ERROR config.yaml: line {line}, column" in res.stderr and "is not valid YAML" in res.stderr


def test_onnx_runtimes_export_each_model_once_and_the_blocks_run_the_copies(tmp_path):
    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    cfg["detector"]["runtime"] = cfg["classifier"]["runtime"] = "onnx"
    path = tmp_path / "onnx.yaml"
    path.write_text(yaml.safe_dump(cfg))
    dry = snakemake("-n", cwd=tmp_path, config_file=path)
    assert dry.returncode == 0, dry.stderr
    out = dry.stdout
    assert out.count("rule export_detector_onnx:") == 1 and out.count("rule export_classifier_onnx:") == 1
    for rule, model in (
        ("detect_block", "results/models/detector/onnx/detector.onnx"),
        ("classify_block", "results/models/classifier/onnx/conv4net.onnx"),
    ):
        inputs = re.findall(rf"rule {rule}:\n\s+input: ([^\n]*)", out)
        assert inputs and all(model in line for line in inputs), (rule, inputs[:1])


def test_lean_mode_fetches_one_astrans_per_run_and_no_frames(tmp_path):
    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    cfg["sdss"]["lean"] = True
    path = tmp_path / "lean.yaml"
    path.write_text(yaml.safe_dump(cfg))
    dry = snakemake("-n", cwd=tmp_path, config_file=path)
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.count("rule fetch_astrans:") == 1
    assert "output: resources/astrans/asTrans-9101.fit" in dry.stdout
    assert (
        "Fetch run 9101 camcol 3 fields 0011-0012: frames none (WCS from the run asTrans) + the irg JPEG" in dry.stdout
    )


def test_field_workers_set_the_cpu_blocks_threads_and_rerun_nothing(finished_demo):
    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    cfg["field_workers"] = {"cpu": 3, "downloads": 2, "gpu": 3, "pool": "processes"}
    path = finished_demo / "field-workers.yaml"
    path.write_text(yaml.safe_dump(cfg))
    assert _rules_to_run(snakemake("-n", "--quiet", "rules", cwd=finished_demo, config_file=path)) <= {"all"}
    forced = snakemake(
        "-n", "--cores", "4", "-R", "composite_block", "classify_block", cwd=finished_demo, config_file=path
    )
    out = forced.stdout + forced.stderr
    for rule in ("composite_block", "training_data_block", "classify_block"):
        m = re.search(rf"rule {rule}:\n(.*?)\n\n", out, re.S)
        assert m and "threads: 3" in m.group(1), (rule, m and m.group(1))
    # The classify jobs start one worker process per field in flight.
    m = re.search(r"rule classify_block:\n(.*?)\n\n", out, re.S)
    assert "field_processes=3" in m.group(1), m.group(1)


def test_real_pixels_without_a_mirror_fine_tune_on_the_runs_own_fetched_fields(tmp_path):
    """real_pixels.fields with no mirror_root: the fine-tuning job waits for the fetch of the
    block holding the field, and a field outside the runs, or lean mode, stops the start-up
    with one line naming the key."""
    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    cfg["real_pixels"]["fields"] = ["9101/3/13"]
    on = tmp_path / "on.yaml"
    on.write_text(yaml.safe_dump(cfg))
    dry = snakemake("-n", "results/models/classifier/conv4net-real.pt", cwd=tmp_path, config_file=on)
    assert dry.returncode == 0, dry.stderr
    out = dry.stdout + dry.stderr
    job = out[out.index("rule fine_tune_classifier_real:") :]
    inputs = next(line for line in job.splitlines() if line.strip().startswith("input:"))
    assert "resources/frames/9101/3/block-0013-0014.json" in inputs
    assert "block-0011-0012" not in inputs
    for change, message in (
        (
            {"real_pixels": {"fields": ["9101/3/20"]}},
            "real_pixels.fields: 9101/3/20 is not a field of the config's runs",
        ),
        ({"sdss": {"lean": True}}, "real_pixels.fields: sdss.lean fetches no r frame"),
    ):
        bad_cfg = yaml.safe_load(on.read_text())
        for section, values in change.items():
            bad_cfg[section].update(values)
        bad = tmp_path / "bad.yaml"
        bad.write_text(yaml.safe_dump(bad_cfg))
        res = snakemake("-n", cwd=tmp_path, config_file=bad)
        assert res.returncode != 0
        lines = [ln for ln in res.stderr.splitlines() if message in ln]
        assert len(lines) == 1, res.stderr[-2000:]
        assert "Traceback" not in res.stderr
