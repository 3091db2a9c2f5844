"""Evaluation done the standard way and report items a referee would accept (issue 17):
AP over all confidences, recall bins with counts and binomial intervals, the metrics table,
valid reStructuredText captions, compass and scale from the WCS."""

import html.parser
import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from astropy.wcs import WCS

from yl8c4net.classify.sky_mix import purity_completeness_by_r
from yl8c4net.detect.evaluate import detection_metrics, recall_bins
from yl8c4net.detect.plots import plot_overlay, plot_pr_curve, plot_recall_by_mag, sky_directions
from yl8c4net.report.tables import metrics_page
from yl8c4net.sdss.frames import read_frame
from conftest import needs_shared, real_frame_path

REPO = Path(__file__).resolve().parents[1]


def _boxes(x, **extra):
    n = len(x)
    return pd.DataFrame({"x": np.asarray(x, float), "y": 100.0, "w": 10.0, "h": 10.0, **extra}, index=range(n))


def test_ap_ranks_detections_below_the_operating_confidence():
    """Two of four sources are found only at low confidence: AP over all detections counts
    them (as ultralytics' validator does), while P/R stay those of the operating point."""
    truth = _boxes([100, 200, 300, 400], r=[17.0, 18.0, 20.0, 21.0])
    pred = _boxes([100, 200, 300, 400, 600], conf=[0.9, 0.8, 0.1, 0.05, 0.02])
    m = detection_metrics([(truth, pred)], conf_threshold=0.25)
    assert m["recall"] == pytest.approx(0.5) and m["precision"] == pytest.approx(1.0)
    assert m["conf_floor"] == pytest.approx(0.02) and m["n_pred"] == 5
    rec = np.array(m["pr_curve_iou50"]["recall"])
    prec = np.array(m["pr_curve_iou50"]["precision"])
    assert prec[rec > 0.9].min() > 0.7  # the curve goes on past the operating recall
    cut = detection_metrics([(truth, pred[pred["conf"] >= 0.25])], conf_threshold=0.25)
    assert m["ap50"] > 0.9 > 0.6 > cut["ap50"]  # truncated at the operating point: about half


def test_recall_bins_carry_counts_and_wilson_intervals():
    r = np.r_[np.full(100, 18.2), np.full(4, 21.1)]
    found = np.r_[np.arange(100) < 90, [True, False, False, False]]
    bins = {b["r_min"]: b for b in recall_bins(r, found, np.arange(18.0, 22.01, 0.5))}
    b = bins[18.0]
    assert (b["n"], b["n_found"], b["recall"]) == (100, 90, 0.9)
    assert 0.86 < b["recall_low"] < 0.9 < b["recall_high"] < 0.93  # Wilson, 68 %, n = 100
    small = bins[21.0]
    assert small["n"] == 4 and small["recall_high"] - small["recall_low"] > 0.3  # few sources: wide
    assert bins[19.0]["n"] == 0 and bins[19.0]["recall"] is None


def test_detector_figures_are_written_from_the_metrics(tmp_path):
    truth = _boxes([100, 200, 300, 400], r=[17.0, 18.0, 20.0, 21.0])
    pred = _boxes([100, 200, 300, 600], conf=[0.9, 0.8, 0.1, 0.02])
    m = detection_metrics([(truth, pred)], conf_threshold=0.25)
    assert {b["recall"] for b in m["recall_by_r_mag"] if b["n"]} == {0.0, 1.0}  # bounds meet the value
    for path in (
        plot_pr_curve(m, tmp_path / "pr.png"),
        plot_recall_by_mag(m["recall_by_r_mag"], tmp_path / "recall.png", 0.25),
    ):
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000


