"""Simulated versus real SDSS frames: sky median and rms, > 5 sigma segment counts and PSF
FWHM per band (the recipe of yl8c4net.simulate.calibration), on the real fields in
../shared/data/sas and on simulated fields of the default config's geometry.

    python benchmarks/simulator_calibration.py [--shared ../shared] [--n-sim 3]

Prints a Markdown table and writes benchmarks/out/simulator_calibration.json.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from yl8c4net.sdss.fields import BANDS, FieldId, frame_relpath
from yl8c4net.sdss.frames import read_frame
from yl8c4net.simulate.calibration import frame_statistics
from yl8c4net.simulate.mirror import SimConfig, simulate_field
from record import write_record

REAL = [(1035, 6, 17), (1992, 1, 87), (4510, 4, 30), (2583, 2, 136), (5405, 6, 99)]
ORDINARY = {(1035, 6, 17), (1992, 1, 87), (4510, 4, 30)}
KEYS = ("sky_median", "sky_rms", "n_above_5sigma", "psf_fwhm_arcsec")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared")
    ap.add_argument("--n-sim", type=int, default=3)
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "out" / "simulator_calibration.json")
    args = ap.parse_args()
    sas = args.shared / "data" / "sas"
    rows = []
    for run, camcol, field in REAL:
        for band in BANDS:
            s = frame_statistics(read_frame(sas / frame_relpath(FieldId(run, camcol, field), band)).image)
            rows.append(
                {
                    "kind": "real",
                    "field": f"{run}/{camcol}/{field}",
                    "ordinary": (run, camcol, field) in ORDINARY,
                    "band": band,
                    **s.as_dict(),
                }
            )
    sim = SimConfig.from_dict(
        {"seed": 20251124, "runs": [{"run": 9101, "strip": "N", "camcols": [3], "fields": [11, 10 + args.n_sim]}]}
    )
    with tempfile.TemporaryDirectory() as tmp:
        for field in range(11, 11 + args.n_sim):
            fid = FieldId(9101, 3, field)
            simulate_field(sim, fid, tmp)
            for band in BANDS:
                s = frame_statistics(read_frame(Path(tmp) / frame_relpath(fid, band)).image)
                rows.append({"kind": "sim", "field": f"9101/3/{field}", "ordinary": True, "band": band, **s.as_dict()})
    summary = {}
    print("| band | figure | real ordinary (3 fields) | real all (5 fields) | simulated (median, min-max) |")
    print("|---|---|---|---|---|")
    for band in BANDS:
        for key in KEYS:
            real_o = [r[key] for r in rows if r["kind"] == "real" and r["band"] == band and r["ordinary"]]
            real_a = [r[key] for r in rows if r["kind"] == "real" and r["band"] == band]
            simv = [r[key] for r in rows if r["kind"] == "sim" and r["band"] == band]
            summary[f"{band}.{key}"] = {
                "real_ordinary": [min(real_o), max(real_o)],
                "real_all": [min(real_a), max(real_a)],
                "sim_median": float(np.median(simv)),
                "sim_range": [min(simv), max(simv)],
            }
            fmt = "{:.0f}" if key == "n_above_5sigma" else "{:.4f}" if key.startswith("sky") else "{:.2f}"
            f = fmt.format
            print(
                f"| {band} | {key} | {f(min(real_o))}-{f(max(real_o))} | {f(min(real_a))}-{f(max(real_a))} | "
                f"{f(np.median(simv))} ({f(min(simv))}-{f(max(simv))}) |"
            )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_record(args.out, {"rows": rows, "summary": summary})


if __name__ == "__main__":
    main()
