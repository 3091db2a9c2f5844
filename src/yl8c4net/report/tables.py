"""The report's metrics table: one self-contained HTML page generated from the evaluation
JSON files, the field status and the catalogue, so a reader of the Snakemake report never
has to open a JSON file."""

from __future__ import annotations

import html

import pandas as pd

STYLE = """
body { font-family: DejaVu Sans, Arial, sans-serif; font-size: 14px; margin: 1em; }
table { border-collapse: collapse; margin-bottom: 1.5em; }
th, td { border: 1px solid #bbb; padding: 3px 8px; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
caption { text-align: left; font-weight: bold; padding-bottom: 4px; }
"""


def _fmt(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def _table(caption: str, rows: list[tuple], header: tuple = ("metric", "value", "sample")) -> str:
    out = [f"<table><caption>{html.escape(caption)}</caption>"]
    out.append("<tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in header) + "</tr>")
    for row in rows:
        cells = [f"<td>{html.escape(str(row[0]))}</td>"]
        cells += [f'<td class="num">{html.escape(_fmt(v))}</td>' for v in row[1:]]
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</table>")
    return "\n".join(out)


def detector_tables(m: dict) -> str:
    n = f"{m['n_truth']} truth boxes"
    conf = m["conf_threshold"]
    rows = [
        ("AP@0.5 (all detections)", m["ap50"], f"{n}, {m['n_pred']} detections >= {_fmt(m.get('conf_floor'))}"),
        ("AP@0.5:0.95 (all detections)", m["ap50_95"], n),
        (f"precision at conf >= {conf:g} (catalogue)", m["precision"], n),
        (f"recall at conf >= {conf:g} (catalogue)", m["recall"], n),
        (f"F1 at conf >= {conf:g}", m["f1"], n),
        ("F1 at the best confidence", m["f1_max"], n),
        ("recall r < 21 (catalogue)", m["recall_r_lt_21"], n),
    ]
    op = m.get("operating_point")
    if op and op["conf"] is not None:
        label = f"operating point for precision >= {op['target_purity']:g}: confidence (P {_fmt(op['precision'])}, R {_fmt(op['recall'])})"
        rows.append((label, op["conf"], n))
    fields = ", ".join(m.get("fields", []))
    bins = [
        (f"{b['r_min']:.1f}-{b['r_max']:.1f}", b["recall"], b["recall_low"], b["recall_high"], b["n"])
        for b in m["recall_by_r_mag"]
        if b["n"]
    ]
    return _table(f"Detector on the held-out fields ({fields})", rows) + _table(
        f"Detector recall per r bin at conf >= {conf:g} (68 % Wilson interval)",
        bins,
        ("r (mag)", "recall", "low", "high", "truth sources"),
    )


def classifier_table(m: dict) -> str:
    n = f"{m['n']} test cut-outs"
    rows = [("accuracy", m["accuracy"], n)]
    if "accuracy_low" in m:
        rows.append(("accuracy 95 % interval", f"{m['accuracy_low']:.3f}-{m['accuracy_high']:.3f}", n))
    rows += [
        ("macro precision", m["macro_precision"], n),
        ("macro recall", m["macro_recall"], n),
        ("macro F1", m["macro_f1"], n),
    ]
    rows += [(f"AUC {c}", m.get(f"auc_{c.lower()}"), n) for c in m["class_names"]]
    return _table("Conv4Net on the balanced test split (image only)", rows)


def fusion_table(m: dict) -> str:
    """Every answer of the classification on the test split, side by side."""
    rows = []
    for name, a in m["answers"].items():
        interval = f"{a['accuracy_low']:.3f}-{a['accuracy_high']:.3f}" if "accuracy_low" in a else None
        rows.append((name, a["accuracy"], interval, a["macro_f1"], a.get("ece"), a["n"]))
    table = _table(
        "Classification answers on the test split (equal class priors; the catalogue moves them to the sky's)",
        rows,
        ("answer", "accuracy", "95 % interval", "macro F1", "ECE", "test sources"),
    )
    return table + qso_table(m.get("qso_at_sky_mix", {}), m.get("qso_decision_priors"))


def qso_table(curves: dict, decision: dict | None = None) -> str:
    """Quasar completeness and purity of each answer at the sky's class mix
    (`yl8c4net.classify.sky_mix`), over r < 21 and r < 22.2, decided at the priors of
    ``decision`` (``prior_mode``, ``shares``); "" without the curves."""
    if not curves:
        return ""

    def interval(q, key):
        return f"{q[key + '_low']:.2f}-{q[key + '_high']:.2f}" if q[key] is not None else None

    rows = []
    for name, curve in curves.items():
        for limit, q in curve["below"].items():
            rows.append(
                (
                    f"{name}, r < {limit}",
                    q["completeness"],
                    interval(q, "completeness"),
                    q["purity"],
                    interval(q, "purity"),
                    q["n_true"],
                )
            )
    if decision is None or decision.get("shares") is None:
        decided = "each r bin's class shares"
    else:
        decided = ", ".join(f"{c} {v:.3g}" for c, v in decision["shares"].items())
    mode = f"fusion.prior_mode {decision['prior_mode']}: " if decision else ""
    return "\n" + _table(
        f"Quasars at the sky's class mix (the test split reweighted per r bin; called at {mode}{decided};"
        " the curve: qso_by_r.png)",
        rows,
        ("answer", "completeness", "95 % interval", "purity", "95 % interval", "test quasars"),
    )


def catalog_table(status: pd.DataFrame, catalog: pd.DataFrame, unmatched: pd.DataFrame) -> str:
    ok = int((status["status"] == "ok").sum())
    rows = [
        ("fields asked", len(status), ""),
        ("fields catalogued", ok, ""),
        ("fields quarantined (see field_status.tsv)", len(status) - ok, ""),
        ("catalogue rows (matched to PhotoObjAll)", len(catalog), ""),
        ("unmatched detections (unmatched.parquet)", len(unmatched), ""),
    ]
    for cls, n in catalog["class"].astype(str).value_counts().sort_index().items():
        rows.append((f"rows classified {cls}", int(n), f"{n / max(len(catalog), 1):.1%}"))
    if "class_image" in catalog.columns:
        for cls, n in catalog["class_image"].astype(str).value_counts().sort_index().items():
            rows.append((f"rows {cls} by the image alone (class_image)", int(n), f"{n / max(len(catalog), 1):.1%}"))
    return _table("Catalogue", rows, ("quantity", "value", "share"))


def data_table(provenance: dict) -> str:
    """Where the catalogue's data came from and the thresholds it was made with (the first
    partition's ``data`` provenance: one config builds them all), and the package version."""
    parts = list((provenance.get("partitions") or {}).values())
    data = (parts[0].get("data") if parts else None) or {}
    rows = [("package version", provenance.get("package_version", ""), "")]
    rows += [(name.replace("_", " "), "-" if value is None else value, "") for name, value in data.items()]
    return _table("Data and thresholds", rows, ("quantity", "value", ""))


def metrics_page(
    detector: dict | None,
    classifier: dict | None,
    status,
    catalog,
    unmatched,
    fusion: dict | None = None,
    provenance: dict | None = None,
) -> str:
    """The whole HTML page."""
    parts = [catalog_table(status, catalog, unmatched)]
    if provenance is not None:
        parts.append(data_table(provenance))
    if detector is not None:
        parts.append(detector_tables(detector))
    if classifier is not None:
        parts.append(classifier_table(classifier))
    if fusion is not None:
        parts.append(fusion_table(fusion))
    body = "\n".join(parts)
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>YL8C4Net metrics</title>'
        f"<style>{STYLE}</style></head><body>\n<h1>YL8C4Net metrics</h1>\n{body}\n</body></html>\n"
    )
