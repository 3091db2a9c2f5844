"""The real-sky class benchmark (benchmarks/real_classes.py) on a small part of the real
labelled sources: every source scored once per answer, counts and 95 % Wilson intervals that
hold the rates, and the concentration cut set from the field's own light."""

import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import SHARED, needs_shared

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def real_classes():
    if str(REPO / "benchmarks") not in sys.path:
        sys.path.insert(0, str(REPO / "benchmarks"))
    import real_classes

    return real_classes


def test_concentration_cut_follows_the_fields_own_stellar_locus(real_classes):
    rng = np.random.default_rng(0)
    stars = rng.normal(0.9, 0.02, 60)
    galaxies = rng.normal(1.4, 0.1, 40)
    c = np.concatenate([stars, galaxies])
    r = np.full(len(c), 18.0)
    classes, cut = real_classes.concentration_classes(c, r)
    assert 0.9 < cut < 1.05
    assert (classes[:60] == "STAR").mean() > 0.95 and (classes[60:] == "GALAXY").all()


def test_surround_level_is_high_only_on_a_larger_objects_light(real_classes):
    rng = np.random.default_rng(1)
    image = rng.normal(0.0, 0.02, (200, 300)).astype(np.float32)
    yy, xx = np.mgrid[:200, :300]
    image += 0.5 * np.exp(-((xx - 220) ** 2 + (yy - 100) ** 2) / (2 * 30.0**2))  # a big galaxy's light
    level = real_classes.surround_sigma(image, [60.0, 220.0, 235.0], [100.0, 100.0, 110.0])
    assert abs(level[0]) < 0.5  # isolated: its annulus is the field's sky
    assert level[1] > 10 and level[2] > 10  # a knot on the galaxy: its annulus is the galaxy's light


@needs_shared
def test_benchmark_scores_a_sample_of_the_real_labels(real_classes, tmp_path):
    import torch

    from yl8c4net.classify.model import Conv4Net

    torch.manual_seed(0)
    checkpoint = tmp_path / "conv4net.pt"
    torch.save(
        {
            "version": 1,
            "class_names": ["GALAXY", "STAR", "QSO"],
            "in_channels": 3,
            "norm": {"min": [0.0] * 3, "max": [255.0] * 3, "mean": [0.1] * 3, "std": [0.2] * 3},
            "model_state": Conv4Net().state_dict(),
        },
        checkpoint,
    )
    from yl8c4net.pipeline.model_files import shipped_model

    fusion = shipped_model("fusion")
    out = tmp_path / "real_classes.json"
    args = ["--classifier", str(checkpoint), "--shared", str(SHARED), "--limit", "40", "--out", str(out)]
    args += ["--fusion", str(fusion), "--figure", str(tmp_path / "disagreements.png")]
    result = real_classes.main(args)
    assert out.is_file()
    labelled = result["fields"]["3918/3/213"]
    assert labelled["n"] == 40 and result["fields"]["4510/4/30"]["n"] > 20
    for field in result["fields"].values():
        for rows in field["answers"].values():
            per_bin = rows[: len(real_classes.R_BINS)]
            assert sum(r["n"] for r in per_bin) <= field["n"]  # sources fainter than 22.2 are not binned
            for r in rows:
                if r["n"]:
                    assert 0 <= r["k"] <= r["n"] and r["low"] - 1e-9 <= r["rate"] <= r["high"] + 1e-9
    # The labelled field holds both classes; the stars-only field only stars.
    assert labelled["stars_r_lt_20"] > 0 and labelled["galaxys_r_lt_20"] > 0
    assert set(labelled["class_image_by_label"]) == {"STAR", "GALAXY"}
    assert set(result["fields"]["4510/4/30"]["class_image_by_label"]) == {"STAR"}
    # Each label's recall adds up to the agreement over both, bin by bin.
    for both, star, galaxy in zip(
        labelled["answers"]["class_image"], *(labelled["class_image_by_label"][k] for k in ("STAR", "GALAXY"))
    ):
        assert (star["n"] + galaxy["n"], star["k"] + galaxy["k"]) == (both["n"], both["k"])
    # Every source brighter than r = 20 that the image gets wrong is listed, and only those.
    for field in result["fields"].values():
        listed = field["disagreements_r_lt_20"]
        assert all(d["r"] < 20 and d["class_image"] != d["label"] for d in listed)
        r_lt_20 = next(r for r in field["answers"]["class_image"] if r["r"] == "12-20")
        assert sum(d["r"] >= 12 for d in listed) == r_lt_20["n"] - r_lt_20["k"]
    n_listed = sum(len(f["disagreements_r_lt_20"]) for f in result["fields"].values())
    assert result["figure"]["panels"] == n_listed
    assert n_listed == 0 or (tmp_path / "disagreements.png").stat().st_size > 10_000
    # The image weight it would earn: 40 sources leave every r bin short of 50 typed rows.
    sky = result["image_weight_on_sky"]
    assert [b["r"] for b in sky["bins"]] == ["r < 20", "20 <= r < 21", "r >= 21"]
    assert sum(b["n"] for b in sky["bins"]) == 40
    assert all(b["factor"] == 0.0 and "fallback" in b["how"] for b in sky["bins"])
    # The 4510/4/30 stars with PHOTO's own photometry from the sweep: the shipped photometric
    # part keeps nearly every real star a point source at r < 21, and the fused class, its
    # image weight earned as 0 here, does no worse whatever the untrained image says.
    stars = result["fields"]["4510/4/30"]["answers"]
    by_r = {name: {r["r"]: r for r in rows} for name, rows in stars.items()}
    photometric = by_r["photometric part"]["12-21"]
    assert photometric["n"] > 10 and photometric["rate"] >= 0.9
    earned = by_r["class (fused, image weight earned on 3918/3/213)"]["12-21"]
    assert earned["k"] >= photometric["k"]
