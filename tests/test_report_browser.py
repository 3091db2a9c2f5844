"""The README's report command on the finished demo, opened in headless Chromium as a
reader would: no script errors, every category's figures load, the metrics table is there;
screenshots of each view are written next to the report (issue 17). Run with `make test-slow`
(CI installs Debian's chromium first)."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import LOCAL_RUN, REPO, needs_local_run

SNAKEMAKE = str(Path(sys.executable).parent / "snakemake")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
#: Headless flags for a machine with no network (Chromium's background services otherwise
#: try to reach Google's hosts at every start).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

pytestmark = pytest.mark.slow


@needs_local_run
@pytest.mark.skipif(CHROMIUM is None, reason="no chromium on PATH (Debian: apt-get install chromium)")
def test_report_opens_in_headless_chromium_with_figures_and_metrics_table(tmp_path):
    playwright = pytest.importorskip("playwright.sync_api", reason="playwright (test extra) not installed")
    # The README's command, as written: the report lands in the repository root.
    report = REPO / "report.html"
    subprocess.run([SNAKEMAKE, "--report", "report.html"], cwd=REPO, check=True, capture_output=True, timeout=300)
    shots = LOCAL_RUN / "report" / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    errors = []
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(report.resolve().as_uri())
        page.wait_for_selector("text=RESULTS", timeout=30_000)
        page.screenshot(path=shots / "0-workflow.png")
        categories = ["Summary", "Detector", "Classifier", "Catalogue", "Training data"]
        seen = {}
        for k, category in enumerate(categories, start=1):
            page.get_by_text("Results", exact=True).first.click() if k > 1 else None
            page.get_by_text(category, exact=True).first.click()
            rows = page.locator("tr:has(a[iconname=eye])")
            # The report lists each item by its path; the file name is what identifies it here.
            names = [
                rows.nth(i).locator("td").first.inner_text().strip().rsplit("/", 1)[-1] for i in range(rows.count())
            ]
            seen[category] = names
            for i, name in enumerate(names):
                rows.nth(i).locator("a[iconname=eye]").click()
                page.wait_for_timeout(300)
                if name.endswith(".png"):
                    size = page.locator("img").last.evaluate("e => [e.naturalWidth, e.naturalHeight]")
                    assert min(size) > 100, f"{category}/{name} did not load: {size}"
                page.screenshot(path=shots / f"{k}-{category.replace(' ', '_')}-{i}.png")
        page.get_by_text("Results", exact=True).first.click()
        page.get_by_text("Summary", exact=True).first.click()
        page.locator("tr", has_text="metrics.html").locator("a[iconname=eye]").click()
        page.wait_for_timeout(500)
        frame = next(f for f in page.frames if "filename=metrics.html" in f.url)
        table = frame.inner_text("body")
        page.screenshot(path=shots / "9-metrics.png")
        browser.close()
    assert errors == []
    assert seen["Summary"] == ["metrics.html"]
    assert {"pr_curve.png", "recall_vs_r.png", "training_curves.png"} <= set(seen["Detector"])
    assert {"confusion.png", "roc.png", "reliability.png", "qso_by_r.png"} <= set(seen["Classifier"])
    assert any(n.startswith("overlay-") for n in seen["Catalogue"]) and "sky_map-9101.png" in seen["Catalogue"]
    assert "morphology-9101.png" in seen["Catalogue"]
    for text in ("AP@0.5 (all detections)", "accuracy", "fields catalogued", "truth sources"):
        assert text in table
