"""Conv4Net learning from real pixels: weak POINT / GALAXY labels from a real frame's own
light, the set loss that lets them train a three-class network, and the fine-tuning."""

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch

from conftest import SHARED, SHARED_SAS, needs_shared
from yl8c4net.classify.model import CLASS_NAMES, Conv4Net
from yl8c4net.classify.real_pixels import (
    RealPixelParams,
    RealPixelsError,
    balanced_weights,
    fine_tune_on_real,
    label_sets,
    real_weak_set,
    set_loss,
)
from yl8c4net.classify.weak_labels import CONCENTRATION_CUT_MAG, concentration_table, weak_labels


def test_weak_labels_leave_a_band_around_the_cut_and_skip_faint_or_unmeasured_sources():
    dc = np.array([-0.05, 0.04, 0.06, 0.14, 0.16, 0.6, np.nan, 0.6])
    r = np.array([18.0, 19.0, 19.0, 19.0, 19.0, 21.0, 18.0, 22.5])
    labels = weak_labels(dc, r, margin_mag=0.05, r_max=22.2)
    assert CONCENTRATION_CUT_MAG == 0.1
    assert labels.tolist() == ["POINT", "POINT", "", "", "GALAXY", "GALAXY", "", ""]
    # Bright sources (saturated cores read as extended) get none below r_min.
    bright = weak_labels(np.array([0.6, 0.6, -0.05]), np.array([15.9, 16.0, 12.0]), 0.05, 22.2, r_min=16.0)
    assert bright.tolist() == ["", "GALAXY", ""]


def test_set_loss_is_cross_entropy_for_a_class_and_the_star_or_quasar_probability_for_point():
    index, allowed = label_sets(CLASS_NAMES)
    assert index["POINT"] == 3 and allowed[3].tolist() == [False, True, True]
    logits = torch.tensor([[2.0, 0.5, -1.0], [0.0, 1.0, 1.5]])
    p = torch.softmax(logits, 1)
    exact = set_loss(logits, torch.tensor([0, 2]), allowed)
    assert torch.isclose(exact, torch.nn.functional.cross_entropy(logits, torch.tensor([0, 2])))
    point = set_loss(logits, torch.tensor([3, 3]), allowed)
    assert torch.isclose(point, -torch.log(p[:, 1] + p[:, 2]).mean())
    # A point label never prefers STAR to QSO: its gradient is the same on both logits' ratio.
    lg = logits.clone().requires_grad_(True)
    set_loss(lg, torch.tensor([3, 3]), allowed).backward()
    g = lg.grad
    assert torch.allclose(g[:, 1] / g[:, 2], p[:, 1] / p[:, 2], rtol=1e-4)


def _blobs(n, sigma_px, seed):
    """uint8 cut-outs (n, 48, 48, 3) of one Gaussian blob each, with noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:48, :48] - 23.5
    blob = np.exp(-(xx**2 + yy**2) / (2 * sigma_px**2))
    img = 20 + 200 * blob[None, :, :, None] * rng.uniform(0.5, 1.0, (n, 1, 1, 3)) + rng.normal(0, 6, (n, 48, 48, 3))
    return np.clip(img, 0, 255).astype(np.uint8)


def _untrained_checkpoint() -> dict:
    """A Conv4Net checkpoint of seed-0 random weights, in the training script's format."""
    torch.manual_seed(0)
    return {
        "version": 1,
        "class_names": list(CLASS_NAMES),
        "in_channels": 3,
        "norm": {"min": [0.0] * 3, "max": [255.0] * 3, "mean": [0.1] * 3, "std": [0.2] * 3},
        "model_state": Conv4Net().state_dict(),
        "run_key": "x",
    }


