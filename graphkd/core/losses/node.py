"""Node loss: per-node-type weighted MSE between adapted student and teacher node features."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor
from torch_geometric.utils import scatter

from graph.types import NodeType
from graphkd.core.losses._utils import (
    GraphLike,
    connected_zero,
    graph_index,
    mean_over_graphs,
    num_graphs,
    per_graph_count,
    per_graph_sum,
)

__all__ = ["node_loss", "node_type_weights", "roi_node_loss", "roi_roles", "NODE_MODES"]

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
    text_only_weight: float | None = None,
) -> Tensor:
    """Per-node loss weights, computed per image from the node-type counts.

    ``graphkd``: non-text 1, text ``w_t = clip(N_nontext / max(N_text, 1), *text_weight_clip)``,
    bg ``w_bg = N_fg / (beta * N_bg)`` with ``N_fg = N_text + N_nontext``. On an image without
    non-text nodes ``w_t`` is ``text_only_weight`` when given (the ratio is meant to rebalance
    text against non-text; without non-text it would push such pages to the lower clip).
    ``dsig``: fg (text and non-text) 1, bg as above (DSIG's adaptive background weight).
    Each type's weight is then multiplied by ``type_scale[type]``.

    Args:
        node_type: ``(n,)`` long :class:`graph.NodeType` (TEXT=0, NONTEXT=1, BG=2).
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
    if node_type.numel() and (node_type.min() < 0 or node_type.max() > NodeType.BG):
        raise ValueError("node_type must hold NodeType values: TEXT=0, NONTEXT=1 or BG=2")
    dtype = torch.float32
    ones = torch.ones(node_type.shape[0], dtype=dtype, device=node_type.device)
    k = len(NodeType)  # counts per (graph, type), in NodeType order TEXT, NONTEXT, BG
    counts = scatter(ones, batch * k + node_type, dim=0, dim_size=k * num_graphs, reduce="sum")
    n_text, n_nontext, n_bg = counts.view(num_graphs, k).unbind(1)
    n_fg = n_text + n_nontext
    w_bg = n_fg / (beta * n_bg.clamp(min=1.0))
    w_nontext = torch.ones_like(n_fg)
    if mode == "graphkd":
        w_text = (n_nontext / n_text.clamp(min=1.0)).clamp(lo, hi)
        if text_only_weight is not None:
            w_text = torch.where(n_nontext > 0, w_text, torch.full_like(w_text, text_only_weight))
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
    text_only_weight: float | None = None,
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
            (:class:`graphkd.core.adapter.ChannelAdapter`), same node order as ``teacher``.
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
        text_only_weight=text_only_weight,
    ).to(per_node.dtype)
    sums = per_graph_sum(w * per_node, batch, b)
    return mean_over_graphs(sums, per_graph_count(batch, b), zero)


def roi_roles(
    teacher: GraphLike, roi_image: Tensor, roi_is_bg: Tensor, node_weight: Tensor, bg_rois: str
) -> tuple[Tensor, Tensor]:
    """Role and weight of every sampled RoI for :func:`roi_node_loss`, from the graph's clusters.

    A RoI inside a graph node takes that node's type and weight; a background RoI outside the
    graph (not mined) is BG when ``bg_rois == "all"`` (DSIG's code distils every sampled
    background RoI) and left out (-1) when ``"mined"``.

    Args:
        teacher: the teacher Batch; ``cluster`` ``(N,)`` holds per-image node indices (-1 =
            RoI not in the graph), ``ptr`` the node offset of each image.
        roi_image: ``(N,)`` long image index of each RoI (images in Batch order).
        roi_is_bg: ``(N,)`` bool, RoI matched to no GT box.
        node_weight: ``(n,)`` per-node weights (:func:`node_type_weights`).
        bg_rois: ``"mined"`` or ``"all"``.

    Returns:
        ``role`` ``(N,)`` long :class:`graph.NodeType` or -1 and ``weight`` ``(N,)`` float.
    """
    if bg_rois not in ("mined", "all"):
        raise ValueError(f"bg_rois must be 'mined' or 'all', got {bg_rois!r}")
    cluster = teacher.cluster
    if cluster.shape != roi_image.shape:
        raise ValueError(
            f"teacher.cluster has {cluster.shape[0]} RoIs but roi_image {roi_image.shape[0]}"
        )
    ptr = getattr(teacher, "ptr", None)
    offset = ptr[roi_image] if ptr is not None else torch.zeros_like(roi_image)
    in_graph = cluster >= 0
    node = torch.where(in_graph, cluster + offset, torch.zeros_like(cluster))
    role = torch.where(in_graph, teacher.node_type.long()[node], torch.full_like(cluster, -1))
    weight = torch.where(in_graph, node_weight[node], torch.zeros_like(node_weight[node]))
    if bg_rois == "all":
        role = torch.where(roi_is_bg & ~in_graph, torch.full_like(role, int(NodeType.BG)), role)
    return role, weight


