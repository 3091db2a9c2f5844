"""Where the models run: one choice for the detector and the classifier alike."""

from __future__ import annotations

import logging
import os

log = logging.getLogger(__name__)


def pick_device(requested: str = "auto"):
    """The torch device for ``requested`` ("auto", "cpu" or "cuda"): CUDA when asked for or
    available, else the CPU. A job that was given a GPU by the scheduler but sees no CUDA
    device (e.g. a declared-only GRES) falls back to the CPU with a warning."""
    import torch

    if requested == "cpu":
        return torch.device("cpu")
    if torch.cuda.is_available():
        return torch.device("cuda")
    if requested == "cuda":
        log.warning(
            "CUDA requested but torch sees no CUDA device (CUDA_VISIBLE_DEVICES=%s): using the CPU",
            os.environ.get("CUDA_VISIBLE_DEVICES"),
        )
    return torch.device("cpu")


def ultralytics_device(requested: str = "auto"):
    """The same choice in ultralytics' terms (0 for the first GPU, or "cpu")."""
    return 0 if pick_device(requested).type == "cuda" else "cpu"


def batch_for_device(setting, device, auto: dict) -> int:
    """A batch size setting resolved on ``device``: the integer itself, or for "auto" the
    entry of ``auto`` ({"cpu": n, "cuda": m}) for that kind of device."""
    if setting != "auto":
        return int(setting)
    return auto["cuda" if str(device).startswith("cuda") else "cpu"]
