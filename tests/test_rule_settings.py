"""Every config key a workflow script reads reaches it through its rule's ``params.config``
(`settings(...)` in workflow/rules/*.smk): a key the rule leaves out is a KeyError in the
job, which a dry run cannot show. Static: the rules' text and the scripts' syntax trees."""

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RULE = re.compile(r"^(?:rule|checkpoint) (\w+):\n(.*?)(?=^\S|\Z)", re.S | re.M)
SETTINGS = re.compile(r"config=(?:run_)?settings\((.*?)\)", re.S)
SCRIPT = re.compile(r"script:\s*\n\s*\"\.\./scripts/(\w+\.py)\"")


def rule_settings() -> dict:
    """{script file: the dotted keys its rule's settings(...) pass}."""
    out = {}
    for smk in sorted((REPO / "workflow" / "rules").glob("*.smk")):
        for name, body in RULE.findall(smk.read_text()):
            script = SCRIPT.search(body)
            keys = SETTINGS.search(body)
            if script and keys:
                found = re.findall(r"\"([\w.]+)\"", keys.group(1))
                assert found, f"rule {name}: settings() without string keys"
                out.setdefault(script.group(1), set()).update(found)
    return out


def _params_config(node) -> bool:
    """``snakemake.params.config``."""
    return (
        isinstance(node, ast.Attribute)
        and node.attr == "config"
        and isinstance(node.value, ast.Attribute)
        and node.value.attr == "params"
        and isinstance(node.value.value, ast.Name)
        and node.value.value.id == "snakemake"
    )


def _subscript_path(node):
    """(base node, ["a", "b", ...]) of a chain of constant-string subscripts."""
    path = []
    while (
        isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant) and isinstance(node.slice.value, str)
    ):
        path.append(node.slice.value)
        node = node.value
    return node, path[::-1]


def config_reads(script: Path) -> set:
    """Dotted config paths ``script`` subscripts: through ``snakemake.params.config``
    directly, or through a name assigned from it (or from one of its sections)."""
    tree = ast.parse(script.read_text())
    aliases = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            base, path = _subscript_path(node.value)
            if _params_config(base):
                aliases[node.targets[0].id] = path
    reads = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Subscript):
            continue
        base, path = _subscript_path(node)
        if _params_config(base):
            reads.add(".".join(path))
        elif isinstance(base, ast.Name) and base.id in aliases and path:
            reads.add(".".join(aliases[base.id] + path))
    return {r for r in reads if r}


def covered(read: str, keys: set) -> bool:
    """A read is covered by a passed key at or above it, or (a section handed on whole) one below it."""
    return any(read == k or read.startswith(k + ".") or k.startswith(read + ".") for k in keys)


def test_every_config_key_a_script_reads_is_in_its_rules_settings():
    settings = rule_settings()
    readers = {p.name for p in (REPO / "workflow" / "scripts").glob("*.py") if "params.config" in p.read_text()}
    assert readers == set(settings) and "classify_block.py" in readers  # every reader's rule found
    missing = {
        f"{script}: {read}"
        for script, keys in settings.items()
        for read in config_reads(REPO / "workflow" / "scripts" / script)
        if not covered(read, keys)
    }
    assert not missing, sorted(missing)


def test_the_check_sees_a_key_a_rule_leaves_out(tmp_path):
    script = tmp_path / "s.py"
    script.write_text(
        'cfg = snakemake.params.config\nn = cfg["classifier"]["predict_batch"]\n'
        'det = snakemake.params.config["detector"]\nc = det["conf"]\n'
    )
    reads = config_reads(script)
    assert reads == {"classifier.predict_batch", "classifier", "detector", "detector.conf"}
    assert not covered("classifier.predict_batch", {"classifier.device", "classifier.runtime"})
    assert covered("detector.conf", {"detector"}) and covered("classifier", {"classifier.device"})
