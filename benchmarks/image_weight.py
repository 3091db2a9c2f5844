"""What earning the image's fusion weight on the sky costs on a simulated survey: the
catalogue's classes with ``fusion.image_weight: sky`` and ``simulated`` side by side,
against exact truth, on the same rows.

    python benchmarks/image_weight.py --workdir DIR --configfile DIR/config.yaml [OVERLAY.yaml]

DIR is a finished workflow run on a simulated survey (results/ and its mirror). The run's
matched rows are given their classes again from its own PhotoObjAll tables and fusion model
(`yl8c4net.classify.catalog_classes.assign_classes`) under each setting, then scored by r
bin. Prints a table; writes benchmarks/out/image_weight.json. Its real-sky counterpart is
``real_classes.py --fusion``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
from catalog_quality import catalogue_truth, merged_config
from record import write_record

from yl8c4net.catalog.quality import class_scores

R_BINS = [(0.0, 20.0), (20.0, 21.0), (21.0, 22.2), (0.0, 22.2)]
ANSWER_COLUMNS = ["class", "p_galaxy", "p_star", "p_qso", "class_image_only"]


def scores_by_r(catalog: pd.DataFrame, truth: pd.DataFrame) -> list[dict]:
    by_objid = truth.drop_duplicates("objid").set_index("objid")
    rows = []
    for lo, hi in R_BINS:
        r_true = by_objid["r"].reindex(catalog["objid"]).to_numpy()
        sel = catalog[(r_true >= lo) & (r_true < hi)]
        score = class_scores(sel, truth)
        rows.append({"r": f"{lo:g}-{hi:g}" if lo else f"< {hi:g}", "n": score["n"], "accuracy": score["accuracy"]})
    return rows


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workdir", type=Path, default=Path("."))
    ap.add_argument("--configfile", type=Path, nargs="+", default=[Path("config.yaml")])
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "out" / "image_weight.json")
    args = ap.parse_args(argv)

    from yl8c4net.classify.catalog_classes import assign_classes
    from yl8c4net.classify.fusion import load_fusion

    cfg = merged_config(args.configfile)
    truth = catalogue_truth(args.workdir, cfg)
    truth = truth[(truth["objid"] >= 0) & (truth["mode"] == 1)]
    catalog = pd.read_parquet(args.workdir / "results/catalog/catalog.parquet")
    photo = pd.concat(
        [pd.read_parquet(p) for p in sorted((args.workdir / "resources/catalogs/photoobj").rglob("*.parquet"))],
        ignore_index=True,
    )
    fusion_path = cfg["fusion"].get("model") or args.workdir / "results/models/fusion/fusion.joblib"
    fusion = load_fusion(fusion_path)
    base = {"prior_mode": "em", "em_min_rows": 200, "sky_priors": {"GALAXY": 0.72, "STAR": 0.27, "QSO": 0.01}}
    base.update({k: v for k, v in cfg.get("fusion", {}).items() if k not in ("model", "enabled")})
    result = {"fusion": str(fusion_path), "n_rows": int(len(catalog)), "settings": {}}
    for mode in ("simulated", "sky"):
        parts, infos = [], []
        for run, rows in catalog.groupby("run", sort=False):
            again, _, info = assign_classes(
                rows.drop(columns=ANSWER_COLUMNS).reset_index(drop=True),
                [],
                photo[photo["run"] == run],
                fusion,
                {**base, "image_weight": mode},
            )
            parts.append(again)
            infos.append(info.get("image_weight_on_sky"))
        classified = pd.concat(parts, ignore_index=True)
        result["settings"][mode] = {"by_r": scores_by_r(classified, truth), "image_weight_on_sky": infos}
    header = "| fusion.image_weight | " + " | ".join(f"r {b['r']}" for b in result["settings"]["sky"]["by_r"]) + " |"
    print(header)
    print("|---|" + "---|" * len(R_BINS))
    for mode, entry in result["settings"].items():
        cells = [f"{b['accuracy']:.3f} ({b['n']})" for b in entry["by_r"]]
        print(f"| {mode} | " + " | ".join(cells) + " |")
    for info in result["settings"]["sky"]["image_weight_on_sky"]:
        factors = ", ".join(f"{b['r']}: {b['factor']:.2f} (n={b['n']})" for b in info["bins"])
        print(f"\nimage weight earned (reference scale {info['reference_scale']:.3f}): {factors}")
    same = np.mean(
        [a["accuracy"] - b["accuracy"] for a, b in zip(*(result["settings"][m]["by_r"] for m in ("sky", "simulated")))]
    )
    result["mean_accuracy_change"] = float(same)
    write_record(args.out, result)
    return result


if __name__ == "__main__":
    main()
