"""Text-node merging (steps A and B), pooling helpers and hard-background mining."""

from __future__ import annotations

import pytest
import torch

from graph import (
    GaussianStats,
    NodeType,
    agglomerate,
    merge_text_nodes,
    mine_hard_background,
    pool_by_cluster,
    union_boxes,
)

T, NT, BG = int(NodeType.TEXT), int(NodeType.NONTEXT), int(NodeType.BG)


def _roles(seed=0, n=60, n_inst=12, text_frac=0.7):
    g = torch.Generator().manual_seed(seed)
    inst_text = torch.rand(n_inst, generator=g) < text_frac
    inst = torch.randint(-1, n_inst, (n,), generator=g)
    node_type = torch.where(inst < 0, BG, torch.where(inst_text[inst.clamp_min(0)], T, NT)).long()
    z = torch.randn(n, 8, generator=g, dtype=torch.float64)
    return z, node_type, inst


def _check_partition(res, keep):
    c = res.cluster
    assert (c[~keep] == -1).all()
    assert (c[keep] >= 0).all() and (c[keep] < res.num_nodes).all()
    # Every node is non-empty and sizes add up: every kept RoI is in exactly one node.
    sizes = torch.bincount(c[keep], minlength=res.num_nodes)
    assert (sizes > 0).all() and torch.equal(sizes, res.cluster_size)
    assert int(res.cluster_size.sum()) == int(keep.sum())


def _naive_greedy(w, size, merges):
    """Reference: per-pair Python loops over clusters, merging the closest pair each step."""
    clusters = {i: ([i], w[i].clone(), float(size[i])) for i in range(w.shape[0])}
    for _ in range(merges):
        best = None
        keys = sorted(clusters)
        for a in keys:
            for b in keys:
                if a < b:
                    d = float((clusters[a][1] - clusters[b][1]).norm())
                    if best is None or d < best[0]:
                        best = (d, a, b)
        _, a, b = best
        ma, ca, na = clusters[a]
        mb, cb, nb = clusters.pop(b)
        clusters[a] = (ma + mb, (na * ca + nb * cb) / (na + nb), na + nb)
    return sorted(sorted(m) for m, _, _ in clusters.values())


def test_step_a_same_instance_one_node_nontext_untouched():
    z, nt, inst = _roles()
    keep = nt != BG
    res = merge_text_nodes(z, nt, inst, keep=keep, ratio=None)
    _check_partition(res, keep)
    for g in inst[nt == T].unique().tolist():
        assert res.cluster[(inst == g) & (nt == T)].unique().numel() == 1
    # Different text instances stay apart (step B is off) and non-text RoIs are singletons.
    text_nodes = res.cluster[nt == T].unique().numel()
    assert text_nodes == inst[nt == T].unique().numel()
    nontext = res.cluster[nt == NT]
    assert nontext.unique().numel() == nontext.numel()
    assert (res.cluster_size[res.node_type == NT] == 1).all()
    assert res.merges_step_a == int((nt == T).sum()) - text_nodes
    assert res.merges_step_b == 0
    # Pooled descriptors are the cluster means; node types are the members' types.
    for node in range(res.num_nodes):
        members = res.cluster == node
        torch.testing.assert_close(res.z[node], z[members].mean(0))
        assert (nt[members] == res.node_type[node]).all()


@pytest.mark.parametrize("ratio", [0.0, 0.5, 1.0, 2.0])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_step_b_respects_ratio(ratio, seed):
    z, nt, inst = _roles(seed=seed, n=80, n_inst=20, text_frac=0.8)
    keep = torch.ones_like(nt, dtype=torch.bool)
    before = merge_text_nodes(z, nt, inst, keep=keep, ratio=None)
    res = merge_text_nodes(z, nt, inst, keep=keep, ratio=ratio)
    _check_partition(res, keep)
    n_text = int((res.node_type == T).sum())
    n_nontext = int((res.node_type == NT).sum())
    target = max(1, int(ratio * n_nontext))
    text_before = int((before.node_type == T).sum())
    assert n_text == min(text_before, target)
    assert n_nontext == int((nt == NT).sum())  # non-text never merged
    assert int((res.node_type == BG).sum()) == int((nt == BG).sum())  # bg never merged
    # Step B only merges whole step-A clusters: RoIs together before stay together.
    same_before = before.cluster[:, None] == before.cluster[None, :]
    same_after = res.cluster[:, None] == res.cluster[None, :]
    assert (same_after | ~same_before).all()
    # Node order: by smallest RoI index.
    first = torch.stack([(res.cluster == k).nonzero()[0, 0] for k in range(res.num_nodes)])
    assert (first.diff() > 0).all()