class _TableParser(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.cells, self.open = [], []

    def handle_starttag(self, tag, attrs):
        self.open.append(tag)

    def handle_endtag(self, tag):
        assert self.open and self.open[-1] == tag, f"</{tag}> closes <{self.open[-1] if self.open else None}>"
        self.open.pop()

    def handle_data(self, data):
        if self.open and self.open[-1] in ("td", "th", "caption"):
            self.cells.append(data)


def test_metrics_table_holds_every_metric_with_its_sample_size():
    truth = _boxes([100, 200, 300, 400], r=[17.0, 18.0, 20.0, 21.0])
    pred = _boxes([100, 200, 300, 600], conf=[0.9, 0.8, 0.1, 0.02])
    det = detection_metrics([(truth, pred)], conf_threshold=0.25) | {"fields": ["9101-3-12"]}
    cls = {
        "n": 3000, "accuracy": 0.9, "accuracy_low": 0.889, "accuracy_high": 0.91, "macro_precision": 0.9,
        "macro_recall": 0.9, "macro_f1": 0.9, "class_names": ["GALAXY", "STAR", "QSO"],
        "auc_galaxy": 0.99, "auc_star": 0.95, "auc_qso": 0.96,
    }  # fmt: skip
    status = pd.DataFrame({"status": ["ok", "ok", "quarantined"]})
    catalog = pd.DataFrame({"class": ["STAR", "GALAXY", "GALAXY"], "class_image": ["QSO", "GALAXY", "QSO"]})
    fusion = {"answers": {"image (Conv4Net)": cls | {"ece": 0.08}, "fused": cls | {"accuracy": 0.97, "ece": 0.01}}}
    rng = np.random.default_rng(3)
    y = np.repeat([0, 1, 2], 300)
    p = np.full((900, 3), 0.01)
    p[np.arange(900), np.where(rng.random(900) < 0.9, y, 1)] = 0.98  # a tenth of each class called STAR
    r_true = rng.uniform(16.0, 22.2, 900)
    shares = lambda lo, hi: [0.7, 0.29, 0.01]  # noqa: E731
    fusion["qso_at_sky_mix"] = {"fused": purity_completeness_by_r(y, p, r_true, 2, shares, np.full(3, 1 / 3))}
    fusion["qso_decision_priors"] = {"prior_mode": "em", "shares": {"GALAXY": 0.7388, "STAR": 0.2511, "QSO": 0.0101}}
    page = metrics_page(det, cls, status, catalog, pd.DataFrame({"ra": [1.0]}), fusion)
    assert "called at fusion.prior_mode em: GALAXY 0.739, STAR 0.251, QSO 0.0101" in page
    parser = _TableParser()
    parser.feed(page.split("<body>", 1)[1].rsplit("</body>", 1)[0])
    cells = parser.cells
    assert parser.open == []
    row = lambda name: cells[cells.index(name) + 1 : cells.index(name) + 3]  # noqa: E731
    assert row("AP@0.5 (all detections)")[0] == f"{det['ap50']:.3f}"
    assert "4 truth boxes, 4 detections >= 0.02" in row("AP@0.5 (all detections)")[1]
    assert row("accuracy") == ["0.900", "3000 test cut-outs"]
    assert row("fields quarantined (see field_status.tsv)")[0] == "1"
    assert row("rows classified GALAXY") == ["2", "66.7%"]
    assert row("rows QSO by the image alone (class_image)") == ["2", "66.7%"]
    assert cells[cells.index("fused") + 1 : cells.index("fused") + 6] == [
        "0.970",
        "0.889-0.910",
        "0.900",
        "0.010",
        "3000",
    ]
    assert "17.0-17.5" in cells and "Detector on the held-out fields (9101-3-12)" in cells
    # Quasars at the sky's mix: no galaxy or star is ever called QSO here, so purity is 1,
    # and completeness is the nine tenths called right.
    below = fusion["qso_at_sky_mix"]["fused"]["below"]["21"]
    got = cells[cells.index("fused, r < 21") + 1 : cells.index("fused, r < 21") + 6]
    assert got[0] == f"{below['completeness']:.3f}" and 0.85 < below["completeness"] < 0.95
    assert got[2] == "1.000" and got[4] == str(below["n_true"]) and below["n_true"] > 200


def test_report_captions_are_valid_restructured_text():
    from docutils.core import publish_parts

    captions = sorted((REPO / "workflow" / "report").glob("*.rst"))
    assert len(captions) >= 11
    for caption in captions:
        warnings = io.StringIO()
        body = publish_parts(
            caption.read_text(),
            writer="html",
            settings_overrides={"warning_stream": warnings, "report_level": 1, "halt_level": 5},
        )["body"]
        assert warnings.getvalue() == "", caption.name
        assert "mailto:" not in body, caption.name  # "AP@0.5" unquoted becomes an e-mail link


def test_compass_follows_the_wcs():
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.crval = [150.0, 2.0]
    w.wcs.crpix = [100.0, 100.0]
    w.wcs.cdelt = [-0.396 / 3600, 0.396 / 3600]  # north up, east left
    scale, d = sky_directions(w, 100.0, 100.0)
    assert scale == pytest.approx(0.396)
    assert d["N"] == pytest.approx([0, 1], abs=1e-3) and d["E"] == pytest.approx([-1, 0], abs=1e-3)
    w.wcs.pc = [[0.0, -1.0], [1.0, 0.0]]  # rotated by 90 degrees
    _, d = sky_directions(w, 100.0, 100.0)
    assert d["N"] == pytest.approx([1, 0], abs=1e-3) and d["E"] == pytest.approx([0, 1], abs=1e-3)


@needs_shared
def test_overlay_of_a_real_field_with_compass(tmp_path):
    """An SDSS frame scans along a great circle, so north lies within a stripe's inclination
    of the x axis; the two arrows are perpendicular and the scale is 0.396"/pixel."""
    frame = read_frame(real_frame_path(4510, 4, 30, "r"))
    scale, d = sky_directions(frame.wcs, 1024, 744)
    assert scale == pytest.approx(0.396, abs=0.002)
    assert abs(np.dot(d["N"], d["E"])) < 0.02 and abs(d["N"][0]) > np.cos(np.radians(15))
    image = np.zeros((1489, 2048, 3), np.uint8)
    det = pd.DataFrame({"x": [1000.0], "y": [740.0], "w": [12.0], "h": [12.0], "cls": ["STAR"]})
    assert plot_overlay(image, det, tmp_path / "o.png", wcs=frame.wcs).stat().st_size > 5_000
