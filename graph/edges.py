"""Edges of instance graphs: batched complete graphs, self loops on merged text nodes, edge types,
and the bounded similarity of edge distances.

Every function works on a whole batch of graphs at once (a Python loop over graphs at most, never
over nodes or edges). Edge indices are *within* each graph; ``edge_batch`` says which graph.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from .types import NodeType, edge_types

__all__ = [
    "complete_edge_index",
    "complete_edges",
    "dense_cosine",
    "plan_edges",
    "similarity_from_distance",
]


def complete_edges(counts: Tensor) -> tuple[Tensor, Tensor]:
    """Complete directed graphs without self loops of a batch, without a dense (n, n) mask.

    Args:
        counts: (B,) long number of nodes of each graph.

    Returns:
        edge_index: (2, E) long node indices *within* each graph, graph by graph, row-major
            (i, j), i != j (the order of ``(~eye(n)).nonzero()``), E = sum n_b (n_b - 1).
        edge_batch: (E,) long graph of each edge.
    """
    device = counts.device
    counts = counts.long()
    n = int(counts.sum())
    node_batch = torch.repeat_interleave(torch.arange(counts.numel(), device=device), counts)
    local = torch.arange(n, device=device) - (torch.cumsum(counts, 0) - counts)[node_batch]
    out_deg = (counts - 1).clamp_min(0)[node_batch]
    src = torch.repeat_interleave(torch.arange(n, device=device), out_deg)
    first = torch.cumsum(out_deg, 0) - out_deg
    pos = torch.arange(src.numel(), device=device) - first[src]  # j-th neighbour of src
    src_local = local[src]
    dst_local = pos + (pos >= src_local).long()  # skip the diagonal
    return torch.stack([src_local, dst_local]), node_batch[src]


def complete_edge_index(num_nodes: int, device: torch.device | str | None = None) -> Tensor:
    """(2, n(n-1)) long edge_index of the complete directed graph, row-major (i, j), i != j."""
    return complete_edges(torch.tensor([num_nodes], device=device))[0]


def _add_merged_self_loops(
    edge_index: Tensor,
    edge_batch: Tensor,
    num_nodes: Tensor,
    node_type: Tensor,
    cluster_size: Tensor,
    batch: Tensor,
) -> tuple[Tensor, Tensor, Tensor]:
    """Append a self loop on every merged text node, after the other edges of its graph.

    Args:
        edge_index: (2, E) long within-graph indices; edge_batch: (E,) long, sorted.
        num_nodes: (B,) long; node_type, cluster_size, batch: (n,) per node of the batch.

    Returns:
        (2, E') edge_index, (E',) edge_batch and (E',) bool self-loop mask, E' = E + loops.
    """
    loop = torch.zeros(edge_index.shape[1], dtype=torch.bool, device=edge_index.device)
    on = ((cluster_size > 1) & (node_type == NodeType.TEXT)).nonzero().flatten()
    local = on - (torch.cumsum(num_nodes, 0) - num_nodes)[batch[on]]
    edge_index = torch.cat([edge_index, torch.stack([local, local])], dim=1)
    edge_batch = torch.cat([edge_batch, batch[on]])
    loop = torch.cat([loop, torch.ones_like(on, dtype=torch.bool)])
    edge_batch, order = torch.sort(edge_batch, stable=True)
    return edge_index[:, order], edge_batch, loop[order]


def plan_edges(
    num_nodes: Tensor,
    node_type: Tensor,
    cluster_size: Tensor,
    batch: Tensor,
    self_loops_on_merged: bool = False,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """The edges of a batch of graphs: complete graphs, optional self loops on merged text nodes
    (after each graph's other edges), and the type of every edge.

    Args:
        num_nodes: (B,) long nodes per graph.
        node_type: (n,) long :class:`NodeType`; cluster_size: (n,) long RoIs per node;
            batch: (n,) long graph of each node (n = sum num_nodes).
        self_loops_on_merged: add (i, i) on text nodes that pool more than one RoI.

    Returns:
        edge_index (2, E) long within-graph indices, edge_batch (E,) long, edge_type (E,) long
        :class:`~graph.types.EdgeType`, self_loop (E,) bool.
    """
    edge_index, edge_batch = complete_edges(num_nodes)
    if self_loops_on_merged:
        edge_index, edge_batch, loop = _add_merged_self_loops(
            edge_index, edge_batch, num_nodes, node_type, cluster_size, batch
        )
    else:
        loop = torch.zeros(edge_index.shape[1], dtype=torch.bool, device=edge_index.device)
    node_ptr = torch.cumsum(num_nodes, 0) - num_nodes
    edge_type = edge_types(node_type, edge_index + node_ptr[edge_batch])
    return edge_index, edge_batch, edge_type, loop


def dense_cosine(x: Tensor, num_nodes: Sequence[int]) -> Tensor:
    """Cosine similarity of every node pair of each graph (DSIG's edges).

    Args:
        x: (n, F) node features of all graphs, graph by graph.
        num_nodes: n_b per graph (sum = n).

    Returns:
        (B, n_max, n_max), zero outside each graph's (n_b, n_b) block.
    """
    nmax = max(num_nodes)
    dense = x.new_zeros(len(num_nodes), nmax, nmax)
    # One (n_b, n_b) product per graph: a loop over graphs, not nodes.
    for b, xn in enumerate(F.normalize(x, dim=1, eps=1e-12).split(list(num_nodes))):
        dense[b, : xn.shape[0], : xn.shape[0]] = xn @ xn.T
    return dense


def similarity_from_distance(
    dist: Tensor,
    self_loop: Tensor | None = None,
    batch: Tensor | None = None,
    num_graphs: int | None = None,
) -> Tensor:
    """Bounded similarity s = exp(-d^2 / (2 median(d^2))) per graph, from edge distances.

    The bandwidth median(d^2) (lower median, as ``torch.median``) is taken per graph over its
    non-self-loop edges and detached (it is a scale, not a signal); where it is 0 (all
    descriptors identical) or a graph has no such edge, every similarity is 1.

    Args:
        dist: (E,) edge distances.
        self_loop: optional (E,) bool, self-loop edges excluded from the median.
        batch: optional (E,) long graph of each edge (default: one graph).
        num_graphs: number of graphs B (default: ``batch.max() + 1``).

    Returns:
        (E,) in (0, 1].
    """
    sq = dist * dist
    if batch is None:
        batch = torch.zeros_like(dist, dtype=torch.long)
    B = (
        int(num_graphs)
        if num_graphs is not None
        else (int(batch.max()) + 1 if batch.numel() else 0)
    )
    valid = torch.ones_like(batch, dtype=torch.bool) if self_loop is None else ~self_loop
    ref, g = sq.detach()[valid], batch[valid]
    if g.numel() > 1 and not bool((g[1:] >= g[:-1]).all()):
        g, order = torch.sort(g, stable=True)
        ref = ref[order]
    # One torch.median (quickselect) per graph on its contiguous slice: a loop over graphs, not
    # edges, and faster than a padded (B, max E) nanmedian or a segment sort.
    counts = torch.bincount(g, minlength=B)[:B].tolist()
    med = [r.median() if r.numel() else r.new_zeros(()) for r in ref.split(counts)]
    bw = (2 * torch.stack(med))[batch] if med else sq.new_zeros(sq.shape)
    tiny = torch.finfo(dist.dtype).tiny
    return torch.where(bw > tiny, torch.exp(-sq / bw.clamp_min(tiny)), torch.ones_like(sq))
