"""Cut-out tensors for Conv4Net: normalisation (min-max, then z-score, statistics from the
training split only) and the paper's augmentation (flips p=0.5, rotation 0-180 deg)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch.utils.data import Dataset


@dataclass
class Normalisation:
    """Per-channel statistics: x -> ((x - min) / (max - min) - mean) / std."""

    min: list[float]
    max: list[float]
    mean: list[float]
    std: list[float]

    @classmethod
    def fit(cls, images: np.ndarray) -> "Normalisation":
        """Statistics of uint8 images (N, H, W, C) of the training split."""
        flat = images.reshape(-1, images.shape[-1]).astype(np.float64)
        lo, hi = flat.min(axis=0), flat.max(axis=0)
        scaled = (flat - lo) / np.where(hi > lo, hi - lo, 1.0)
        return cls(
            lo.tolist(), hi.tolist(), scaled.mean(axis=0).tolist(), np.maximum(scaled.std(axis=0), 1e-6).tolist()
        )

    def apply(self, images: np.ndarray) -> torch.Tensor:
        """uint8 (N, H, W, C) -> float32 tensor (N, C, H, W), normalised."""
        x = torch.from_numpy(np.ascontiguousarray(images)).float().permute(0, 3, 1, 2)
        lo = torch.tensor(self.min).view(1, -1, 1, 1)
        span = torch.tensor(self.max).view(1, -1, 1, 1) - lo
        span = torch.where(span > 0, span, torch.ones_like(span))
        x = (x - lo) / span
        return (x - torch.tensor(self.mean).view(1, -1, 1, 1)) / torch.tensor(self.std).view(1, -1, 1, 1)

    def as_dict(self) -> dict:
        return asdict(self)


class CutoutDataset(Dataset):
    """Normalised cut-outs with integer labels; ``augment`` applies the paper's
    augmentation (fill of rotated corners: 0, the normalised training mean)."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, norm: Normalisation, augment: bool = False):
        from torchvision.transforms import v2

        self.x = norm.apply(images)
        self.y = torch.as_tensor(labels, dtype=torch.long)
        self.transform = (
            v2.Compose(
                [
                    v2.RandomHorizontalFlip(0.5),
                    v2.RandomVerticalFlip(0.5),
                    v2.RandomRotation((0.0, 180.0), interpolation=v2.InterpolationMode.BILINEAR, fill=0.0),
                ]
            )
            if augment
            else None
        )

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, k):
        x = self.x[k]
        if self.transform is not None:
            x = self.transform(x)
        return x, self.y[k]
