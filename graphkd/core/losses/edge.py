"""Edge loss: per-edge-type weighted MSE between teacher and student edge similarities."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from graph.types import EdgeType
from graphkd.core.losses._utils import (
    GraphLike,
    check_same_graphs,
    connected_zero,
    graph_index,
    mean_over_graphs,
    num_graphs,
    per_graph_count,
    per_graph_sum,
)

__all__ = ["edge_loss", "edge_graph_index"]


def edge_graph_index(data: GraphLike) -> Tensor:
    """``(E,)`` graph id of every edge (the graph of its source node)."""
    return graph_index(data)[data.edge_index[0]]


def edge_loss(
    teacher: GraphLike,
    student: GraphLike,
    type_weights: Sequence[float] = (1.0, 1.0, 1.0),
) -> Tensor:
    """Weighted MSE between teacher and student similarities ``edge_sim``.

    Per image: ``sum_e w_type(e) * (s_e - t_e)^2 / E_img`` over its edges; averaged over the
    images that have edges. The edge type is read from ``teacher.edge_type``
    (:class:`graph.EdgeType`: TEXT_TEXT=0, TEXT_NONTEXT=1, NONTEXT_NONTEXT=2). In ``kd=dsig`` the builder stores cosine
    similarities of flattened features in ``edge_sim``, so this is DSIG's edge loss unchanged.

    Args:
        teacher: teacher graph(s) (used detached); ``edge_sim`` (E,), ``edge_type`` (E,) long.
        student: student graph(s) with identical ``edge_index``; ``edge_sim`` carries grads.
        type_weights: ``(w_tt, w_tn, w_nn)`` weights per edge type.

    Returns:
        Scalar loss; a zero connected to the student when there are no edges.
    """
    check_same_graphs(teacher, student, need_edges=True)
    if len(type_weights) != 3:
        raise ValueError(f"edge type_weights needs 3 values (tt, tn, nn), got {type_weights}")
    zero = connected_zero(student.x, student.edge_sim)
    if teacher.edge_index.shape[1] == 0:
        return zero
    t = teacher.edge_sim.detach()
    s = student.edge_sim
    etype = teacher.edge_type.long()
    if etype.min() < 0 or etype.max() >= len(EdgeType):
        raise ValueError("edge_type must hold EdgeType values 0 (tt), 1 (tn) or 2 (nn)")
    w = torch.as_tensor([float(v) for v in type_weights], dtype=s.dtype, device=s.device)[etype]
    g = edge_graph_index(teacher)
    b = num_graphs(teacher)
    sums = per_graph_sum(w * (s - t).pow(2), g, b)
    return mean_over_graphs(sums, per_graph_count(g, b), zero)