def test_fine_tuning_learns_the_real_weak_labels_and_keeps_the_checkpoint_format(tmp_path):
    from yl8c4net.classify.train import load_classifier, predict_proba

    checkpoint = _untrained_checkpoint()
    # Simulated: all three classes at one size (the network cannot tell them by shape);
    # real: small blobs are POINT, large ones GALAXY, which only the real rows teach.
    sim = np.concatenate([_blobs(30, 3.0, s) for s in (1, 2, 3)])
    sim_classes = np.repeat(CLASS_NAMES, 30)
    real = np.concatenate([_blobs(40, 1.5, 4), _blobs(40, 7.0, 5)])
    real_labels = np.array(["POINT"] * 40 + ["GALAXY"] * 40)
    params = RealPixelParams(repeat=3, epochs=3, lr=1e-3, batch_size=32)
    epochs = []
    tuned, history = fine_tune_on_real(
        checkpoint,
        sim,
        sim_classes,
        real,
        real_labels,
        params,
        progress=lambda e, loss: epochs.append(e),
        real_r=np.full(80, 20.5),
    )
    assert epochs == [0, 1, 2] and len(history) == 3
    assert tuned["real_pixels"]["n_real"] == 80 and tuned["real_pixels"]["n_real_point"] == 40
    path = tmp_path / "tuned.pt"
    torch.save(tuned, path)
    model, norm, meta = load_classifier(path, device="cpu")
    test_point, test_galaxy = _blobs(50, 1.5, 6), _blobs(50, 7.0, 7)
    p_point, p_galaxy = predict_proba(model, norm, test_point), predict_proba(model, norm, test_galaxy)
    # Held-out blobs: the weak labels were learned, as point / extended.
    assert (p_point[:, 1] + p_point[:, 2] > 0.5).mean() > 0.9
    assert (p_galaxy[:, 0] > 0.5).mean() > 0.9
    with pytest.raises(RealPixelsError, match=r"labels \['STARS'\] are not among"):
        fine_tune_on_real(checkpoint, sim, sim_classes, real, np.array(["STARS"] * 80), params, real_r=np.ones(80))
    with pytest.raises(RealPixelsError, match="balance_classes needs the real sources' r"):
        fine_tune_on_real(checkpoint, sim, sim_classes, real, real_labels, replace(params, balance_classes=True))


def test_balanced_weights_even_the_weak_labels_in_each_r_bin_and_keep_each_bins_total():
    labels = np.array(["GALAXY"] * 6 + ["POINT"] * 2 + ["GALAXY"] * 3 + ["POINT"])
    r = np.array([21.5] * 6 + [21.8, 22.0] + [19.0, 19.5, 19.9] + [15.0])
    w = balanced_weights(labels, r, (20.0, 21.0))
    faint, mid = r >= 21, (r >= 20) & (r < 21)
    assert not mid.any()
    # r >= 21: 6 GALAXY and 2 POINT share the bin's 8 equally, 4 each.
    assert np.allclose(w[faint & (labels == "GALAXY")], 8 / 12) and np.allclose(w[faint & (labels == "POINT")], 2.0)
    # r < 20: 3 GALAXY and 1 POINT: 2 each.
    bright = r < 20
    assert np.allclose(w[bright & (labels == "GALAXY")], 4 / 6) and np.allclose(w[bright & (labels == "POINT")], 2.0)
    assert np.isclose(w.mean(), 1.0)
    # A bin with one label cannot be evened: its rows keep weight 1.
    one_label_bins = balanced_weights(np.array(["GALAXY", "GALAXY", "POINT"]), np.array([22.0, 22.0, 18.0]), (20.0,))
    assert one_label_bins.tolist() == [1.0, 1.0, 1.0]


def test_set_loss_weighs_each_row():
    _, allowed = label_sets(CLASS_NAMES)
    logits = torch.tensor([[2.0, 0.5, -1.0], [0.0, 1.0, 1.5], [0.3, 0.2, 0.1]])
    labels = torch.tensor([0, 3, 1])
    rows = torch.stack([set_loss(logits[i : i + 1], labels[i : i + 1], allowed) for i in range(3)])
    w = torch.tensor([0.5, 2.0, 0.5])
    assert torch.isclose(set_loss(logits, labels, allowed, w), (rows * w).mean())
    assert torch.equal(set_loss(logits, labels, allowed, torch.ones(3)), set_loss(logits, labels, allowed))