def roi_node_loss(
    teacher_x: Tensor,
    student_x: Tensor,
    roi_image: Tensor,
    role: Tensor,
    fg_weight: Tensor,
    num_images: int,
    *,
    bg_alpha: float = 7.5,
) -> Tensor:
    """Node loss on RoIs (DSIG's code): each RoI's own features, not its merged node's mean.

    Per image: ``sum_fg w_r * mse_r / N_fg + bg_alpha * N_fg / N_bg * mean_bg mse_r``, with
    ``mse_r`` the mean squared error of RoI ``r``'s features; averaged over the images that have
    distilled RoIs. With ``w_r = 1`` this is the fg + bg RoI-feature loss of DSIG's released code
    (``loss_roipool_fg`` + ``loss_roipool_bg`` with ``BG_WEIGHT_ALPHA``); GraphKD passes its
    text / non-text node weights as ``w_r``, so every text RoI of a merged node is supervised
    with its own features.

    Args:
        teacher_x: ``(N, D)`` teacher RoI features (used detached).
        student_x: ``(N, D)`` adapted student RoI features.
        roi_image: ``(N,)`` long image index.
        role: ``(N,)`` long TEXT / NONTEXT (fg), BG, or -1 (not distilled); see :func:`roi_roles`.
        fg_weight: ``(N,)`` weight of each fg RoI (ignored for the others).
        num_images: ``B``.
        bg_alpha: DSIG's background weight factor.

    Returns:
        Scalar loss; a zero connected to ``student_x`` when no RoI is distilled.
    """
    t = teacher_x.detach().flatten(1)
    s = student_x.flatten(1)
    if s.shape != t.shape:
        raise ValueError(
            f"roi_node_loss: adapted student features {tuple(s.shape)} do not match teacher "
            f"features {tuple(t.shape)}"
        )
    if bg_alpha < 0:
        raise ValueError(f"bg_alpha must be >= 0, got {bg_alpha}")
    zero = connected_zero(student_x)
    if t.shape[0] == 0:
        return zero
    per_roi = (s - t).pow(2).mean(dim=1)
    fg = ((role == NodeType.TEXT) | (role == NodeType.NONTEXT)).to(per_roi.dtype)
    bg = (role == NodeType.BG).to(per_roi.dtype)
    n_fg = per_graph_sum(fg, roi_image, num_images)
    n_bg = per_graph_sum(bg, roi_image, num_images)
    fg_term = per_graph_sum(fg * fg_weight.to(per_roi.dtype) * per_roi, roi_image, num_images)
    bg_term = per_graph_sum(bg * per_roi, roi_image, num_images)
    per_image = fg_term / n_fg.clamp(min=1.0) + bg_alpha * n_fg * bg_term / n_bg.clamp(min=1.0).pow(
        2
    )
    return mean_over_graphs(per_image, ((n_fg + n_bg) > 0).to(per_roi.dtype), zero)
