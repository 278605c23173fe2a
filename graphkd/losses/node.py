"""Node loss: per-node-type weighted MSE between adapted student and teacher node features."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor
from torch_geometric.utils import scatter

from ._utils import (
    GraphLike,
    connected_zero,
    graph_index,
    mean_over_graphs,
    num_graphs,
    per_graph_count,
    per_graph_sum,
)

__all__ = ["node_loss", "node_type_weights", "NODE_MODES"]

# NodeType values of graph.types (TEXT=0, NONTEXT=1, BG=2); repeated here so the losses do not
# need graph/ to be importable.
TEXT, NONTEXT, BG = 0, 1, 2
NODE_MODES = ("graphkd", "dsig")


def node_type_weights(
    node_type: Tensor,
    batch: Tensor,
    num_graphs: int,
    *,
    mode: str = "graphkd",
    beta: float = 7.5,
    text_weight_clip: Sequence[float] = (0.1, 1.0),
    type_scale: Sequence[float] = (1.0, 1.0, 1.0),
) -> Tensor:
    """Per-node loss weights, computed per image from the node-type counts.

    ``graphkd``: non-text 1, text ``w_t = clip(N_nontext / max(N_text, 1), *text_weight_clip)``,
    bg ``w_bg = N_fg / (beta * N_bg)`` with ``N_fg = N_text + N_nontext``.
    ``dsig``: fg (text and non-text) 1, bg as above (DSIG's adaptive background weight).
    Each type's weight is then multiplied by ``type_scale[type]``.

    Args:
        node_type: ``(n,)`` long in {TEXT=0, NONTEXT=1, BG=2}.
        batch: ``(n,)`` long graph id of each node.
        num_graphs: number of graphs ``B``.

    Returns:
        ``(n,)`` float weights.
    """
    if mode not in NODE_MODES:
        raise ValueError(f"node loss mode must be one of {NODE_MODES}, got {mode!r}")
    if beta <= 0:
        raise ValueError(f"node loss beta must be > 0, got {beta}")
    lo, hi = (float(v) for v in text_weight_clip)
    if not 0 <= lo <= hi:
        raise ValueError(f"text_weight_clip must be (lo, hi) with 0 <= lo <= hi, got {(lo, hi)}")
    if len(type_scale) != 3:
        raise ValueError(f"type_scale needs 3 values (text, nontext, bg), got {type_scale}")
    node_type = node_type.long()
    if node_type.numel() and (node_type.min() < 0 or node_type.max() > BG):
        raise ValueError("node_type must hold TEXT=0, NONTEXT=1 or BG=2")
    dtype = torch.float32
    ones = torch.ones(node_type.shape[0], dtype=dtype, device=node_type.device)
    counts = scatter(ones, batch * 3 + node_type, dim=0, dim_size=3 * num_graphs, reduce="sum")
    n_text, n_nontext, n_bg = counts.view(num_graphs, 3).unbind(1)
    n_fg = n_text + n_nontext
    w_bg = n_fg / (beta * n_bg.clamp(min=1.0))
    w_nontext = torch.ones_like(n_fg)
    if mode == "graphkd":
        w_text = (n_nontext / n_text.clamp(min=1.0)).clamp(lo, hi)
    else:
        w_text = torch.ones_like(n_fg)
    scale = torch.as_tensor([float(s) for s in type_scale], dtype=dtype, device=node_type.device)
    table = torch.stack([w_text, w_nontext, w_bg], dim=1) * scale  # (B, 3)
    return table[batch, node_type]


def node_loss(
    teacher: GraphLike,
    student_x: Tensor,
    *,
    mode: str = "graphkd",
    beta: float = 7.5,
    text_weight_clip: Sequence[float] = (0.1, 1.0),
    type_scale: Sequence[float] = (1.0, 1.0, 1.0),
) -> Tensor:
    """Weighted node-feature MSE, per image, averaged over images.

    Per image: ``sum_i w_i * mean_d (s_id - t_id)^2 / n`` over its ``n`` nodes, with ``w_i``
    from :func:`node_type_weights` (dividing by the node count, not by the weight sum, keeps the
    inverse-frequency meaning of the weights). Images without nodes are left out of the average;
    if no image has nodes the result is a zero connected to ``student_x``.

    Args:
        teacher: teacher graph(s) with ``x`` ``(n, D)``, ``node_type`` ``(n,)`` and ``batch``.
            Used detached.
        student_x: ``(n, D)`` student node features already mapped to teacher channels
            (:class:`graphkd.adapter.ChannelAdapter`), same node order as ``teacher``.
        mode, beta, text_weight_clip, type_scale: see :func:`node_type_weights`.

    Returns:
        Scalar loss.
    """
    t = teacher.x.detach()
    if student_x.flatten(1).shape != t.flatten(1).shape:
        raise ValueError(
            f"node_loss: adapted student features {tuple(student_x.shape)} do not match teacher "
            f"features {tuple(t.shape)}; map student channels to teacher channels with "
            "ChannelAdapter first"
        )
    batch = graph_index(teacher)
    b = num_graphs(teacher)
    zero = connected_zero(student_x)
    if t.shape[0] == 0:
        return zero
    per_node = (student_x.flatten(1) - t.flatten(1)).pow(2).mean(dim=1)
    w = node_type_weights(
        teacher.node_type,
        batch,
        b,
        mode=mode,
        beta=beta,
        text_weight_clip=text_weight_clip,
        type_scale=type_scale,
    ).to(per_node.dtype)
    sums = per_graph_sum(w * per_node, batch, b)
    return mean_over_graphs(sums, per_graph_count(batch, b), zero)
