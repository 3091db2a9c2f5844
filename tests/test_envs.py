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
            if not isinstance(item, str) or item.startswith(("python=", "pip")):
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
