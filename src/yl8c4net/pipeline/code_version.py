"""The version of the code a workflow stage runs, as a Snakemake param: the package version
and a hash of the package modules that the stage's script imports, followed through the
package's own imports. Upgraded or edited code then reruns exactly the stages it affects.

Static analysis (``ast``) rather than importing: the DAG is built without loading torch or
GalSim, and a module imported inside a function counts as well.
"""

from __future__ import annotations

import ast
import hashlib
from functools import lru_cache
from pathlib import Path

PACKAGE = "yl8c4net"
PACKAGE_DIR = Path(__file__).resolve().parents[1]  # src/yl8c4net: this module is in its pipeline/


def _module_file(module: str) -> Path | None:
    parts = module.split(".")
    if parts[0] != PACKAGE:
        return None
    base = PACKAGE_DIR.joinpath(*parts[1:])
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imports(path: Path, module: str) -> set[str]:
    """Package modules imported by the file ``path`` (module name ``module``)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                root = ".".join(base + ([node.module] if node.module else []))
            else:
                root = node.module or ""
            found.add(root)
            found.update(f"{root}.{a.name}" for a in node.names)
    return {m for m in found if m == PACKAGE or m.startswith(PACKAGE + ".")}


@lru_cache(maxsize=None)
def _closure(module: str) -> frozenset[str]:
    seen: set[str] = set()
    todo = [module]
    while todo:
        name = todo.pop()
        path = _module_file(name)
        if name in seen or path is None:
            continue
        seen.add(name)
        todo.extend(_imports(path, name) - seen)
        # A submodule's import runs its package's __init__ too.
        parent = name.rpartition(".")[0]
        if parent:
            todo.append(parent)
    return frozenset(seen)


def script_code_version(script: str | Path) -> str:
    """``{package version}+{hash}`` of the package modules ``script`` imports (transitively)
    and of the script itself."""
    from yl8c4net import __version__

    script = Path(script)
    modules: set[str] = set()
    for name in _imports(script, "__script__"):
        modules |= _closure(name)
    digest = hashlib.sha256(script.read_bytes())
    for name in sorted(modules):
        digest.update(name.encode())
        digest.update(_module_file(name).read_bytes())
    return f"{__version__}+{digest.hexdigest()[:12]}"


def training_run_key(settings: dict, code: str, data_files) -> str:
    """Key of a training run: its settings, the code version and the content of every data
    file it reads. A run directory or checkpoint is resumed only under the same key."""
    import json

    from yl8c4net.io import sha256_of

    digest = hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode())
    digest.update(code.encode())
    for path in sorted(str(p) for p in data_files):
        digest.update(Path(path).name.encode())
        digest.update(sha256_of(path).encode())
    return digest.hexdigest()[:16]
