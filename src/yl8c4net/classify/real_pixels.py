"""Conv4Net learns from real pixels: a simulation-trained checkpoint fine-tuned on the
simulated training split together with real cut-outs carrying weak labels (issue 30, item 3).

Why this way. The simulator gives exact truth for all three classes but its galaxies are not
the sky's; the real frames give the sky's pixels but no class. A real source's light says
only *point* or *extended* (`yl8c4net.classify.weak_labels`), never star or quasar, so a
real weak label is a *set* of classes: POINT = {STAR, QSO}, GALAXY = {GALAXY}. The loss is
the negative log of the probability the network gives the set (``-log sum_{k in set} p_k``),
which for a one-class set is the usual cross-entropy: one loss serves the simulated rows
(exact labels) and the real ones (sets), and the real rows never push probability between
STAR and QSO, which only colours can separate. Fine-tuning (few epochs, a small learning
rate, the simulated rows kept in every epoch) keeps what the simulator taught: the
simulated test split is measured before and after.

Equal class weight per r bin. Every other part of the classification trains at equal class
priors, and the catalogue moves the probabilities to the sky's mix by r afterwards
(`yl8c4net.classify.probabilities`). A real field's weak labels come at its own mix instead:
on three high-latitude fields 74 % GALAXY overall, four to one fainter than r = 21. Taken
as they come, they teach the network that a faint compact real source is most likely a
galaxy, a prior the catalogue then applies a second time. With
``real_pixels.balance_classes`` each weak label weighs in the loss as if POINT and GALAXY
were equally common in each bin of r (`balanced_weights`; ``real_pixels.balance_r_edges``).
On the real labelled fields that trades faint stars for faint galaxies at the same balanced
accuracy, so it is off by default and the shipped classifier was tuned without it.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import asdict, dataclass
from dataclasses import fields as dataclass_fields
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch.utils.data import ConcatDataset, DataLoader

from yl8c4net.classify.data import CutoutDataset
from yl8c4net.classify.model import CLASS_NAMES
from yl8c4net.classify.weak_labels import GALAXY, POINT, concentration_table, weak_labels
from yl8c4net.errors import YL8C4NetError
from yl8c4net.sdss.fields import field_triple

log = logging.getLogger(__name__)


class RealPixelsError(YL8C4NetError):
    """A real field gives no usable weak labels, or the settings do not fit the checkpoint."""


@dataclass(frozen=True)
class RealPixelParams:
    """``real_pixels`` of the config: what fine-tuning on real pixels does."""

    fields: tuple = ()
    mirror_root: str | None = None
    r_max: float = 22.2
    r_min: float = 16.0
    margin_mag: float = 0.05
    repeat: int = 4
    epochs: int = 4
    lr: float = 2e-4
    weight_decay: float = 1e-4
    batch_size: int = 64
    seed: int = 0
    balance_classes: bool = False
    balance_r_edges: tuple = (19.0, 20.0, 21.0)

    @classmethod
    def from_config(cls, c: dict) -> "RealPixelParams":
        """The settings of the config's ``real_pixels`` section (keys left out keep their defaults)."""
        scalars = {f.name for f in dataclass_fields(cls)} - {"fields", "mirror_root", "balance_r_edges"}
        edges = {"balance_r_edges": tuple(float(e) for e in c["balance_r_edges"])} if "balance_r_edges" in c else {}
        return cls(
            fields=tuple(field_triple(f) for f in c.get("fields", [])),
            mirror_root=c.get("mirror_root"),
            **edges,
            **{k: c[k] for k in scalars if k in c},
        )


def label_sets(class_names=CLASS_NAMES) -> tuple[dict, torch.Tensor]:
    """Label index of each class and weak label, and the (n_labels, n_classes) mask of the
    classes each label allows: one row per class, then POINT (STAR or QSO)."""
    names = list(class_names)
    index = {c: k for k, c in enumerate(names)}
    rows = [[c == d for d in names] for c in names]
    index[POINT] = len(names)
    rows.append([d in ("STAR", "QSO") for d in names])
    return index, torch.tensor(rows, dtype=torch.bool)


def set_loss(
    logits: torch.Tensor, labels: torch.Tensor, allowed: torch.Tensor, weights: torch.Tensor | None = None
) -> torch.Tensor:
    """Mean of ``-log sum_{k allowed by the label} softmax(logits)_k`` (cross-entropy for a
    one-class label), each row times its ``weights`` when given."""
    masked = logits.masked_fill(~allowed[labels], float("-inf"))
    losses = torch.logsumexp(logits, 1) - torch.logsumexp(masked, 1)
    return (losses if weights is None else losses * weights).mean()


