"""Node and edge types shared by graph/ and graphkd/ (the losses import them from here), and the
finiteness check of graph/'s inputs."""

from __future__ import annotations

from enum import IntEnum

import torch
from torch import Tensor

__all__ = ["NodeType", "EdgeType", "edge_types", "check_tensor_finite"]


class NodeType(IntEnum):
    """Type of a graph node: a text RoI / cluster, a non-text RoI, or a mined background RoI."""

    TEXT = 0
    NONTEXT = 1
    BG = 2


class EdgeType(IntEnum):
    """Type of a directed edge, symmetric in its endpoints.

    Any edge touching a BG node is typed by treating BG as non-text, so there are three types only.
    """

    TEXT_TEXT = 0
    TEXT_NONTEXT = 1
    NONTEXT_NONTEXT = 2


def edge_types(node_type: Tensor, edge_index: Tensor) -> Tensor:
    """Edge type of every edge.

    Args:
        node_type: (n,) long, values in :class:`NodeType`.
        edge_index: (2, E) long.

    Returns:
        (E,) long in :class:`EdgeType`: 2 minus the number of text endpoints (BG counts as non-text).
    """
    is_text = (node_type == NodeType.TEXT).long()
    return 2 - is_text[edge_index[0]] - is_text[edge_index[1]]


def check_tensor_finite(t: Tensor, name: str) -> None:
    """Raise a ValueError naming ``name`` when ``t`` holds NaN or Inf."""
    if not t.is_floating_point() or t.numel() == 0:
        return
    # Fast path: a finite sum implies every element is finite (NaN / Inf propagate); an overflowing
    # sum of finite values falls through to the exact elementwise check.
    if bool(torch.isfinite(t.detach().sum())):
        return
    if not bool(torch.isfinite(t).all()):
        n_bad = int((~torch.isfinite(t)).sum())
        raise ValueError(
            f"{name} contains {n_bad} non-finite value(s) (NaN or Inf); check the upstream "
            "features (e.g. a diverged model or an empty RoI) before building graphs."
        )
