"""Conv4Net: architecture, training smoke run, resume, checkpoint checks, metrics."""

import numpy as np
import pandas as pd
import pytest
import torch

from yl8c4net.classify import AlexNet48, Conv4Net, count_parameters
from yl8c4net.classify.data import Normalisation
from yl8c4net.classify.metrics import classification_metrics
from yl8c4net.classify.train import CheckpointError, TrainParams, load_classifier, predict_proba, train_classifier


def test_conv4net_has_exactly_the_papers_parameter_count():
    assert count_parameters(Conv4Net()) == 1_635_749
    out = Conv4Net()(torch.zeros(4, 3, 48, 48))
    assert out.shape == (4, 3)
    # u and z as extra channels change only the first convolution.
    assert count_parameters(Conv4Net(in_channels=5)) == 1_635_749 + 2 * 9 * 32
    ratio = 1 - count_parameters(Conv4Net()) / count_parameters(AlexNet48())
    assert ratio == pytest.approx(0.4626, abs=0.002)  # the paper: 46.26% fewer than AlexNet


def _toy_dataset(n_per_class=40, seed=0):
    """Three separable classes: bright round blob, faint blob, blue point."""
    rng = np.random.default_rng(seed)
    images, classes = [], []
    yy, xx = np.mgrid[:48, :48]
    for cls, (amp, width, colour) in {
        "GALAXY": (200, 8, (1, 0.8, 0.6)),
        "STAR": (120, 2, (1, 1, 1)),
        "QSO": (120, 2, (0.3, 0.5, 1)),
    }.items():
        for _ in range(n_per_class):
            blob = amp * np.exp(-((xx - 24) ** 2 + (yy - 24) ** 2) / (2 * width**2))
            img = np.stack([blob * c for c in colour], axis=-1) + rng.normal(10, 3, (48, 48, 3))
            images.append(np.clip(img, 0, 255).astype(np.uint8))
            classes.append(cls)
    table = pd.DataFrame({"class": classes})
    n_val = n_test = n_per_class // 8
    split = np.array((["train"] * (n_per_class - n_val - n_test) + ["val"] * n_val + ["test"] * n_test) * 3)
    return np.stack(images), table.assign(split=split)


def test_normalisation_uses_the_training_split_only():
    images, table = _toy_dataset()
    train = images[table["split"] == "train"]
    norm = Normalisation.fit(train)
    x = norm.apply(train)
    assert torch.allclose(x.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-4)
    assert torch.allclose(x.std(dim=(0, 2, 3)), torch.ones(3), atol=1e-2)


