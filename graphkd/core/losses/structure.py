"""Structure loss: KL between teacher and student neighbour distributions softmax(-d / tau)."""

from __future__ import annotations

import torch
from torch import Tensor
from torch_geometric.utils import scatter, softmax

from graphkd.core.losses._utils import (
    GraphLike,
    check_same_graphs,
    connected_zero,
    graph_index,
    mean_over_graphs,
    num_graphs,
    per_graph_sum,
)

__all__ = ["structure_loss", "per_graph_median", "segment_log_softmax"]


def per_graph_median(values: Tensor, index: Tensor, size: int) -> Tensor:
    """Median of ``values`` ``(M,)`` within each group of ``index`` ``(M,)``; vectorised.

    Even-sized groups take the mean of the two middle values. Empty groups get 1 (neutral for
    division). Gradients flow to the selected values.

    Returns:
        ``(size,)`` medians.
    """
    ones = torch.ones(size, dtype=values.dtype, device=values.device)
    m = values.shape[0]
    if m == 0:
        return ones
    # Sort by value, then stably by group: each group becomes a sorted contiguous run.
    order = torch.argsort(values.detach())
    order = order[torch.argsort(index[order], stable=True)]
    sorted_values = values[order]
    counts = torch.bincount(index, minlength=size)[:size]
    starts = torch.cumsum(counts, 0) - counts
    lo = (starts + (counts - 1).clamp(min=0) // 2).clamp(max=m - 1)
    hi = (starts + counts // 2).clamp(max=m - 1)
    med = 0.5 * (sorted_values[lo] + sorted_values[hi])
    return torch.where(counts > 0, med, ones)


def segment_log_softmax(src: Tensor, index: Tensor, num_segments: int) -> Tensor:
    """Numerically stable log-softmax of ``src`` ``(M,)`` within groups of ``index``."""
    seg_max = scatter(src.detach(), index, dim=0, dim_size=num_segments, reduce="max")
    shifted = src - seg_max[index]
    log_norm = scatter(shifted.exp(), index, dim=0, dim_size=num_segments, reduce="sum").log()
    return shifted - log_norm[index]


def structure_loss(
    teacher: GraphLike,
    student: GraphLike,
    tau: float = 1.0,
    eps: float = 1e-6,
) -> Tensor:
    """Relational KL: per node, ``KL(softmax(-d^T_i / tau) || softmax(-d^S_i / tau))``.

    The distribution of node ``i`` runs over its out-edges (``edge_index[0] == i``). Each model's
    distances ``edge_dist`` are first divided by their own per-graph median (Mahalanobis
    distances in 256 dims are ~20 and would make the softmax one-hot), which also makes the loss
    invariant to a uniform scaling of either model's distances. Averaged over the nodes with
    neighbours in each graph, then over graphs.

    Args:
        teacher: teacher graph(s) (used detached).
        student: student graph(s), identical ``edge_index``.
        tau: softmax temperature (> 0).
        eps: lower bound on the median (all-equal features give a zero median).

    Returns:
        Scalar loss; a zero connected to the student when there are no edges.
    """
    if tau <= 0:
        raise ValueError(f"structure loss tau must be > 0, got {tau}")
    check_same_graphs(teacher, student, need_edges=True)
    zero = connected_zero(student.x, student.edge_dist)
    n_edges = teacher.edge_index.shape[1]
    if n_edges == 0:
        return zero
    n = int(teacher.num_nodes)
    b = num_graphs(teacher)
    batch = graph_index(teacher)
    src = teacher.edge_index[0]
    g = batch[src]
    d_t = teacher.edge_dist.detach()
    d_s = student.edge_dist
    d_t = d_t / per_graph_median(d_t, g, b).clamp(min=eps)[g]
    d_s = d_s / per_graph_median(d_s, g, b).clamp(min=eps)[g]
    a_t, a_s = -d_t / tau, -d_s / tau
    p_t = softmax(a_t, src, num_nodes=n)
    kl_edge = p_t * (segment_log_softmax(a_t, src, n) - segment_log_softmax(a_s, src, n))
    kl_node = scatter(kl_edge, src, dim=0, dim_size=n, reduce="sum")  # (n,)
    has_nbrs = (torch.bincount(src, minlength=n)[:n] > 0).to(kl_node.dtype)
    sums = per_graph_sum(kl_node * has_nbrs, batch, b)
    counts = per_graph_sum(has_nbrs, batch, b)
    return mean_over_graphs(sums, counts, zero)
