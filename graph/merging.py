"""Text-node merging (pooling): same-GT-instance pooling, then adaptive agglomerative merging.

Text RoIs dominate document pages. Step A pools text RoIs matched to the same GT instance into one
node; step B merges the closest pair of text clusters (centroid linkage in the teacher's whitened
descriptor space, i.e. by Mahalanobis distance) while text nodes outnumber ``ratio`` x non-text
nodes. Non-text and background nodes are never merged. The result is a cluster vector (RoI ->
node) that is applied to both the teacher and the student graph.

Node order convention: nodes are sorted by the smallest RoI index they contain, so with merging
off node i is the i-th kept RoI, and the order is equivariant to permutations of the RoIs.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor
from torch_geometric.nn.pool.consecutive import consecutive_cluster
from torch_geometric.utils import scatter

from .gaussian_stats import GaussianStats
from .mahalanobis import whiten
from .types import NodeType, check_tensor_finite

__all__ = ["MergeResult", "merge_text_nodes", "agglomerate", "pool_by_cluster", "union_boxes"]


class MergeResult(NamedTuple):
    """Output of :func:`merge_text_nodes` (n = number of nodes, N = number of RoIs)."""

    cluster: Tensor  #: (N,) long, RoI -> node in [0, n), -1 for dropped RoIs
    num_nodes: int  #: n
    node_type: Tensor  #: (n,) long NodeType of each node
    cluster_size: Tensor  #: (n,) long number of RoIs pooled into each node
    z: Tensor  #: (n, D) scatter mean of the RoI descriptors of each node
    merges_step_a: int  #: RoIs absorbed by same-instance pooling (kept RoIs - step-A nodes)
    merges_step_b: int  #: agglomerative merges performed


def pool_by_cluster(src: Tensor, cluster: Tensor, num_nodes: int, reduce: str = "mean") -> Tensor:
    """Scatter-reduce RoI rows into node rows, ignoring dropped RoIs (cluster == -1).

    Args:
        src: (N, ...) per-RoI tensor.
        cluster: (N,) long RoI -> node or -1.
        num_nodes: n.
        reduce: "mean", "sum", "min" or "max".

    Returns:
        (n, ...) differentiable w.r.t. ``src``.
    """
    if reduce in ("mean", "sum"):
        # Dropped RoIs go to a spare row n that is sliced off: one index_add_, no gather copy.
        idx = torch.where(cluster >= 0, cluster, num_nodes)
        out = src.new_zeros((num_nodes + 1, *src.shape[1:])).index_add_(0, idx, src)[:num_nodes]
        if reduce == "sum":
            return out
        count = torch.bincount(idx, minlength=num_nodes + 1)[:num_nodes].clamp_min(1)
        return out / count.to(out.dtype).view(-1, *([1] * (src.dim() - 1)))
    kept = cluster >= 0
    return scatter(src[kept], cluster[kept], dim=0, dim_size=num_nodes, reduce=reduce)


def union_boxes(boxes: Tensor, cluster: Tensor, num_nodes: int) -> Tensor:
    """(n, 4) union (x1, y1, x2, y2) box of the RoIs of each node."""
    lo = pool_by_cluster(boxes[:, :2], cluster, num_nodes, reduce="min")
    hi = pool_by_cluster(boxes[:, 2:], cluster, num_nodes, reduce="max")
    return torch.cat([lo, hi], dim=1)


@torch.no_grad()
def agglomerate(w: Tensor, size: Tensor, num_merges: int) -> Tensor:
    """Greedy centroid-linkage agglomeration: merge the closest pair of clusters num_merges times.

    Loops over merge steps only; each step is an argmin over the (K, K) distance matrix and an
    O(K D) update of one row/column (the merged centroid is the size-weighted mean, which equals
    the descriptor mean of all pooled RoIs). Ties go to the lowest flat index; the merged cluster
    keeps the lower index.

    Args:
        w: (K, D) cluster centroids in whitened space (Euclidean = Mahalanobis).
        size: (K,) number of RoIs behind each centroid (weights).
        num_merges: number of merges, 0 <= num_merges < K.

    Returns:
        (K,) long root cluster of each input cluster (a cluster index in [0, K)).
    """
    K = w.shape[0]
    parent = torch.arange(K, device=w.device)
    if num_merges <= 0 or K < 2:
        return parent
    w = w.to(torch.float64).clone()
    size = size.to(torch.float64).clone()
    inf = torch.tensor(float("inf"), dtype=torch.float64, device=w.device)
    dist = torch.cdist(w, w, compute_mode="donot_use_mm_for_euclid_dist")
    dist.fill_diagonal_(float("inf"))
    dead = torch.zeros(K, dtype=torch.bool, device=w.device)
    for _ in range(min(num_merges, K - 1)):
        flat = int(torch.argmin(dist))
        i, j = divmod(flat, K)
        a, b = min(i, j), max(i, j)
        parent[b] = a
        w[a] = (size[a] * w[a] + size[b] * w[b]) / (size[a] + size[b])
        size[a] += size[b]
        dead[b] = True
        row = torch.linalg.vector_norm(w - w[a], dim=1)
        row = torch.where(dead, inf, row)
        row[a] = inf
        dist[a] = row
        dist[:, a] = row
        dist[b] = inf
        dist[:, b] = inf
    # Pointer jumping resolves chains (b -> a -> ...) in O(log K) vectorised passes.
    while True:
        nxt = parent[parent]
        if bool((nxt == parent).all()):
            return parent
        parent = nxt


def merge_text_nodes(
    z: Tensor,
    node_type: Tensor,
    gt_instance: Tensor,
    stats: GaussianStats | Tensor | None = None,
    keep: Tensor | None = None,
    ratio: float | None = 1.0,
    merge_instances: bool = True,
    min_text_nodes: int = 1,
    merge_text_only: bool = True,
) -> MergeResult:
    """Cluster the RoIs of one image into graph nodes (teacher side; apply the result to both).

    Step A (``merge_instances``): kept text RoIs with the same ``gt_instance >= 0`` become one node.
    Step B (``ratio`` not None): while #text nodes > max(min_text_nodes, floor(ratio * #non-text
    nodes)), merge the two closest text clusters by Mahalanobis distance between their centroids
    (under ``stats``). Non-text and BG nodes are never merged; BG nodes do not count as non-text.

    Args:
        z: (N, D) RoI descriptors (teacher's); only read, never differentiated.
        node_type: (N,) long NodeType per RoI.
        gt_instance: (N,) long matched GT instance per RoI, -1 for background.
        stats: running teacher :class:`GaussianStats`, a (D, D) covariance, or None (Euclidean).
        keep: (N,) bool RoIs that become nodes (default: all).
        ratio: target text / non-text ratio, or None to skip step B.
        merge_instances: run step A.
        min_text_nodes: step B never goes below this many text nodes (if there were that many).
        merge_text_only: run step B on a page without non-text nodes too. Its target is then
            ``min_text_nodes``, so all text of such a page collapses into one node; False keeps
            the step-A nodes of text-only pages (there is no non-text class to rebalance against).

    Returns:
        :class:`MergeResult` with the cluster vector and pooled node tensors.
    """
    _check_merge_inputs(z, node_type, gt_instance, keep, ratio)
    z = z.detach()
    keep = torch.ones_like(node_type, dtype=torch.bool) if keep is None else keep.bool()
    cluster = _instance_clusters(node_type, gt_instance, keep, merge_instances)
    kept = cluster >= 0
    num_kept = int(kept.sum())
    if num_kept == 0:
        return MergeResult(cluster, 0, node_type.new_zeros(0), cluster.new_zeros(0), z[:0], 0, 0)
    n_a = int(cluster.max()) + 1
    type_a = pool_by_cluster(node_type, cluster, n_a, reduce="min")  # members share one type
    size_a = pool_by_cluster(torch.ones_like(cluster), cluster, n_a, reduce="sum")
    text_nodes = (type_a == NodeType.TEXT).nonzero().flatten()
    merges_b = _num_step_b_merges(type_a, text_nodes, ratio, min_text_nodes, merge_text_only)
    if merges_b > 0:
        cluster[kept] = _agglomerate_text_nodes(z, stats, cluster, size_a, text_nodes, merges_b)
    n = int(cluster[kept].max()) + 1
    return MergeResult(
        cluster=cluster,
        num_nodes=n,
        node_type=pool_by_cluster(node_type, cluster, n, reduce="min"),
        cluster_size=pool_by_cluster(torch.ones_like(cluster), cluster, n, reduce="sum"),
        z=pool_by_cluster(z, cluster, n),
        merges_step_a=num_kept - n_a,
        merges_step_b=merges_b,
    )


def _check_merge_inputs(
    z: Tensor, node_type: Tensor, gt_instance: Tensor, keep: Tensor | None, ratio: float | None
) -> None:
    """ValueError unless z is (N, D), node_type / gt_instance / keep (N,), ratio >= 0 or None
    and z is finite."""
    N = node_type.shape[0]
    if (
        z.shape[:1] != (N,)
        or gt_instance.shape != (N,)
        or (keep is not None and keep.shape != (N,))
    ):
        raise ValueError(
            f"merge_text_nodes expects z (N, D), node_type/gt_instance/keep (N,); got "
            f"{tuple(z.shape)}, {tuple(node_type.shape)}, {tuple(gt_instance.shape)}, "
            f"{None if keep is None else tuple(keep.shape)}"
        )
    if ratio is not None and ratio < 0:
        raise ValueError(f"merge ratio must be >= 0 or None, got {ratio}")
    check_tensor_finite(z, "merge_text_nodes(z)")


def _instance_clusters(
    node_type: Tensor, gt_instance: Tensor, keep: Tensor, merge_instances: bool
) -> Tensor:
    """Step A: the node of every RoI when kept text RoIs of one GT instance are pooled.

    Args:
        node_type: (N,) long NodeType; gt_instance: (N,) long (-1 background); keep: (N,) bool.
        merge_instances: pool kept text RoIs of one GT instance (else one node per kept RoI).

    Returns:
        (N,) long node in [0, n_a), -1 for RoIs that are not kept; nodes are ordered by their
        smallest RoI index.
    """
    idx = torch.arange(node_type.shape[0], device=node_type.device)
    is_text = keep & (node_type == NodeType.TEXT)
    # Representative = smallest RoI index of the same GT instance among kept text RoIs.
    rep = torch.where(keep, idx, -1)
    in_inst = is_text & (gt_instance >= 0) if merge_instances else torch.zeros_like(is_text)
    if bool(in_inst.any()):
        inst = gt_instance[in_inst]
        first = scatter(idx[in_inst], inst, dim=0, dim_size=int(inst.max()) + 1, reduce="min")
        rep[in_inst] = first[inst]
    kept = rep >= 0
    cluster = torch.full_like(idx, -1)
    if bool(kept.any()):
        cluster[kept] = consecutive_cluster(rep[kept])[0]
    return cluster


def _num_step_b_merges(
    type_a: Tensor,
    text_nodes: Tensor,
    ratio: float | None,
    min_text_nodes: int,
    merge_text_only: bool,
) -> int:
    """Step B's number of merges: text nodes beyond max(min_text_nodes, floor(ratio * non-text)).

    Args:
        type_a: (n_a,) long NodeType of the step-A nodes; text_nodes: (T,) long its text nodes.
        ratio, min_text_nodes, merge_text_only: as in :func:`merge_text_nodes`.
    """
    n_nontext = int((type_a == NodeType.NONTEXT).sum())
    if ratio is None or not (merge_text_only or n_nontext > 0):
        return 0
    target = max(int(min_text_nodes), int(ratio * n_nontext + 1e-9))
    # At least one text node stays, whatever the target (0 would need one merge less).
    return max(0, min(text_nodes.numel() - 1, text_nodes.numel() - target))


def _agglomerate_text_nodes(
    z: Tensor,
    stats: GaussianStats | Tensor | None,
    cluster: Tensor,
    size_a: Tensor,
    text_nodes: Tensor,
    num_merges: int,
) -> Tensor:
    """Step B: agglomerate step-A text nodes in the teacher's whitened space.

    Args:
        z: (N, D) RoI descriptors; stats: as in :func:`merge_text_nodes`.
        cluster: (N,) long RoI -> step-A node or -1 (K RoIs kept).
        size_a: (n_a,) long RoIs per step-A node; text_nodes: (T,) long ascending text nodes.
        num_merges: merges to perform (< T).

    Returns:
        (K,) long final node of each kept RoI, nodes ordered by their smallest RoI.
    """
    n_a = size_a.shape[0]
    w_a = pool_by_cluster(whiten(z.to(torch.float64), stats), cluster, n_a)
    root = agglomerate(w_a[text_nodes], size_a[text_nodes], num_merges)
    label = torch.arange(n_a, device=cluster.device)
    label[text_nodes] = text_nodes[root]
    # text_nodes is ascending and roots keep the lower index -> order by smallest RoI kept.
    return consecutive_cluster(label[cluster[cluster >= 0]])[0]