def test_smoke_training_learns_resumes_and_is_deterministic(tmp_path):
    images, table = _toy_dataset()
    params = TrainParams(epochs=3, batch_size=16, lr=2e-3, patience=5, seed=1, device="cpu")
    res = train_classifier(images, table, tmp_path / "a", params, run_key="h1")
    assert len(res["history"]) == 3 and res["best_val_accuracy"] > 0.6
    model, norm, meta = load_classifier(tmp_path / "a" / "best.pt")
    test = (table["split"] == "test").to_numpy()
    proba = predict_proba(model, norm, images[test])
    assert proba.shape == (15, 3) and np.allclose(proba.sum(1), 1, atol=1e-5)
    # Same seed, same data: same weights.
    train_classifier(images, table, tmp_path / "b", params, run_key="h1")
    a = torch.load(tmp_path / "a" / "last.pt", weights_only=False)["model_state"]
    b = torch.load(tmp_path / "b" / "last.pt", weights_only=False)["model_state"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    # Interrupted after 2 of 3 epochs, then resumed: the same final weights.
    train_classifier(images, table, tmp_path / "c", params, run_key="h1", max_epochs_this_call=2)
    resumed = train_classifier(images, table, tmp_path / "c", params, run_key="h1")
    assert [h["epoch"] for h in resumed["history"]] == [0, 1, 2]
    c = torch.load(tmp_path / "c" / "last.pt", weights_only=False)["model_state"]
    assert all(torch.equal(a[k], c[k]) for k in a)
    # Another run key (other settings, code or data) never resumes: it starts at epoch 0.
    train_classifier(images, table, tmp_path / "d", params, run_key="h1", max_epochs_this_call=2)
    other = train_classifier(images, table, tmp_path / "d", params, run_key="h2", max_epochs_this_call=1)
    assert [h["epoch"] for h in other["history"]] == [0]


def test_checkpoint_with_other_classes_or_channels_is_refused(tmp_path):
    images, table = _toy_dataset(n_per_class=12)
    train_classifier(
        images, table, tmp_path, TrainParams(epochs=1, batch_size=8, device="cpu"), seeing_reference_arcsec=1.25
    )
    assert load_classifier(tmp_path / "best.pt")[2]["seeing_reference_arcsec"] == 1.25
    with pytest.raises(CheckpointError, match=r"trained for classes \['GALAXY', 'STAR', 'QSO'\], the config expects"):
        load_classifier(tmp_path / "best.pt", class_names=("STAR", "GALAXY", "QSO"))
    with pytest.raises(CheckpointError, match="trained on 3 input channels, the config gives 5"):
        load_classifier(tmp_path / "best.pt", in_channels=5)
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        load_classifier(tmp_path / "junk.pt")


def test_metrics_on_a_known_answer():
    y = np.array([0, 0, 1, 1, 2, 2])
    proba = np.eye(3)[[0, 0, 1, 2, 2, 2]] * 0.9 + 0.05
    m = classification_metrics(y, proba, ("GALAXY", "STAR", "QSO"))
    assert m["accuracy"] == pytest.approx(5 / 6)
    assert m["confusion"] == [[2, 0, 0], [0, 1, 1], [0, 0, 2]]
    assert m["auc_galaxy"] == 1.0
    assert m["macro_recall"] == pytest.approx((1 + 0.5 + 1) / 3)


def test_classifying_an_empty_field_gives_the_typed_columns_and_no_error():
    from yl8c4net.classify.infer import classify_detections

    model = Conv4Net().eval()
    norm = Normalisation([0.0] * 3, [255.0] * 3, [0.5] * 3, [0.25] * 3)
    image = np.zeros((200, 300, 3), np.uint8)
    cols = {c: pd.Series([], dtype="float64") for c in ("x", "y", "w", "h", "conf")}
    empty = classify_detections(model, norm, image, pd.DataFrame(cols))
    assert len(empty) == 0 and list(empty.columns) == [*cols, "class", "p_galaxy", "p_star", "p_qso"]
    assert str(empty["class"].dtype) == "string" and empty["p_qso"].dtype == np.float32
    two = classify_detections(
        model,
        norm,
        image,
        pd.DataFrame(
            {"x": [50.0, 150.0], "y": [60.0, 100.0], "w": [12.0, 20.0], "h": [12.0, 18.0], "conf": [0.9, 0.5]}
        ),
    )
    assert np.allclose(two[["p_galaxy", "p_star", "p_qso"]].sum(axis=1), 1.0, atol=1e-5)
    assert set(two["class"]) <= {"GALAXY", "STAR", "QSO"}


def test_classified_rows_do_not_depend_on_the_predict_batch():
    """classifier.predict_batch only changes how many cut-outs go through at once: 300
    detections give the same probabilities and classes in batches of 1024, 64 and 7; auto
    resolves to the CPU's batch for a torch model on the CPU and for an ONNX-like model."""
    from yl8c4net.classify.infer import AUTO_PREDICT_BATCH, classify_detections, predict_batch
    from yl8c4net.classify.model import CLASS_NAMES
    from yl8c4net.pipeline.model_files import shipped_model

    model, norm, _ = load_classifier(shipped_model("classifier"), CLASS_NAMES, 3, "cpu")
    rng = np.random.default_rng(3)
    # Sky noise with 300 Gaussian sources of random widths, detected where they are.
    x, y, sigma = rng.uniform(0, 600, 300), rng.uniform(0, 400, 300), rng.uniform(1, 5, 300)
    yy, xx = np.mgrid[:400, :600]
    image = rng.normal(20, 4, (400, 600))
    for xs, ys, s, a in zip(x, y, sigma, rng.uniform(20, 200, 300)):
        image += a * np.exp(-((xx - xs) ** 2 + (yy - ys) ** 2) / (2 * s * s))
    image = np.repeat(np.clip(image, 0, 255).astype(np.uint8)[..., None], 3, axis=2)
    det = pd.DataFrame({"x": x, "y": y, "w": 6 * sigma, "h": 6 * sigma})
    one = classify_detections(model, norm, image, det, batch_size=1024)
    for batch in (64, 7):
        other = classify_detections(model, norm, image, det, batch_size=batch)
        np.testing.assert_allclose(
            other[["p_galaxy", "p_star", "p_qso"]].to_numpy(),
            one[["p_galaxy", "p_star", "p_qso"]].to_numpy(),
            atol=1e-6,
        )
        assert (other["class"] == one["class"]).all()
    assert one["class"].nunique() >= 2
    assert predict_batch("auto", model) == AUTO_PREDICT_BATCH["cpu"] == 64
    assert predict_batch("auto", object()) == 64  # onnxruntime runs on the CPU
    assert predict_batch(512, model) == 512