def balanced_weights(labels, r, r_edges) -> np.ndarray:
    """Loss weight of each weak label so that, in every bin of r, each label present carries
    the same total weight, and the bin the same total as its number of rows.

    Parameters
    ----------
    labels : array of str
        POINT or GALAXY per real source.
    r : array
        The sources' r (mag).
    r_edges : sequence of float
        Inner bin edges (mag); the outer bins are open.

    Returns
    -------
    ndarray
        Weights (mean 1 over the rows); a bin with one label only keeps weight 1.
    """
    labels, r = np.asarray(labels, dtype=object), np.asarray(r, float)
    bins = np.digitize(r, np.asarray(r_edges, float))
    weights = np.ones(len(labels))
    for b in np.unique(bins):
        in_bin = bins == b
        present = np.unique(labels[in_bin])
        for label in present:
            rows = in_bin & (labels == label)
            weights[rows] = in_bin.sum() / (len(present) * rows.sum())
    return weights


class _WeightedRows(torch.utils.data.Dataset):
    """A dataset's (x, y) items with a loss weight: (x, y, w)."""

    def __init__(self, dataset, weights):
        self.dataset, self.weights = dataset, torch.as_tensor(np.asarray(weights, np.float32))

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, i):
        x, y = self.dataset[i]
        return x, y, self.weights[i]


def field_weak_cutouts(
    field_dir: Path, manifest: dict, params: RealPixelParams, seeing_reference_arcsec: float | None = None
) -> tuple[pd.DataFrame, np.ndarray]:
    """The weakly labelled sources of one fetched real field and their cut-outs.

    Sources are found and measured on the r frame; cut-outs are cropped from the field's
    composite (the official irg JPEG on the r grid, as the workflow classifies) with the
    magnitude box of their r, exactly as the workflow crops a detection of that r (times
    the field's seeing scale when the checkpoint was trained with a seeing reference,
    `yl8c4net.images.seeing`).

    Returns
    -------
    table : DataFrame
        x, y (r-frame pixels), r, c, dc (mag) and ``weak_label`` (POINT or GALAXY) per labelled source.
    cutouts : ndarray
        uint8 (N, 48, 48, 3).
    """
    from yl8c4net.images.composite import field_composite
    from yl8c4net.images.cutouts import CUTOUT_PX, crop_cutouts
    from yl8c4net.images.labels import BoxTable
    from yl8c4net.images.seeing import crop_scale, field_fwhm_arcsec
    from yl8c4net.sdss.fetch import frame_file
    from yl8c4net.sdss.frames import read_frame

    composite, _ = field_composite(field_dir, manifest)
    frame = read_frame(frame_file(field_dir, manifest["frames"]["r"]))
    table, _ = concentration_table(np.nan_to_num(frame.image))
    fwhm = field_fwhm_arcsec(frame.image, table["x"], table["y"])
    table["weak_label"] = weak_labels(table["dc"], table["r"], params.margin_mag, params.r_max, params.r_min)
    table = table[table["weak_label"] != ""].reset_index(drop=True)
    table["fwhm_arcsec"] = fwhm
    table["crop_scale"] = crop_scale(fwhm, seeing_reference_arcsec)
    side = BoxTable().side(table["r"]) * table["crop_scale"].to_numpy()
    crops = crop_cutouts(composite, table["x"].to_numpy(float), table["y"].to_numpy(float), side, CUTOUT_PX)
    return table, crops


def real_weak_set(
    params: RealPixelParams, fetched_manifest: str | None = None, seeing_reference_arcsec: float | None = None
) -> tuple[pd.DataFrame, np.ndarray]:
    """Weakly labelled cut-outs of every configured real field.

    Parameters
    ----------
    params : RealPixelParams
        With ``mirror_root``, the fields are fetched from that SAS-layout mirror.
    fetched_manifest : str, optional
        Without ``mirror_root``: the path template (``{run}``, ``{camcol}``, ``{field}``) of
        the manifests of the fields the workflow fetched for its runs (rule fetch_block), so
        that a run fine-tunes on its own frames from whatever source it fetches from.
    """
    from yl8c4net.pipeline.blocks import field_path
    from yl8c4net.sdss.fetch import fetch_field
    from yl8c4net.sdss.fields import FieldId
    from yl8c4net.sdss.source import MirrorSource

    if not params.mirror_root and not fetched_manifest:
        raise RealPixelsError("real_pixels: give mirror_root, or the fetched fields' manifests")
    tables, crops = [], []
    for fid_tuple in params.fields:
        fid = FieldId(*fid_tuple)
        name = "/".join(str(v) for v in fid_tuple)
        if params.mirror_root:
            with tempfile.TemporaryDirectory() as tmp:
                manifest = fetch_field(fid, MirrorSource(params.mirror_root), "r", Path(tmp))
                table, cutouts = field_weak_cutouts(Path(tmp), manifest, params, seeing_reference_arcsec)
        else:
            manifest_path = Path(field_path(fetched_manifest, fid))
            manifest = read_fetched_manifest(manifest_path, name)
            table, cutouts = field_weak_cutouts(manifest_path.parent, manifest, params, seeing_reference_arcsec)
        if len(table) == 0:
            raise RealPixelsError(f"real field {name}: no source gives a weak label")
        log.info(
            "real field %s: %d weak labels (%d POINT, %d GALAXY)",
            name,
            len(table),
            int((table["weak_label"] == POINT).sum()),
            int((table["weak_label"] == GALAXY).sum()),
        )
        tables.append(table.assign(field=name))
        crops.append(cutouts)
    return pd.concat(tables, ignore_index=True), np.concatenate(crops)


