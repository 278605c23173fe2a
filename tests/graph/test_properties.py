"""Property tests (hypothesis): permutation equivariance of nodes, clusters and edges."""

from __future__ import annotations

import torch
from conftest import NUM_CLASSES, TEXT_CLASSES, synth_image
from hypothesis import given, settings
from hypothesis import strategies as st

from graph import GaussianStats, GraphBuilder, pairwise_mahalanobis

C = 8


def _dense(g, key):
    n = g.num_nodes
    out = torch.full((n, n), float("nan"), dtype=g.edge_dist.dtype)
    out[g.edge_index[0], g.edge_index[1]] = g[key].to(out.dtype)
    return out


def _node_members(cluster):
    """node -> frozenset of RoI indices (as a list ordered by node index)."""
    n = int(cluster.max()) + 1 if bool((cluster >= 0).any()) else 0
    return [frozenset((cluster == k).nonzero().flatten().tolist()) for k in range(n)]


_STATS = {}


def _warm_builder(merge: bool) -> GraphBuilder:
    gb = GraphBuilder(
        TEXT_CLASSES, NUM_CLASSES, teacher_channels=C, student_channels=C, merge=merge
    )
    for s in range(4):
        im = synth_image(60, channels=C, seed=500 + s)
        gb.build_pair(**{k: [v] for k, v in im.items()})
    return gb


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(min_value=0, max_value=24),
    seed=st.integers(min_value=0, max_value=10_000),
    merge=st.booleans(),
    perm_seed=st.integers(min_value=0, max_value=10_000),
)
def test_permuting_rois_permutes_nodes_and_edges(n, seed, merge, perm_seed):
    gb = _STATS.get(merge) or _STATS.setdefault(merge, _warm_builder(merge))
    im = synth_image(n, n_inst=5, channels=C, seed=seed)
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(perm_seed))
    pim = {k: v[perm] for k, v in im.items()}
    t, s = gb.build_pair(**{k: [v] for k, v in im.items()}, update_stats=False)
    pt, ps = gb.build_pair(**{k: [v] for k, v in pim.items()}, update_stats=False)
    assert t.num_nodes == pt.num_nodes
    # Node k of the permuted graph pools the RoIs perm[members]: find the node correspondence.
    members = _node_members(t.cluster)
    pmembers = [frozenset(perm[list(m)].tolist()) for m in _node_members(pt.cluster)]
    assert set(pmembers) == set(members)
    order = torch.tensor([members.index(m) for m in pmembers], dtype=torch.long)
    assert torch.equal(pt.node_type, t.node_type[order])
    for a, b in ((t, pt), (s, ps)):
        torch.testing.assert_close(b.x, a.x[order], rtol=1e-5, atol=1e-5)
        for key in ("edge_dist", "edge_sim", "edge_type"):
            dense, pdense = _dense(a, key), _dense(b, key)
            torch.testing.assert_close(
                pdense, dense[order][:, order], rtol=1e-4, atol=1e-4, equal_nan=True
            )


@settings(max_examples=30, deadline=None)
@given(
    n=st.integers(min_value=1, max_value=16),
    d=st.integers(min_value=1, max_value=6),
    seed=st.integers(min_value=0, max_value=10_000),
)
def test_pairwise_mahalanobis_is_a_permutation_equivariant_metric(n, d, seed):
    g = torch.Generator().manual_seed(seed)
    stats = GaussianStats(d, min_samples=1)
    stats.update(
        torch.randn(50, d, generator=g, dtype=torch.float64) * 2, torch.rand(50, generator=g) < 0.5
    )
    z = torch.randn(n, d, generator=g, dtype=torch.float64)
    perm = torch.randperm(n, generator=g)
    dist = pairwise_mahalanobis(z, stats)
    torch.testing.assert_close(pairwise_mahalanobis(z[perm], stats), dist[perm][:, perm])
    assert (dist.diagonal() == 0).all()
    torch.testing.assert_close(dist, dist.T)
    # Triangle inequality.
    assert (dist[:, None, :] <= dist[:, :, None] + dist[None, :, :] + 1e-9).all()
