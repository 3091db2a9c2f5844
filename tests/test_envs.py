"""The conda envs of the rules (for --sdm conda; they cannot be solved offline here) agree
with pyproject.toml: every package they pin is a dependency with an overlapping version,
and every rule names one of them."""

import re
import tomllib
from pathlib import Path

import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

REPO = Path(__file__).resolve().parents[1]
# conda-forge names that differ from PyPI's.
CONDA_TO_PYPI = {"pytorch": "torch", "matplotlib-base": "matplotlib", "galsim": "GalSim"}


def _pyproject_deps():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    deps = project["dependencies"] + project["optional-dependencies"]["hats"]
    return {Requirement(d).name.lower(): Requirement(d).specifier for d in deps}


def test_env_pins_match_pyproject():
    deps = _pyproject_deps()
    envs = sorted((REPO / "envs").glob("*.yaml"))
    assert len(envs) >= 3
    for env in envs:
        spec = yaml.safe_load(env.read_text())
        for item in spec["dependencies"]:
            if not isinstance(item, str) or item.startswith(("python=", "pip", "setuptools")):
                continue
            name, _, version = item.partition("=")
            pypi = CONDA_TO_PYPI.get(name, name).lower()
            assert pypi in deps, f"{env.name}: {name} is not a dependency in pyproject.toml"
            if version:
                # conda's "=2.4" means 2.4.*: some release of that series must satisfy pyproject.
                parts = version.split(".")
                candidates = [f"{version}.{k}" if len(parts) < 3 else version for k in range(0, 200)]
                assert any(SpecifierSet(str(deps[pypi])).contains(c) for c in candidates), (env.name, item, deps[pypi])


def test_every_rule_names_a_conda_env():
    text = "".join(p.read_text() for p in (REPO / "workflow" / "rules").glob("*.smk"))
    rules = re.findall(r"^rule (\w+):", text, re.M)
    envs = re.findall(r'conda:\n\s+"\.\./\.\./envs/(\w+)\.yaml"', text)
    assert len(envs) == len([r for r in rules if r != "all"]), (rules, envs)
    assert all((REPO / "envs" / f"{e}.yaml").is_file() for e in envs)


def test_envs_install_the_package_from_the_workflow_whatever_the_working_directory(tmp_path):
    """Snakemake builds an env from a copy of its file under .snakemake/conda/, so the env
    files carry no relative pip path; each env's post-deploy script installs the package
    from YL8C4NET_PACKAGE_DIR, which the Snakefile exports. Run here as Snakemake would, in
    a fresh environment and from an unrelated directory."""
    import os
    import subprocess
    import sys

    for env in sorted((REPO / "envs").glob("*.yaml")):
        text = env.read_text()
        assert "-e ../" not in text and "pip:" not in text, env.name
        deploy = env.with_name(env.stem + ".post-deploy.sh")
        assert deploy.is_file() and "YL8C4NET_PACKAGE_DIR" in deploy.read_text(), deploy.name
    assert "os.environ.update(YL8C4NET_PACKAGE_DIR=workflow.basedir)" in (REPO / "Snakefile").read_text()
    venv = tmp_path / "env"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)], check=True)
    # The fresh env borrows this interpreter's pip and setuptools (conda's env has its own).
    site = next(p for p in sys.path if p.endswith("site-packages"))
    env = {
        **os.environ,
        "PATH": f"{venv / 'bin'}:{os.environ['PATH']}",
        "YL8C4NET_PACKAGE_DIR": str(REPO),
        "PYTHONPATH": site,
        "PIP_NO_INDEX": "1",
        "PIP_PREFIX": str(venv),
    }
    elsewhere = tmp_path / "somewhere" / "else"
    elsewhere.mkdir(parents=True)
    res = subprocess.run(
        ["bash", str(REPO / "envs" / "ml.post-deploy.sh")],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    assert any(venv.rglob("__editable__*yl8c4net*")) or any(venv.rglob("*yl8c4net*.pth")), list(venv.rglob("*"))[:20]


def test_a_built_wheel_carries_the_schema_and_model_yamls(tmp_path):
    """Schema and model YAMLs are package data, found through importlib.resources, so a
    non-editable install (a wheel, a conda env) validates configs and builds YOLOv8-ST."""
    import subprocess
    import sys
    import zipfile

    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "-w",
            str(tmp_path),
            str(REPO),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    names = zipfile.ZipFile(next(tmp_path.glob("yl8c4net-*.whl"))).namelist()
    for needed in (
        "yl8c4net/schemas/config.schema.yaml",
        "yl8c4net/detect/yolov8-st.yaml",
        "yl8c4net/simulate/data/colour_model.json",
    ):
        assert needed in names, needed
