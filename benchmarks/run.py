"""One entry point for the benchmarks: list them, or run one by name with its own arguments.

    python benchmarks/run.py --list
    python benchmarks/run.py real_fields --fields 4510/4/30

Every benchmark prints its table and writes one record, ``benchmarks/out/NAME.json``, in the
format of `record.py` (results, the printed table, date, commit, machine, command);
``publish.py`` copies a record into the documentation.
"""

from __future__ import annotations

import ast
import runpy
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
NOT_BENCHMARKS = {"run", "record", "publish"}


def benchmarks() -> dict[str, str]:
    """Benchmark name -> the first line of its docstring."""
    found = {}
    for path in sorted(HERE.glob("*.py")):
        if path.stem in NOT_BENCHMARKS:
            continue
        doc = ast.get_docstring(ast.parse(path.read_text())) or ""
        found[path.stem] = doc.strip().splitlines()[0] if doc.strip() else ""
    return found


def main(argv: list[str]) -> int:
    known = benchmarks()
    if not argv or argv[0] in ("-h", "--help", "--list"):
        width = max(map(len, known))
        print("\n".join(f"{name:<{width}}  {line}" for name, line in known.items()))
        return 0
    name, args = argv[0], argv[1:]
    if name not in known:
        print(f"ERROR unknown benchmark {name!r}; python benchmarks/run.py --list names them", file=sys.stderr)
        return 2
    sys.argv = [str(HERE / f"{name}.py"), *args]
    sys.path.insert(0, str(HERE))
    runpy.run_path(sys.argv[0], run_name="__main__")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