def test_balanced_fine_tuning_does_not_learn_the_real_fields_class_mix():
    """Real sources the pixels cannot tell apart, labelled three GALAXY to one POINT (a faint
    real field's mix): taken as they come the network learns to call such a source GALAXY;
    balanced, it stays near even between point and extended."""
    checkpoint = _untrained_checkpoint()
    sim = np.concatenate([_blobs(20, 3.0, s) for s in (1, 2, 3)])
    sim_classes = np.repeat(CLASS_NAMES, 20)
    real = _blobs(80, 2.0, 4)
    real_labels = np.array(["POINT"] * 20 + ["GALAXY"] * 60)
    real_r = np.full(80, 21.5)
    test = _blobs(60, 2.0, 9)
    p_point = {}
    for balance in (False, True):
        params = RealPixelParams(repeat=4, epochs=3, lr=1e-3, batch_size=32, balance_classes=balance)
        tuned, _ = fine_tune_on_real(checkpoint, sim, sim_classes, real, real_labels, params, real_r=real_r)
        model = Conv4Net()
        model.load_state_dict(tuned["model_state"])
        from yl8c4net.classify.data import Normalisation
        from yl8c4net.classify.train import predict_proba

        proba = predict_proba(model.eval(), Normalisation(**checkpoint["norm"]), test)
        p_point[balance] = float((proba[:, 1] + proba[:, 2]).mean())
    assert p_point[False] < 0.35
    assert 0.35 < p_point[True] < 0.65


@needs_shared
def test_weak_labels_agree_with_photos_labels_on_the_labelled_real_field():
    """The weak labels, measured on 3918/3/213 (never trained on) at PHOTO's labelled
    positions, against PHOTO's star / galaxy split, where it is reliable (r < 21)."""
    import tempfile
    from pathlib import Path

    from yl8c4net.sdss.fetch import fetch_field
    from yl8c4net.sdss.fields import FieldId
    from yl8c4net.sdss.frames import read_frame
    from yl8c4net.sdss.source import MirrorSource

    with tempfile.TemporaryDirectory() as tmp:
        manifest = fetch_field(FieldId(3918, 3, 213), MirrorSource(SHARED_SAS), "r", Path(tmp))
        image = np.nan_to_num(read_frame(Path(tmp) / manifest["frames"]["r"]["file"]).image)
    labels = SHARED / "data" / "labels"
    truth = pd.concat(
        [
            pd.read_csv(labels / f"calibObj-003918-3-0213-{kind}.csv").assign(label=label)
            for kind, label in (("stars", "POINT"), ("gals", "GALAXY"))
        ],
        ignore_index=True,
    )
    truth = truth[truth["x"].between(25, 2022) & truth["y"].between(25, 1463)]
    table, locus = concentration_table(image, truth[["x", "y", "label"]])
    table["weak"] = weak_labels(table["dc"], table["r"], margin_mag=0.05, r_max=21.0)
    labelled = table[table["weak"] != ""]
    agree = (labelled["weak"] == labelled["label"]).mean()
    assert len(labelled) > 150 and agree > 0.93, (len(labelled), agree)
    assert (labelled["label"] == "GALAXY").sum() > 50 and (labelled["label"] == "POINT").sum() > 50


@needs_shared
def test_a_real_field_gives_cutouts_with_both_weak_labels():
    params = RealPixelParams(fields=((1035, 6, 17),), mirror_root=str(SHARED_SAS))
    table, cutouts = real_weak_set(params)
    assert cutouts.shape == (len(table), 48, 48, 3) and cutouts.dtype == np.uint8
    counts = table["weak_label"].value_counts()
    assert counts["POINT"] > 50 and counts["GALAXY"] > 50, counts.to_dict()
    assert (table["r"] < 22.2).all() and set(table["field"]) == {"1035/6/17"}
    # Cut-outs of galaxies hold more light away from the centre than those of point sources.
    radius = np.hypot(*(np.mgrid[:48, :48] - 23.5))
    grey = cutouts.astype(float).mean(-1)
    outer = (grey * (radius > 8)).sum((1, 2)) / grey.sum((1, 2))
    bright = (table["r"] < 20).to_numpy()
    is_gal = (table["weak_label"] == "GALAXY").to_numpy()
    assert np.median(outer[bright & is_gal]) > np.median(outer[bright & ~is_gal])
    with pytest.raises(RealPixelsError, match="mirror_root"):
        real_weak_set(RealPixelParams(fields=((1035, 6, 17),)))