def read_fetched_manifest(manifest_path: Path, name: str) -> dict:
    """A fetched field's manifest, refused with one line when it is unreadable, quarantined
    or has no r frame (a weak label needs the r frame's light)."""
    import json

    try:
        manifest = json.loads(manifest_path.read_text())
    except (OSError, ValueError) as exc:
        raise RealPixelsError(f"real field {name}: {manifest_path}: unreadable manifest ({exc})") from None
    if manifest.get("status", "ok") != "ok":
        raise RealPixelsError(
            f"real field {name}: quarantined when fetched ({manifest.get('reason', 'no reason given')}); "
            "drop it from real_pixels.fields"
        )
    if "r" not in manifest.get("frames", {}):
        raise RealPixelsError(f"real field {name}: {manifest_path} has no r frame")
    return manifest


def fine_tune_on_real(
    checkpoint: dict,
    sim_images: np.ndarray,
    sim_classes: np.ndarray,
    real_images: np.ndarray,
    real_labels: np.ndarray,
    params: RealPixelParams,
    device: str = "cpu",
    progress=None,
    real_r: np.ndarray | None = None,
) -> tuple[dict, list[dict]]:
    """Fine-tune a Conv4Net checkpoint on simulated cut-outs with exact classes and real
    ones with weak labels (each real set ``params.repeat`` times per epoch).

    ``real_r`` (mag) is each real source's r; with ``params.balance_classes`` it is needed,
    and the real rows weigh as `balanced_weights` says (simulated rows weigh 1).

    Returns the new checkpoint (same format, the checkpoint's normalisation kept) and the
    per-epoch history. ``progress(epoch, loss)`` is called after each epoch.
    """
    from yl8c4net.classify.model import Conv4Net
    from yl8c4net.classify.data import Normalisation
    from yl8c4net.runtime.device import pick_device

    torch.manual_seed(params.seed)
    np.random.seed(params.seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    names = checkpoint["class_names"]
    index, allowed = label_sets(names)
    unknown = sorted(set(map(str, sim_classes)) - set(names)) + sorted(set(map(str, real_labels)) - {POINT, GALAXY})
    if unknown:
        raise RealPixelsError(f"labels {unknown} are not among {names} + {POINT}")
    dev = pick_device(device)
    norm = Normalisation(**checkpoint["norm"])
    model = Conv4Net(in_channels=checkpoint["in_channels"], n_classes=len(names))
    model.load_state_dict(checkpoint["model_state"])
    model.to(dev)
    if params.balance_classes and real_r is None:
        raise RealPixelsError("real_pixels.balance_classes needs the real sources' r")
    real_weights = (
        balanced_weights(real_labels, real_r, params.balance_r_edges)
        if params.balance_classes
        else np.ones(len(real_labels))
    )
    sim_ds = _WeightedRows(
        CutoutDataset(sim_images, np.array([index[c] for c in sim_classes]), norm, augment=True),
        np.ones(len(sim_classes)),
    )
    real_ds = _WeightedRows(
        CutoutDataset(real_images, np.array([index[c] for c in real_labels]), norm, augment=True), real_weights
    )
    gen = torch.Generator().manual_seed(params.seed)
    loader = DataLoader(
        ConcatDataset([sim_ds] + [real_ds] * params.repeat), batch_size=params.batch_size, shuffle=True, generator=gen
    )
    opt = torch.optim.Adam(model.parameters(), lr=params.lr, weight_decay=params.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(params.epochs, 1))
    allowed = allowed.to(dev)
    history = []
    for epoch in range(params.epochs):
        model.train()
        total, n = 0.0, 0
        for x, y, w in loader:
            x, y, w = x.to(dev), y.to(dev), w.to(dev)
            opt.zero_grad()
            loss = set_loss(model(x), y, allowed, w)
            loss.backward()
            opt.step()
            total += loss.item() * len(y)
            n += len(y)
        sched.step()
        history.append({"epoch": epoch, "train_loss": total / max(n, 1), "lr": opt.param_groups[0]["lr"]})
        if progress:
            progress(epoch, history[-1]["train_loss"])
    model.eval().cpu()
    tuned = {k: v for k, v in checkpoint.items() if not k.endswith("_state") or k == "model_state"}
    tuned["model_state"] = model.state_dict()
    tuned["real_pixels"] = {
        **asdict(params),
        "fields": ["/".join(map(str, f)) for f in params.fields],
        "balance_r_edges": list(params.balance_r_edges),
        "n_real": int(len(real_labels)),
        "n_real_point": int((np.asarray(real_labels) == POINT).sum()),
        "n_simulated": int(len(sim_classes)),
    }
    return tuned, history
