"""The composite's stretch is SDSS's own frame-irg JPEG mapping: the formula of its JPEG
maker, saturated objects filled from their edge, and the official JPEG of a real field
reproduced (benchmarks/jpeg_stretch.py on one field)."""

import sys
from pathlib import Path

import numpy as np

from conftest import SHARED, needs_shared

from yl8c4net.images.composite import LuptonStretch, fill_saturated_objects, lupton_rgb

REPO = Path(__file__).resolve().parents[1]


def sdss_jpeg_mapping(i, r, g, scales=(2.0, 2.6, 3.6), nonlinearity=2.25):
    """SDSS's mapping as its JPEG maker states it: scale and clip at 0, multiply every band
    by asinh(b S) / (b S) of the band sum S, keep a pixel's colour where a band passes 1,
    then floor(256 x)."""
    x = np.stack([np.clip(s * np.asarray(p, float), 0, None) for s, p in zip(scales, (i, r, g))], -1)
    total = nonlinearity * x.sum(-1)
    total = np.where(total > 0, total, 1.0)
    factor = np.arcsinh(total) / total
    brightest = x.max(-1)
    over = brightest * factor > 1
    factor[over] = 1.0 / brightest[over]
    return np.clip(np.floor(x * factor[..., None] * 256), 0, 255).astype(np.uint8)


def test_default_stretch_is_sdss_jpeg_mapping_within_one_count():
    rng = np.random.default_rng(1)
    yy, xx = np.mgrid[:120, :160]
    planes = []
    for colour in (1.3, 1.0, 0.5):  # red light on noise, from the sky to the saturated range
        light = colour * np.logspace(-3, 2, 160)[None, :] * (1.0 + 0.5 * np.sin(yy / 7.0))
        planes.append(rng.normal(0, 0.03, xx.shape) + light)
    ours = lupton_rgb(*planes, stretch=LuptonStretch(saturation_nmgy=None)).astype(int)
    sdss = sdss_jpeg_mapping(*planes).astype(int)
    assert np.abs(ours - sdss).max() <= 1
    assert (sdss > 0).mean() > 0.3 and sdss.max() == 255  # the test spans black to saturated


def test_saturated_object_is_filled_with_the_mean_of_its_edge():
    image = np.zeros((20, 20))
    image[8:12, 8:12] = 100.0  # saturated core
    image[7, 8:12] = image[12, 8:12] = image[8:12, 7] = image[8:12, 12] = 4.0  # its edge
    image[2, 2] = 50.0  # a second, separate object with an empty edge
    other = image * 0.5
    filled_a, filled_b = fill_saturated_objects([image, other], [30.0, 30.0])
    assert np.all(filled_a[8:12, 8:12] == 4.0) and np.all(filled_b[8:12, 8:12] == 2.0)
    assert filled_a[2, 2] == 0.0
    assert filled_a[0, 0] == 0.0 and filled_a[7, 9] == 4.0  # other pixels untouched
    assert image[9, 9] == 100.0  # the input is not modified


@needs_shared
def test_stretch_reproduces_the_official_jpeg_of_a_real_field(tmp_path):
    if str(REPO / "benchmarks") not in sys.path:
        sys.path.insert(0, str(REPO / "benchmarks"))
    import jpeg_stretch

    result = jpeg_stretch.main(["--shared", str(SHARED), "--fields", "2", "--out", str(tmp_path / "js.json")])
    for name, field in result["fields"].items():
        default, previous = field["default"], field["previous"]
        assert default["source_pixels"] > 5000, name
        # Sources as bright as on SDSS's JPEG in every channel (the previous stretch had g 30 % dim).
        assert np.allclose(default["source_ratio_irg"], 1.0, atol=0.04), (name, default)
        assert default["mad_source_dn"] < 10.0 and default["mad_dn"] < 3.0, (name, default)
        assert default["mad_source_dn"] < 0.5 * previous["mad_source_dn"], name


def test_the_colour_benchmark_measures_the_simulated_stars_true_colours():
    """benchmarks/colours_sim_vs_real.py compares aperture colours of real and simulated
    sources; on a simulated frame its measure must give back the stars' true colours."""
    import numpy as np

    import pytest

    if str(REPO / "benchmarks") not in sys.path:
        sys.path.insert(0, str(REPO / "benchmarks"))
    import colours_sim_vs_real as bench

    table = bench.simulated_field(0, 1.2, 0.6)
    stars = table[(table["true_class"] == "STAR") & table["r"].between(16.0, 20.0)]
    assert len(stars) >= 40
    assert np.median(stars["g_r"] - stars["true_g_r"]) == pytest.approx(0.0, abs=0.05)
    assert np.median(stars["r_i"] - stars["true_r_i"]) == pytest.approx(0.0, abs=0.05)
    rows = bench.colour_summary(table)
    assert {r["kind"] for r in rows} == {"compact", "resolved"} and sum(r["n"] for r in rows) <= len(table)