def test_min_text_nodes_and_all_text():
    z, _, inst = _roles(n=30)
    nt = torch.full((30,), T)
    inst = torch.arange(30)  # 30 different instances, no non-text at all
    res = merge_text_nodes(z, nt, inst, ratio=1.0, min_text_nodes=3)
    assert res.num_nodes == 3
    res = merge_text_nodes(z, nt, inst, ratio=1.0)
    assert res.num_nodes == 1 and res.cluster.unique().tolist() == [0]


def test_all_nontext_and_empty():
    z, _, inst = _roles(n=20)
    nt = torch.full((20,), NT)
    res = merge_text_nodes(z, nt, inst, ratio=1.0)
    assert torch.equal(res.cluster, torch.arange(20)) and res.merges_step_b == 0
    empty = merge_text_nodes(torch.zeros(0, 8), nt[:0], inst[:0])
    assert empty.num_nodes == 0 and empty.cluster.shape == (0,) and empty.z.shape == (0, 8)
    none_kept = merge_text_nodes(z, nt, inst, keep=torch.zeros(20, dtype=torch.bool))
    assert none_kept.num_nodes == 0 and (none_kept.cluster == -1).all()


@pytest.mark.parametrize("seed", range(5))
def test_agglomerate_matches_naive_greedy(seed):
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(14, 5, generator=g, dtype=torch.float64)
    size = torch.randint(1, 4, (14,), generator=g)
    for merges in (0, 1, 6, 13):
        root = agglomerate(w, size, merges)
        groups = sorted(sorted((root == r).nonzero().flatten().tolist()) for r in root.unique())
        assert groups == _naive_greedy(w, size, merges)
        assert (root[root] == root).all() and (root <= torch.arange(14)).all()


def test_merging_uses_mahalanobis_not_euclidean():
    # Two text clusters far apart along a high-variance axis and close along a low-variance
    # axis, versus the opposite: Mahalanobis must merge the pair separated along high variance.
    s = GaussianStats(2, shrinkage=0.0)
    s.update(
        torch.randn(4000, 2, dtype=torch.float64) * torch.tensor([10.0, 0.1]).double(),
        torch.arange(4000) % 2 == 0,
    )
    z = torch.tensor([[0.0, 0.0], [5.0, 0.0], [0.0, 0.5], [20.0, 20.0]], dtype=torch.float64)
    nt = torch.tensor([T, T, T, NT])
    inst = torch.arange(4)
    res = merge_text_nodes(z, nt, inst, stats=s, ratio=2.0)  # 3 text -> 2 text nodes
    assert res.cluster[0] == res.cluster[1] != res.cluster[2]
    eu = merge_text_nodes(z, nt, inst, stats=None, ratio=2.0)
    assert eu.cluster[0] == eu.cluster[2] != eu.cluster[1]


def test_pool_helpers():
    cluster = torch.tensor([1, 0, -1, 1])
    src = torch.tensor([[1.0], [2.0], [100.0], [3.0]], requires_grad=True)
    out = pool_by_cluster(src, cluster, 2)
    assert out.squeeze(1).tolist() == [2.0, 2.0]
    out.sum().backward()
    assert src.grad.squeeze(1).tolist() == [0.5, 1.0, 0.0, 0.5]
    boxes = torch.tensor([[0.0, 0, 2, 2], [5, 5, 6, 6], [0, 0, 99, 99], [1, -1, 3, 1]])
    assert union_boxes(boxes, cluster, 2).tolist() == [[5, 5, 6, 6], [0, -1, 3, 2]]


def test_mine_hard_background():
    p = torch.tensor([0.9, 0.2, 0.5, 0.01, 0.3, 0.99])
    is_bg = torch.tensor([True, True, True, True, False, False])
    # CE = -log p: 0.105, 1.61, 0.69, 4.6 -> >= 0.6 keeps bg 1, 2, 3; fg always kept.
    assert mine_hard_background(p, is_bg).tolist() == [False, True, True, True, True, True]
    assert mine_hard_background(p, is_bg, topk=1).tolist() == [
        False,
        False,
        False,
        True,
        True,
        True,
    ]
    assert mine_hard_background(p, is_bg, threshold=2.0).tolist() == [
        False,
        False,
        False,
        True,
        True,
        True,
    ]
    assert mine_hard_background(p, is_bg, topk=0).tolist() == [False] * 4 + [True, True]
    with pytest.raises(ValueError, match="non-finite"):
        mine_hard_background(torch.tensor([float("nan")]), torch.tensor([True]))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        mine_hard_background(torch.tensor([1.5]), torch.tensor([True]))
