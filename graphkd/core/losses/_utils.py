"""Small helpers shared by the graph losses: batch vectors, per-graph means, connected zeros."""

from __future__ import annotations

import torch
from torch import Tensor
from torch_geometric.data import Batch, Data
from torch_geometric.utils import scatter

GraphLike = Data | Batch


def graph_index(data: GraphLike) -> Tensor:
    """The ``(n,)`` long graph id of every node (``data.batch``; zeros for a single ``Data``)."""
    batch = getattr(data, "batch", None)
    if batch is not None:
        return batch
    return torch.zeros(data.num_nodes or 0, dtype=torch.long, device=_device(data))


def num_graphs(data: GraphLike) -> int:
    """Number of graphs (images) in ``data``; 1 for a single ``Data``."""
    return int(data.num_graphs) if isinstance(data, Batch) else 1


def _device(data: GraphLike) -> torch.device:
    for key in ("x", "edge_index", "node_type"):
        value = getattr(data, key, None)
        if isinstance(value, Tensor):
            return value.device
    return torch.device("cpu")


def connected_zero(*tensors: Tensor | None) -> Tensor:
    """A scalar zero that is part of the autograd graph of every given tensor requiring grad.

    Used for empty inputs so that the loss still has a ``grad_fn`` reaching the student (DDP
    needs every parameter to receive a gradient, even a zero one).
    """
    zero: Tensor | None = None
    for t in tensors:
        if t is None:
            continue
        term = t.sum() * 0.0
        zero = term if zero is None else zero + term
    if zero is None:
        raise ValueError("connected_zero needs at least one tensor")
    return zero


def mean_over_graphs(per_graph_sum: Tensor, per_graph_count: Tensor, zero: Tensor) -> Tensor:
    """Average ``sum / count`` over the graphs with ``count > 0`` (no host sync, no NaN).

    Args:
        per_graph_sum: ``(B,)`` summed loss per graph.
        per_graph_count: ``(B,)`` number of elements (nodes / edges) per graph.
        zero: a connected zero (see :func:`connected_zero`) added so the result always has a
            ``grad_fn`` to the student, and is exactly 0 when no graph has elements.
    """
    count = per_graph_count.to(per_graph_sum.dtype)
    valid = (count > 0).to(per_graph_sum.dtype)
    per_graph = per_graph_sum / count.clamp(min=1.0)
    return (per_graph * valid).sum() / valid.sum().clamp(min=1.0) + zero


def per_graph_sum(values: Tensor, index: Tensor, size: int) -> Tensor:
    """``(B,)`` sums of ``values`` (shape ``(M,)``) grouped by ``index`` (shape ``(M,)``)."""
    return scatter(values, index, dim=0, dim_size=size, reduce="sum")


def per_graph_count(index: Tensor, size: int) -> Tensor:
    """``(B,)`` number of entries of ``index`` equal to each graph id."""
    return torch.bincount(index, minlength=size)[:size]


def check_same_graphs(teacher: GraphLike, student: GraphLike, need_edges: bool) -> None:
    """Raise ``ValueError`` unless teacher and student share nodes (and edges when needed)."""
    if teacher.num_nodes != student.num_nodes:
        raise ValueError(
            f"teacher and student graphs must have the same nodes, got {teacher.num_nodes} "
            f"teacher vs {student.num_nodes} student nodes (build them with "
            "GraphBuilder.build_pair)"
        )
    if num_graphs(teacher) != num_graphs(student):
        raise ValueError(
            f"teacher and student batches hold {num_graphs(teacher)} vs {num_graphs(student)} graphs"
        )
    if not need_edges:
        return
    for name, g in (("teacher", teacher), ("student", student)):
        missing = [k for k in ("edge_index", "edge_dist", "edge_sim", "edge_type") if k not in g]
        if missing:
            raise ValueError(
                f"{name} graph has no {', '.join(missing)} (graphs from GraphBuilder carry "
                "edge_dist, edge_sim and edge_type, each (E,))"
            )
        num_edges = g.edge_index.shape[1]
        for key in ("edge_dist", "edge_sim", "edge_type"):
            if tuple(g[key].shape) != (num_edges,):
                raise ValueError(
                    f"{name} {key} must be ({num_edges},) like edge_index's edges, got "
                    f"{tuple(g[key].shape)}"
                )
    if teacher.edge_index.shape != student.edge_index.shape or not torch.equal(
        teacher.edge_index, student.edge_index
    ):
        raise ValueError(
            "teacher and student graphs must have identical edge_index (same edges, same order)"
        )
