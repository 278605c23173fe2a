"""Property tests (hypothesis): GaussianStats does not depend on how the data is chunked; text
merging returns a partition of the kept RoIs with the node counts step B promises."""

from __future__ import annotations

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from graph import GaussianStats, NodeType, merge_text_nodes

T, NT, BG = int(NodeType.TEXT), int(NodeType.NONTEXT), int(NodeType.BG)


@settings(max_examples=30, deadline=None, derandomize=True)
@given(
    n=st.integers(min_value=0, max_value=60),
    d=st.integers(min_value=1, max_value=6),
    cuts=st.lists(st.integers(min_value=0, max_value=60), max_size=6),
    seed=st.integers(min_value=0, max_value=10_000),
    shrinkage=st.sampled_from(["ledoit_wolf", "oas", 0.3]),
)
def test_gaussian_stats_equal_under_any_chunking(n, d, cuts, seed, shrinkage):
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, d, generator=g, dtype=torch.float64) * 3 + 1
    is_text = torch.rand(n, generator=g) < 0.6
    whole = GaussianStats(d, shrinkage=shrinkage, min_samples=1)
    whole.update(z, is_text)
    chunked = GaussianStats(d, shrinkage=shrinkage, min_samples=1)
    for part in torch.tensor_split(torch.arange(n), sorted(c for c in cuts if c <= n)):
        chunked.update(z[part], is_text[part])  # empty and one-row chunks included
    for name in ("count", "mean", "m2", "m3", "m4"):
        a, b = getattr(whole, name), getattr(chunked, name)
        torch.testing.assert_close(b, a, rtol=1e-9, atol=1e-9, msg=name)
    torch.testing.assert_close(chunked.covariance(), whole.covariance(), rtol=1e-9, atol=1e-9)


def _roles(n: int, n_inst: int, text_frac: float, seed: int):
    g = torch.Generator().manual_seed(seed)
    inst_text = torch.rand(max(n_inst, 1), generator=g) < text_frac
    inst = torch.randint(-1, max(n_inst, 1), (n,), generator=g)
    node_type = torch.where(inst < 0, BG, torch.where(inst_text[inst.clamp_min(0)], T, NT))
    z = torch.randn(n, 4, generator=g, dtype=torch.float64)
    keep = torch.rand(n, generator=g) < 0.85
    return z, node_type.long(), inst, keep


@settings(max_examples=40, deadline=None, derandomize=True)
@given(
    n=st.integers(min_value=0, max_value=40),
    n_inst=st.integers(min_value=0, max_value=12),
    text_frac=st.floats(min_value=0.0, max_value=1.0),
    ratio=st.one_of(st.none(), st.sampled_from([0.0, 0.5, 1.0, 2.5])),
    # >= 1 as GraphBuilder passes it: with 0, a target of 0 text nodes cannot be reached
    # (agglomeration stops at one cluster) and merges_step_b over-counts by one.
    min_text_nodes=st.integers(min_value=1, max_value=3),
    merge_instances=st.booleans(),
    seed=st.integers(min_value=0, max_value=10_000),
)
def test_merging_partitions_kept_rois_and_step_b_hits_its_target(
    n, n_inst, text_frac, ratio, min_text_nodes, merge_instances, seed
):
    z, node_type, inst, keep = _roles(n, n_inst, text_frac, seed)
    res = merge_text_nodes(
        z, node_type, inst, None, keep, ratio, merge_instances, min_text_nodes=min_text_nodes
    )
    c = res.cluster
    # A partition: dropped RoIs in no node, every kept RoI in exactly one, no empty node.
    assert bool((c[~keep] == -1).all()) and bool((c[keep] >= 0).all())
    sizes = torch.bincount(c[keep], minlength=res.num_nodes)
    assert bool((sizes > 0).all()) and torch.equal(sizes, res.cluster_size)
    assert int(sizes.sum()) == int(keep.sum()) and sizes.numel() == res.num_nodes
    # Each node holds one type; only text nodes pool several RoIs.
    assert torch.equal(res.node_type[c[keep]], node_type[keep])
    assert bool((res.cluster_size[res.node_type != T] == 1).all())
    # Node order: by the smallest RoI index they hold.
    first = torch.full((res.num_nodes,), n, dtype=torch.long)
    first.scatter_reduce_(0, c[keep], torch.arange(n)[keep], reduce="amin")
    assert bool((first[1:] > first[:-1]).all())
    # Step A: text nodes = distinct (instance or single RoI) groups of kept text RoIs.
    text = keep & (node_type == T)
    if merge_instances:
        groups = {(int(i) if i >= 0 else -1 - k) for k, i in enumerate(inst.tolist()) if text[k]}
    else:
        groups = set(torch.arange(n)[text].tolist())
    n_text_a, n_nontext = len(groups), int((res.node_type == NT).sum())
    assert res.merges_step_a == int(keep.sum()) - (n_text_a + int((keep & (node_type != T)).sum()))
    # Step B: merge down to max(min_text_nodes, floor(ratio * non-text nodes)), never below.
    n_text = int((res.node_type == T).sum())
    if ratio is None:
        assert n_text == n_text_a and res.merges_step_b == 0
    else:
        target = max(min_text_nodes, int(ratio * n_nontext + 1e-9))
        assert n_text == min(n_text_a, target)
        assert res.merges_step_b == n_text_a - n_text
