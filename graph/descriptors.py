"""Node descriptors: low-dimensional channel statistics of pooled RoI features."""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["DESCRIPTOR_KINDS", "descriptor_dim", "node_descriptors"]

DESCRIPTOR_KINDS = ("mean", "meanmax")


def descriptor_dim(channels: int, kind: str = "mean") -> int:
    """Descriptor dimension D for features with ``channels`` channels."""
    if kind not in DESCRIPTOR_KINDS:
        raise ValueError(
            f"descriptor kind {kind!r} is not supported; use one of {DESCRIPTOR_KINDS}"
        )
    return channels * (2 if kind == "meanmax" else 1)


def node_descriptors(features: Tensor, kind: str = "mean") -> Tensor:
    """Channel statistics of pooled RoI features.

    Args:
        features: (N, C, H, W) pooled RoI features (e.g. 7x7 RoIAlign output), or (N, C) which is
            returned unchanged for kind="mean".
        kind: "mean" (mean over the H x W grid, D = C) or "meanmax" (mean and max, D = 2C).

    Returns:
        (N, D), differentiable, dtype of ``features``.
    """
    if kind not in DESCRIPTOR_KINDS:
        raise ValueError(
            f"descriptor kind {kind!r} is not supported; use one of {DESCRIPTOR_KINDS}"
        )
    if features.dim() == 2 and kind == "mean":
        return features
    if features.dim() != 4:
        raise ValueError(
            f"node_descriptors expects pooled features of shape (N, C, H, W), got {tuple(features.shape)}"
        )
    mean = features.mean(dim=(2, 3))
    if kind == "mean":
        return mean
    if features.shape[0] == 0:
        return torch.cat([mean, mean], dim=1)
    return torch.cat([mean, features.amax(dim=(2, 3))], dim=1)
