"""Time and peak memory of `snakemake -n` for a survey of N fields (no data needed).

    python benchmarks/dryrun_scale.py [--case RUNS FIELDS_PER_CAMCOL FIELDS_PER_BLOCK ...]
                                      [--dr17 FIELDS FIELDS_PER_BLOCK ...]

A ``--case`` writes a config with RUNS runs of 6 camcols (roles: all three, so the training
data jobs are in the DAG too; model weights given, so no training jobs); a ``--dr17`` case a
generated DR17-like catalogue config (`dr17_runs`: runs of 30-1,000 fields on all six
camcols, catalogue role only, given models) of FIELDS fields. Each runs
`snakemake -n --quiet rules` under /usr/bin/time and prints one table row; all rows go to
benchmarks/out/dryrun_scale.json. The default cases put per-field jobs (blocks of 1) beside
blocks of 50 on the same 1,200 fields, the paper's 20 runs (~27 k fields) in blocks of 50,
and all of DR17 (~940 k fields) in blocks of 50 and 100. Targets: 27 k fields in <= 60 s and
<= 4 GB; all DR17 in <= 3 min and <= 8 GB.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from record import write_record

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CASES = [(1, 200, 1), (1, 200, 50), (20, 225, 50)]


#: DR17's imaging: ~940 k fields; runs cover all six camcols over their own field range.
DR17_FIELDS = 940_000


def dr17_runs(total_fields: int = DR17_FIELDS, seed: int = 17) -> list[dict]:
    """A generated all-DR17 run list: runs of 6 camcols whose lengths follow a broad
    distribution (30 to ~1,000 fields, as SDSS runs do), catalogue role only (a survey-wide
    catalogue run uses given models), adding up to ``total_fields`` fields."""
    import numpy as np

    rng = np.random.default_rng(seed)
    runs, total, run = [], 0, 94
    while total < total_fields:
        n = int(np.clip(rng.lognormal(np.log(170), 0.7), 30, 1000))
        n = min(n, (total_fields - total + 5) // 6)
        runs.append({"run": run, "camcols": list(range(1, 7)), "fields": [11, 10 + n], "roles": ["catalog"]})
        total += 6 * n
        run += int(rng.integers(1, 12))
    return runs


def write_conv4net_checkpoint(path: Path) -> None:
    """An untrained Conv4Net checkpoint in the format `load_classifier` accepts."""
    import torch

    from yl8c4net.classify.model import CLASS_NAMES, Conv4Net

    path.parent.mkdir(parents=True, exist_ok=True)
    norm = {"min": [0.0] * 3, "max": [255.0] * 3, "mean": [0.5] * 3, "std": [0.2] * 3}
    state = {"version": 1, "class_names": list(CLASS_NAMES), "in_channels": 3, "norm": norm}
    torch.save({**state, "model_state": Conv4Net().state_dict()}, path)


def dry_run(runs: int, fields_per_camcol: int, fields_per_block, dr17_fields: int = 0) -> dict:
    """One dry run: ``runs`` runs of ``fields_per_camcol`` fields (all roles), or the
    generated DR17-like catalogue config of ``dr17_fields`` fields (`dr17_runs`)."""
    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    cfg["fields_per_block"] = fields_per_block
    if not dr17_fields:
        cfg["runs"] = [
            {"run": 3700 + k, "camcols": list(range(1, 7)), "fields": [11, 10 + fields_per_camcol]} for k in range(runs)
        ]
    else:
        cfg["runs"] = dr17_runs(dr17_fields)
    cfg["simulate"]["enabled"] = False
    cfg["sdss"]["frame_source"] = "sas"
    # Given models (real-format files: the config check reads them), so no training jobs;
    # the fusion is off (its model would be one more input file, the same for every run).
    cfg["detector"]["weights"] = "shipped"
    cfg["classifier"]["weights"] = "models/conv4net.pt"
    cfg["fusion"]["enabled"] = False
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "config.yaml").write_text(yaml.safe_dump(cfg))
        write_conv4net_checkpoint(Path(tmp) / "models" / "conv4net.pt")
        snakemake = str(Path(sys.executable).parent / "snakemake")
        cmd = [
            "/usr/bin/time",
            "-v",
            snakemake,
            "--snakefile",
            str(REPO / "Snakefile"),
            "--directory",
            tmp,
            "--configfile",
            str(Path(tmp) / "config.yaml"),
            "-n",
            "--quiet",
            "rules",
            "--cores",
            "1",
        ]
        t0 = time.perf_counter()
        res = subprocess.run(cmd, capture_output=True, text=True)
        wall = time.perf_counter() - t0
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", res.stderr)
    jobs = re.search(r"^total\s+(\d+)", res.stdout + res.stderr, re.M)
    if res.returncode:
        print(res.stderr[-2000:])
    return {
        "case": f"{runs} runs x 6 camcols x {fields_per_camcol} fields"
        if not dr17_fields
        else "DR17-like runs (generated)",
        "fields": sum(6 * (r["fields"][1] - r["fields"][0] + 1) for r in cfg["runs"]),
        "fields_per_block": fields_per_block,
        "jobs": int(jobs.group(1)) if jobs else None,
        "wall_s": wall,
        "peak_rss_gb": int(rss.group(1)) / 1e6 if rss else None,
        "returncode": res.returncode,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--case", type=int, nargs=3, action="append", metavar=("RUNS", "FIELDS_PER_CAMCOL", "BLOCK"))
    ap.add_argument(
        "--dr17", nargs=2, action="append", metavar=("FIELDS", "BLOCK"), help="DR17-like runs of FIELDS fields in all"
    )
    args = ap.parse_args()
    cases = [(*c, 0) for c in args.case or []] + [
        (0, 0, int(b) if b.isdigit() else b, int(n)) for n, b in args.dr17 or []
    ]
    rows = []
    print("| case | fields | fields per block | jobs | wall s | peak GB |")
    print("|---|---|---|---|---|---|")
    for case in cases or [(*c, 0) for c in DEFAULT_CASES] + [(0, 0, b, DR17_FIELDS) for b in (50, 100)]:
        row = dry_run(*case)
        rows.append(row)
        print(
            f"| {row['case']} | {row['fields']:,} | {row['fields_per_block']} | {row['jobs'] or 0:,} | "
            f"{row['wall_s']:.1f} | {row['peak_rss_gb'] or 0:.2f} |",
            flush=True,
        )
    out = REPO / "benchmarks" / "out" / "dryrun_scale.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    write_record(out, rows)


if __name__ == "__main__":
    main()
