"""Training Conv4Net: seeded, CPU or CUDA, progress per epoch, best checkpoint kept,
resumable from the last epoch's checkpoint; and loading a checkpoint for inference."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from yl8c4net.runtime.device import pick_device
from yl8c4net.io import atomic_output
from yl8c4net.errors import YL8C4NetError
from yl8c4net.classify.data import CutoutDataset, Normalisation
from yl8c4net.classify.model import CLASS_NAMES, Conv4Net

log = logging.getLogger(__name__)
CHECKPOINT_VERSION = 1


class CheckpointError(YL8C4NetError):
    """A checkpoint is unreadable or does not fit the configured classes / channels."""


@dataclass(frozen=True)
class TrainParams:
    """The ``classifier`` section of the config that shapes training."""

    epochs: int = 30
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 0.0
    lr_schedule: str = "cosine"  # cosine | step | none
    patience: int = 10
    seed: int = 0
    device: str = "auto"

    @classmethod
    def from_config(cls, c: dict) -> "TrainParams":
        return cls(
            c["epochs"],
            c["batch_size"],
            c["lr"],
            c["weight_decay"],
            c["lr_schedule"],
            c["patience"],
            c["seed"],
            c["device"],
        )


def _save_atomic(obj, path: Path) -> None:
    with atomic_output(path) as tmp:
        torch.save(obj, tmp)


def _evaluate(model, loader, device, loss_fn):
    model.eval()
    losses, probs, ys = [], [], []
    with torch.no_grad():
        for x, y in loader:
            logits = model(x.to(device))
            losses.append(loss_fn(logits, y.to(device)).item() * len(y))
            probs.append(torch.softmax(logits, 1).cpu())
            ys.append(y)
    y = torch.cat(ys).numpy() if ys else np.zeros(0, int)
    p = torch.cat(probs).numpy() if probs else np.zeros((0, 3))
    return (sum(losses) / max(len(y), 1)), p, y


def train_classifier(
    images: np.ndarray,
    table,
    outdir: str | Path,
    params: TrainParams = TrainParams(),
    class_names=CLASS_NAMES,
    run_key: str = "",
    max_epochs_this_call: int | None = None,
    seeing_reference_arcsec: float | None = None,
) -> dict:
    """Train Conv4Net on the cut-out dataset (``table`` has ``class`` and ``split``).

    ``seeing_reference_arcsec`` is the seeing the cut-outs were cropped at
    (`yl8c4net.images.seeing`), kept in the checkpoint so that every later crop matches it.

    Writes ``{outdir}/last.pt`` every epoch (resumed from when present and made with the
    same run key: settings, code and data) and ``{outdir}/best.pt`` (highest validation accuracy). Returns the
    history and the best epoch. ``max_epochs_this_call`` stops early (resumably), e.g. to
    stay inside a batch job's time limit.
    """
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(params.seed)
    np.random.seed(params.seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    device = pick_device(params.device)
    label_of = {c: k for k, c in enumerate(class_names)}
    y_all = table["class"].map(label_of).to_numpy()
    split = table["split"].to_numpy()
    norm = Normalisation.fit(images[split == "train"])
    train_ds = CutoutDataset(images[split == "train"], y_all[split == "train"], norm, augment=True)
    val_ds = CutoutDataset(images[split == "val"], y_all[split == "val"], norm, augment=False)
    gen = torch.Generator().manual_seed(params.seed)
    train_dl = DataLoader(train_ds, batch_size=params.batch_size, shuffle=True, generator=gen, num_workers=0)
    val_dl = DataLoader(val_ds, batch_size=512, shuffle=False, num_workers=0)
    model = Conv4Net(in_channels=images.shape[-1], n_classes=len(class_names)).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=params.lr, weight_decay=params.weight_decay)
    if params.lr_schedule == "cosine":
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(params.epochs, 1))
    elif params.lr_schedule == "step":
        sched = torch.optim.lr_scheduler.StepLR(opt, step_size=max(params.epochs // 3, 1), gamma=0.1)
    else:
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda e: 1.0)
    loss_fn = nn.CrossEntropyLoss()
    meta = {
        "version": CHECKPOINT_VERSION,
        "class_names": list(class_names),
        "in_channels": int(images.shape[-1]),
        "norm": norm.as_dict(),
        "run_key": run_key,
        "train_params": asdict(params),
        "seeing_reference_arcsec": seeing_reference_arcsec,
    }
    history, best_acc, best_epoch, start = [], -1.0, -1, 0
    last = outdir / "last.pt"
    if last.is_file():
        # On the CPU: the RNG states must stay CPU tensors (set_rng_state refuses CUDA ones);
        # load_state_dict moves weights and optimizer state onto the model's device.
        state = torch.load(last, map_location="cpu", weights_only=False)
        if state.get("run_key") == run_key and state.get("class_names") == list(class_names):
            model.load_state_dict(state["model_state"])
            opt.load_state_dict(state["optimizer_state"])
            sched.load_state_dict(state["scheduler_state"])
            torch.set_rng_state(state["torch_rng"])
            gen.set_state(state["loader_rng"])
            history, best_acc, best_epoch, start = (
                state["history"],
                state["best_acc"],
                state["best_epoch"],
                state["epoch"] + 1,
            )
            log.info("resuming from %s at epoch %d", last, start)
        else:
            log.warning("%s belongs to another training run (settings, code or data differ): starting afresh", last)
    stop = params.epochs if max_epochs_this_call is None else min(params.epochs, start + max_epochs_this_call)
    for epoch in range(start, stop):
        model.train()
        total, n = 0.0, 0
        for x, y in train_dl:
            x, y = x.to(device), y.to(device)
            opt.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            opt.step()
            total += loss.item() * len(y)
            n += len(y)
        sched.step()
        val_loss, val_p, val_y = _evaluate(model, val_dl, device, loss_fn)
        val_acc = float((val_p.argmax(1) == val_y).mean()) if len(val_y) else 0.0
        history.append(
            {
                "epoch": epoch,
                "train_loss": total / max(n, 1),
                "val_loss": val_loss,
                "val_accuracy": val_acc,
                "lr": opt.param_groups[0]["lr"],
            }
        )
        log.info(
            "epoch %d/%d: train loss %.4f, val loss %.4f, val accuracy %.4f",
            epoch + 1,
            params.epochs,
            history[-1]["train_loss"],
            val_loss,
            val_acc,
        )
        if val_acc > best_acc:
            best_acc, best_epoch = val_acc, epoch
            _save_atomic(
                {**meta, "model_state": model.state_dict(), "epoch": epoch, "val_accuracy": val_acc}, outdir / "best.pt"
            )
        _save_atomic(
            {
                **meta,
                "model_state": model.state_dict(),
                "optimizer_state": opt.state_dict(),
                "scheduler_state": sched.state_dict(),
                "torch_rng": torch.get_rng_state(),
                "loader_rng": gen.get_state(),
                "history": history,
                "best_acc": best_acc,
                "best_epoch": best_epoch,
                "epoch": epoch,
            },
            last,
        )
        if epoch - best_epoch >= params.patience:
            log.info("early stop: no better validation accuracy for %d epochs", params.patience)
            break
    return {"history": history, "best_epoch": best_epoch, "best_val_accuracy": best_acc, "device": str(device)}


def load_classifier(path: str | Path, class_names=CLASS_NAMES, in_channels: int = 3, device: str = "auto"):
    """Load a checkpoint for inference; refuse one made for other classes or channels.

    Returns
    -------
    (Conv4Net, Normalisation, dict)
        The model in eval mode on its device, the saved normalisation, the checkpoint's
        metadata.
    """
    path = Path(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:
        raise CheckpointError(f"{path}: not a readable checkpoint ({type(exc).__name__})") from None
    if not isinstance(state, dict) or "model_state" not in state:
        raise CheckpointError(f"{path}: not a YL8C4Net classifier checkpoint")
    if state.get("class_names") != list(class_names):
        raise CheckpointError(
            f"{path}: trained for classes {state.get('class_names')}, the config expects {list(class_names)}"
        )
    if state.get("in_channels") != in_channels:
        raise CheckpointError(
            f"{path}: trained on {state.get('in_channels')} input channels, "
            f"the config gives {in_channels} (training_data.extra_bands)"
        )
    dev = pick_device(device)
    model = Conv4Net(in_channels=in_channels, n_classes=len(class_names))
    model.load_state_dict(state["model_state"])
    model.to(dev).eval()
    return model, Normalisation(**state["norm"]), {k: v for k, v in state.items() if not k.endswith("_state")}


def predict_proba(model, norm: Normalisation, images: np.ndarray, batch_size: int = 1024) -> np.ndarray:
    """Class probabilities (N, n_classes) of uint8 cut-outs (N, H, W, C), by the torch
    model or its ONNX copy (`yl8c4net.runtime.onnx.OnnxConv4Net`)."""
    if not isinstance(model, torch.nn.Module):
        out = [
            model.probabilities(norm.apply(images[k : k + batch_size]).numpy())
            for k in range(0, len(images), batch_size)
        ]
        return np.concatenate(out) if out else np.zeros((0, model.n_classes), np.float32)
    device = next(model.parameters()).device
    out = []
    with torch.no_grad():
        for k in range(0, len(images), batch_size):
            x = norm.apply(images[k : k + batch_size]).to(device)
            out.append(torch.softmax(model(x), 1).cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, model.n_classes), np.float32)


def predict_split(images_path, table_path, weights_path, split: str, device: str = "auto"):
    """Conv4Net's probabilities for one split of a classification data set.

    Returns
    -------
    rows : pandas.DataFrame
        The split's rows of the data set table (index reset).
    proba : numpy.ndarray
        (len(rows), n_classes) probabilities, at the training set's equal priors.
    """
    import pandas as pd

    images = np.load(images_path)
    table = pd.read_parquet(table_path)
    sel = (table["split"] == split).to_numpy()
    model, norm, _ = load_classifier(weights_path, CLASS_NAMES, images.shape[-1], device)
    return table[sel].reset_index(drop=True), predict_proba(model, norm, images[sel])