@needs_shared
def test_a_checkpoint_trained_at_a_common_seeing_gets_real_cutouts_cropped_at_the_fields_seeing():
    params = RealPixelParams(fields=((1035, 6, 17),), mirror_root=str(SHARED_SAS))
    by_magnitude, plain = real_weak_set(params)
    at_seeing, scaled = real_weak_set(params, seeing_reference_arcsec=1.3)
    # 1035/6/17 has the broadest seeing of the shared fields (photutils' fit: about 1.54").
    assert (by_magnitude["crop_scale"] == 1.0).all()
    assert at_seeing["crop_scale"].iloc[0] == pytest.approx(at_seeing["fwhm_arcsec"].iloc[0] / 1.3)
    assert 1.1 < at_seeing["crop_scale"].iloc[0] < 1.3
    assert len(at_seeing) == len(by_magnitude) and not np.array_equal(scaled, plain)


@needs_shared
def test_a_run_fine_tunes_on_the_fields_it_fetched_as_on_the_mirror(tmp_path):
    """Without real_pixels.mirror_root the weak labels come from the field the workflow
    fetched (its manifest in the workflow's layout): the same labels and cut-outs as from the
    mirror. A field quarantined at fetch, or fetched without its r frame, is refused with one
    line naming it."""
    import json

    from yl8c4net.sdss.fetch import fetch_field
    from yl8c4net.sdss.fields import FieldId
    from yl8c4net.sdss.source import MirrorSource

    template = str(tmp_path / "frames/{run}/{camcol}/{field}/manifest.json")
    manifest_path = tmp_path / "frames/1035/6/17/manifest.json"
    manifest = fetch_field(
        FieldId(1035, 6, 17), MirrorSource(SHARED_SAS), "r", manifest_path.parent, frame_storage="fits"
    )
    manifest_path.write_text(json.dumps(manifest))
    from_run, run_cutouts = real_weak_set(RealPixelParams(fields=((1035, 6, 17),)), template)
    from_mirror, mirror_cutouts = real_weak_set(RealPixelParams(fields=((1035, 6, 17),), mirror_root=str(SHARED_SAS)))
    pd.testing.assert_frame_equal(from_run, from_mirror)
    assert np.array_equal(run_cutouts, mirror_cutouts) and len(from_run) > 100

    manifest_path.write_text(json.dumps({**manifest, "status": "quarantined", "reason": "r frame: bad checksum"}))
    with pytest.raises(
        RealPixelsError, match=r"real field 1035/6/17: quarantined when fetched \(r frame: bad checksum\)"
    ):
        real_weak_set(RealPixelParams(fields=((1035, 6, 17),)), template)
    frames = {b: e for b, e in manifest["frames"].items() if b != "r"}
    manifest_path.write_text(json.dumps({**manifest, "frames": frames}))
    with pytest.raises(RealPixelsError, match="real field 1035/6/17: .* has no r frame"):
        real_weak_set(RealPixelParams(fields=((1035, 6, 17),)), template)


def test_every_real_pixels_setting_of_the_schema_reaches_the_fine_tuning():
    from yl8c4net.config import load_schema

    section = load_schema()["properties"]["real_pixels"]["properties"]
    given = {"fields": ["1035/6/17"], "mirror_root": "m", "r_min": 17.5, "epochs": 2, "lr": 1e-3}
    params = RealPixelParams.from_config(given)
    assert params.fields == ((1035, 6, 17),) and params.mirror_root == "m"
    assert (params.r_min, params.epochs, params.lr) == (17.5, 2, 1e-3)
    # Schema defaults and the dataclass's agree, key for key.
    defaults = RealPixelParams.from_config({k: v["default"] for k, v in section.items() if k != "fields"})
    assert defaults == RealPixelParams(mirror_root=None)
    assert set(section) == set(RealPixelParams.__dataclass_fields__)
