"""Time and peak memory of `snakemake -n` for a survey of N fields (no data needed).

    python benchmarks/dryrun_scale.py [--runs 20] [--fields-per-camcol 225] [--camcols 6]

Writes a config with the given runs (roles: catalog, with given model weights so no
training jobs; frames from a non-existent SAS mirror is fine for a dry run), runs
`snakemake -n --quiet` under /usr/bin/time, prints a table and writes
benchmarks/out/dryrun_scale.json. Target (issue 7): the paper's 20 runs (~27 k fields) in
<= 60 s and <= 4 GB.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--camcols", type=int, default=6)
    ap.add_argument("--fields-per-camcol", type=int, default=225)
    args = ap.parse_args()
    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    cfg["runs"] = [{"run": 3700 + k, "camcols": list(range(1, args.camcols + 1)),
                    "fields": [11, 10 + args.fields_per_camcol]} for k in range(args.runs)]
    cfg["simulate"]["enabled"] = False
    cfg["detector"]["weights"] = "models/yolov8.pt"
    cfg["classifier"]["weights"] = "models/conv4net.pt"
    n_fields = args.runs * args.camcols * args.fields_per_camcol
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "config.yaml").write_text(yaml.safe_dump(cfg))
        (Path(tmp) / "models").mkdir()
        for name in ("yolov8.pt", "conv4net.pt"):
            (Path(tmp) / "models" / name).write_bytes(b"x")
        snakemake = str(Path(sys.executable).parent / "snakemake")
        cmd = ["/usr/bin/time", "-v", snakemake, "--snakefile", str(REPO / "Snakefile"), "--directory", tmp,
               "--configfile", str(Path(tmp) / "config.yaml"), "-n", "--quiet", "rules", "--cores", "1"]
        t0 = time.perf_counter()
        res = subprocess.run(cmd, capture_output=True, text=True)
        wall = time.perf_counter() - t0
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", res.stderr)
    jobs = re.search(r"^total\s+(\d+)", res.stdout + res.stderr, re.M)
    row = {"fields": n_fields, "jobs": int(jobs.group(1)) if jobs else None, "wall_s": wall,
           "peak_rss_gb": int(rss.group(1)) / 1e6 if rss else None, "returncode": res.returncode}
    print("| fields | jobs | wall s | peak GB |")
    print("|---|---|---|---|")
    print(f"| {n_fields:,} | {row['jobs']} | {wall:.1f} | {row['peak_rss_gb']:.2f} |")
    if res.returncode:
        print(res.stderr[-2000:])
    out = REPO / "benchmarks" / "out" / "dryrun_scale.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    rows = json.loads(out.read_text()) if out.is_file() else []
    out.write_text(json.dumps(rows + [row], indent=1))


if __name__ == "__main__":
    main()
