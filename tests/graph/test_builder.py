"""GraphBuilder.build_pair / build: structure, teacher-student alignment, gradients, edge cases."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from conftest import NUM_CLASSES, PAPER_GRAPH, TEXT_CLASSES, synth_batch, synth_image

from graph import (
    EdgeType,
    GraphBuilder,
    NodeType,
    complete_edge_index,
    edge_types,
    pairwise_euclidean,
    pairwise_mahalanobis,
    similarity_from_distance,
)
from graph.edges import complete_edges

C = 16


def _builder(**kw):
    kw.setdefault("teacher_channels", C)
    kw.setdefault("student_channels", C)
    return GraphBuilder(TEXT_CLASSES, NUM_CLASSES, **kw)


def _warm(gb, n=6, **kw):
    for s in range(n):
        gb.build_pair(**synth_batch(sizes=(60, 60), seed=100 + s, channels=C, **kw))


def test_teacher_and_student_graphs_are_aligned():
    gb = _builder(student_channels=8, **PAPER_GRAPH)
    _warm(gb, student_channels=8)
    inp = synth_batch(sizes=(40, 30, 25), channels=C, student_channels=8)
    t, s = gb.build_pair(**inp)
    for key in ("node_type", "cluster", "cluster_size", "edge_index", "batch", "ptr"):
        assert torch.equal(t[key], s[key]), key
    assert torch.equal(t.edge_type, s.edge_type) and t.edge_type.dtype == torch.long
    assert t.x.shape[1] == C * 49 and s.x.shape[1] == 8 * 49
    assert t.z.shape[1] == C and s.z.shape[1] == 8
    # Complete directed graphs without self loops.
    sizes = t.ptr.diff()
    assert t.edge_index.shape[1] == int((sizes * (sizes - 1)).sum())
    assert (t.edge_index[0] != t.edge_index[1]).all()
    assert (t.batch[t.edge_index[0]] == t.batch[t.edge_index[1]]).all()
    # Edge types follow node types, BG counted as non-text.
    assert torch.equal(t.edge_type, edge_types(t.node_type, t.edge_index))
    both_text = (t.node_type[t.edge_index] == NodeType.TEXT).all(0)
    assert (t.edge_type[both_text] == EdgeType.TEXT_TEXT).all()
    # Similarities are bounded, distances symmetric.
    for g in (t, s):
        assert (g.edge_sim > 0).all() and (g.edge_sim <= 1).all()
        assert (g.edge_dist >= 0).all()
    dense = torch.zeros(t.num_nodes, t.num_nodes)
    dense[t.edge_index[0], t.edge_index[1]] = t.edge_dist
    torch.testing.assert_close(dense, dense.T)
    # Each image's cluster maps its RoIs onto its own nodes; boxes are unions of member boxes.
    assert t.num_rois.tolist() == [40, 30, 25]
    for i, (cl, box) in enumerate(zip(t.cluster.split(t.num_rois.tolist()), inp["boxes"])):
        nodes = int(sizes[i])
        assert int(cl.max()) == nodes - 1
        kept = cl >= 0
        assert torch.equal(
            torch.bincount(cl[kept], minlength=nodes), t.cluster_size[t.ptr[i] : t.ptr[i + 1]]
        )
        node_box = t.box[t.ptr[i] : t.ptr[i + 1]]
        assert torch.allclose(
            node_box[cl[kept], :2], torch.minimum(node_box[cl[kept], :2], box[kept, :2])
        )
    # Text nodes do not outnumber non-text ones (merge_ratio 1.0).
    for i in range(3):
        nt = t.node_type[t.batch == i]
        assert int((nt == NodeType.TEXT).sum()) <= max(1, int((nt == NodeType.NONTEXT).sum()))


def test_same_instance_text_rois_share_a_node_and_nontext_do_not_merge():
    gb = _builder(merge_ratio=None)
    inp = synth_batch(sizes=(50,), channels=C)
    t, _ = gb.build_pair(**inp)
    inst, cls = inp["gt_instance"][0], inp["gt_classes"][0]
    is_text = torch.isin(cls, torch.tensor(TEXT_CLASSES))
    for g in inst[is_text].unique().tolist():
        assert t.cluster[(inst == g) & is_text].unique().numel() == 1
    nontext = t.cluster[(inst >= 0) & ~is_text]
    assert nontext.unique().numel() == nontext.numel()


def test_gradients_flow_to_student_only():
    gb = _builder()
    _warm(gb)
    inp = synth_batch(sizes=(30, 20), channels=C)
    inp["teacher_features"] = [f.requires_grad_(True) for f in inp["teacher_features"]]
    inp["student_features"] = [f.requires_grad_(True) for f in inp["student_features"]]
    t, s = gb.build_pair(**inp)
    for key in ("x", "z", "edge_dist", "edge_sim"):
        assert t[key].grad_fn is None and not t[key].requires_grad
        assert s[key].requires_grad
    loss = s.edge_dist.sum() + s.edge_sim.sum() + s.x.square().mean() + s.z.sum()
    loss.backward()
    for f in inp["student_features"]:
        assert f.grad is not None and torch.isfinite(f.grad).all() and f.grad.abs().sum() > 0
    for f in inp["teacher_features"]:
        assert f.grad is None
    # The running statistics never receive gradients or graph history.
    for buf in gb.buffers():
        assert not buf.requires_grad


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_dtypes(dtype):
    gb = _builder()
    _warm(gb)
    t, s = gb.build_pair(**synth_batch(sizes=(20, 10), channels=C, dtype=dtype))
    for g in (t, s):
        assert g.x.dtype == g.z.dtype == g.edge_dist.dtype == g.edge_sim.dtype == dtype
        assert g.box.dtype == dtype
        assert torch.isfinite(g.edge_dist).all() and torch.isfinite(g.edge_sim).all()
    t32, _ = gb.build_pair(**synth_batch(sizes=(20, 10), channels=C), update_stats=False)
    t64, _ = gb.build_pair(
        **synth_batch(sizes=(20, 10), channels=C, dtype=torch.float64), update_stats=False
    )
    for key in ("edge_dist", "edge_sim"):
        torch.testing.assert_close(t32[key].double(), t64[key], rtol=1e-4, atol=1e-4)


def test_edge_cases_empty_single_all_text_all_nontext():
    gb = _builder(**PAPER_GRAPH)
    _warm(gb)
    empty = synth_image(0, channels=C)
    one = synth_image(1, channels=C, bg_frac=0.0)
    all_text = synth_image(30, channels=C, bg_frac=0.0, text_frac=1.0, seed=3)
    all_nontext = synth_image(30, channels=C, bg_frac=0.0, text_frac=0.0, seed=4)
    imgs = [empty, one, all_text, all_nontext]
    inp = {k: [im[k] for im in imgs] for k in empty}
    t, s = gb.build_pair(**inp)
    sizes = t.ptr.diff().tolist()
    assert sizes[0] == 0 and sizes[1] == 1
    assert sizes[2] == 1  # all text, no non-text: merged down to min_text_nodes = 1
    assert sizes[3] == 30  # non-text never merged
    assert t.edge_index.shape[1] == 30 * 29 and torch.isfinite(s.edge_sim).all()
    assert t.cluster[:1].tolist() == [0] and (t.cluster[1:31] == 0).all()
    # A batch made only of an empty image.
    t, s = gb.build_pair(**{k: [v] for k, v in empty.items()})
    assert t.num_nodes == 0 and t.edge_dist.shape == (0,) and t.x.shape == (0, C * 49)
    assert gb.last_stats["num_nodes"] == 0
    with pytest.raises(ValueError, match="no images"):
        gb.build_pair([], [], [], [], [])


def test_identical_descriptors():
    gb = _builder()
    _warm(gb)
    im = synth_image(12, channels=C, bg_frac=0.0, text_frac=0.0)
    im["teacher_features"] = im["teacher_features"][:1].repeat(12, 1, 1, 1)
    im["student_features"] = im["student_features"][:1].repeat(12, 1, 1, 1).requires_grad_(True)
    t, s = gb.build_pair(**{k: [v] for k, v in im.items()})
    for g in (t, s):
        assert (g.edge_dist == 0).all() and (g.edge_sim == 1).all()
    (s.edge_dist.sum() + s.edge_sim.sum() + s.x.sum()).backward()
    assert torch.isfinite(im["student_features"].grad).all()


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
@pytest.mark.parametrize(
    "key", ["teacher_features", "student_features", "boxes", "teacher_bg_prob"]
)
def test_non_finite_inputs_raise_value_error(key, bad):
    gb = _builder()
    inp = synth_batch(sizes=(10, 8), channels=C)
    inp[key][1].view(-1)[3] = bad
    with pytest.raises(ValueError, match=rf"{key}\[1\].*non-finite"):
        gb.build_pair(**inp)


def test_bad_shapes_raise_value_error():
    gb = _builder()
    inp = synth_batch(sizes=(10,), channels=C)
    with pytest.raises(ValueError, match="student_features has 0 images"):
        gb.build_pair(**{**inp, "student_features": []})
    with pytest.raises(ValueError, match=r"boxes\[0\] has shape"):
        gb.build_pair(**{**inp, "boxes": [inp["boxes"][0][:5]]})
    with pytest.raises(ValueError, match=r"teacher_features\[0\] has shape"):
        gb.build_pair(**{**inp, "teacher_features": [inp["teacher_features"][0][:, :4]]})
    with pytest.raises(ValueError, match="num_classes"):
        gb.build_pair(**{**inp, "gt_classes": [inp["gt_classes"][0] + 10]})
    with pytest.raises(ValueError, match="split_mode"):
        _builder(split_mode="bogus")
    with pytest.raises(ValueError, match="edge_metric"):
        _builder(edge_metric="l1")


def test_background_mining_and_no_bg_prob():
    gb = _builder(bg_topk=2)
    inp = synth_batch(sizes=(40,), channels=C)
    t, _ = gb.build_pair(**inp)
    assert int((t.node_type == NodeType.BG).sum()) == 2
    assert gb.last_stats["num_bg_kept"] == 2
    t, _ = gb.build_pair(**{**inp, "teacher_bg_prob": None})
    assert int((t.node_type == NodeType.BG).sum()) == 0
    is_bg = inp["gt_instance"][0] < 0
    assert (t.cluster[is_bg] == -1).all() and (t.cluster[~is_bg] >= 0).all()


def test_self_loops_on_merged_text_nodes():
    gb = _builder(self_loops_on_merged=True, merge_ratio=None)
    t, s = gb.build_pair(**synth_batch(sizes=(40, 30), channels=C))
    loops = t.edge_index[0] == t.edge_index[1]
    merged_text = (t.cluster_size > 1) & (t.node_type == NodeType.TEXT)
    assert loops.any()
    assert torch.equal(t.edge_index[0, loops].sort().values, merged_text.nonzero().flatten())
    for g in (t, s):
        assert (g.edge_dist[loops] == 0).all() and (g.edge_sim[loops] == 1).all()
        assert (g.edge_type[loops] == EdgeType.TEXT_TEXT).all()


def test_dsig_cosine_mode():
    gb = _builder(edge_metric="cosine", split_mode="none", merge=False)
    inp = synth_batch(sizes=(20, 15), channels=C)
    t, s = gb.build_pair(**inp)
    assert set(t.node_type.unique().tolist()) <= {int(NodeType.NONTEXT), int(NodeType.BG)}
    assert (t.cluster_size == 1).all()
    assert (t.edge_type == EdgeType.NONTEXT_NONTEXT).all()
    i, j = t.edge_index[:, 5]
    cos = F.cosine_similarity(s.x[i], s.x[j], dim=0)
    torch.testing.assert_close(s.edge_sim[5], cos)
    torch.testing.assert_close(s.edge_dist[5], 1 - cos)
    assert gb.teacher_stats.num_samples == 0  # statistics are not needed nor updated
    assert gb.last_stats["split_source"] == "none"


def test_covariance_split_falls_back_then_agrees_with_gt():
    gb = _builder(split_mode="covariance", min_samples=200)
    t, _ = gb.build_pair(**synth_batch(sizes=(30, 30), channels=C))
    assert gb.last_stats["split_source"] == "gt_fallback"
    assert math.isnan(gb.last_stats["split_agreement"])
    _warm(gb, n=8)
    assert gb.teacher_stats.is_ready
    t, _ = gb.build_pair(**synth_batch(sizes=(60, 60), channels=C, seed=999))
    st = gb.last_stats
    assert st["split_source"] == "covariance"
    assert st["split_agreement"] >= 0.95
    expected = {
        "num_nodes",
        "num_text_nodes",
        "num_nontext_nodes",
        "num_bg_nodes",
        "merges_step_a",
        "merges_step_b",
        "num_edges",
        "teacher_stats_ready",
    }
    assert expected <= set(st)
    assert st["num_nodes"] == st["num_text_nodes"] + st["num_nontext_nodes"] + st["num_bg_nodes"]


def test_stats_updates_and_checkpoint():
    gb = _builder()
    inp = synth_batch(sizes=(30, 20), channels=C)
    gb.build_pair(**inp, update_stats=False)
    assert gb.teacher_stats.num_samples == 0
    gb.build_pair(**inp)
    n_fg = sum(int((g >= 0).sum()) for g in inp["gt_instance"])
    assert gb.teacher_stats.num_samples == gb.student_stats.num_samples == n_fg
    sd = gb.state_dict()
    assert "teacher_stats.m2" in sd and "student_stats.count" in sd
    other = _builder()
    other.load_state_dict(sd)
    a, _ = gb.build_pair(**inp, update_stats=False)
    b, _ = other.build_pair(**inp, update_stats=False)
    torch.testing.assert_close(a.edge_dist, b.edge_dist)
    torch.testing.assert_close(a.edge_sim, b.edge_sim)


def _regions(n=25, seed=0, **kw):
    """One page of GT regions: (features, boxes, classes), no background."""
    im = synth_image(n, channels=C, seed=seed, bg_frac=0.0, **kw)
    return im["teacher_features"], im["boxes"], im["gt_classes"]


def test_build_single_model_graph_of_gt_regions():
    gb = _builder(merge=False)
    f, b, c = _regions(25)
    g = gb.build([f], [b], [c])
    assert g.num_graphs == 1 and g.num_nodes == 25 and g.num_rois.tolist() == [25]
    assert g.edge_index.shape == (2, 600)
    for key in ("edge_dist", "edge_sim", "edge_type"):
        assert g[key].shape == (600,), key
    assert g.edge_type.dtype == torch.long and "edge_attr" not in g
    torch.testing.assert_close(g.x, f.flatten(1))
    torch.testing.assert_close(g.box, b)
    assert torch.equal(g.cluster, torch.arange(25))
    is_text = torch.isin(c, torch.tensor(TEXT_CLASSES))
    assert torch.equal(g.node_type == NodeType.TEXT, is_text)
    # Half the edges have similarity >= exp(-1/2): the bandwidth is the median of d^2.
    frac = (g.edge_sim >= math.exp(-0.5) - 1e-6).float().mean().item()
    assert 0.49 <= frac <= 0.51
    # The statistics of the one model were updated; the student's were not touched.
    assert gb.stats is gb.teacher_stats and gb.stats.num_samples == 25
    assert gb.student_stats.num_samples == 0
    d = gb.last_stats
    assert d.num_nodes == d["num_nodes"] == dict(d)["num_nodes"] == 25
    assert d.student_stats_samples is None and d.split_source == "gt"


def test_build_is_the_teacher_side_of_build_pair():
    gb = _builder(self_loops_on_merged=True)
    _warm(gb)
    inp = synth_batch(sizes=(40, 0, 25), channels=C)
    t, _ = gb.build_pair(**inp, update_stats=False)
    pair_stats = dict(gb.last_stats)
    g = gb.build(
        inp["teacher_features"],
        inp["boxes"],
        inp["gt_classes"],
        inp["gt_instance"],
        inp["teacher_bg_prob"],
        update_stats=False,
    )
    assert set(g.keys()) == set(t.keys())
    for key in g.keys():
        a, b = g[key], t[key]
        assert torch.equal(a, b) if torch.is_tensor(a) else a == b, key
    single_stats = dict(gb.last_stats)
    for key in ("student_stats_samples", "student_stats_ready"):
        assert single_stats.pop(key) is None and pair_stats.pop(key) is not None
    assert single_stats == pair_stats


def test_build_keeps_gradients_and_merges_text_instances():
    gb = _builder(merge_ratio=None)
    f, b, c = _regions(12, seed=3, text_frac=1.0)
    inst = torch.arange(12) // 3  # four text instances of three RoIs each
    f = f.requires_grad_(True)
    g = gb.build([f], [b], [c], [inst])
    assert g.num_nodes == 4 and g.cluster_size.tolist() == [3, 3, 3, 3]
    assert torch.equal(g.cluster, inst)
    torch.testing.assert_close(g.x[1], f[3:6].flatten(1).mean(0))
    torch.testing.assert_close(g.box[0, :2], b[:3, :2].min(0).values)
    (g.edge_dist.sum() + g.x.sum()).backward()
    assert f.grad is not None and f.grad.abs().sum() > 0


def test_build_plugs_vector_features_and_warms_up_statistics():
    """(N, D) features of any source; Euclidean edges until the statistics are ready."""
    gen = torch.Generator().manual_seed(0)
    gb = GraphBuilder(TEXT_CLASSES, NUM_CLASSES, teacher_channels=6, merge=False, **PAPER_GRAPH)
    classes = torch.arange(20) % NUM_CLASSES
    feats = torch.randn(20, 6, generator=gen)
    g = gb.build([feats], [torch.rand(20, 4, generator=gen)], [classes], update_stats=False)
    assert not gb.stats.is_ready and torch.equal(g.z, feats)
    torch.testing.assert_close(
        g.edge_dist, pairwise_euclidean(feats)[g.edge_index[0], g.edge_index[1]]
    )
    for _ in range(3):  # warm-up: 60 samples >= min_samples (= D)
        x = torch.randn(20, 6, generator=gen) * torch.tensor([5.0, 1, 1, 1, 1, 0.2])
        gb.build([x], [torch.rand(20, 4, generator=gen)], [classes])
    assert gb.stats.is_ready
    g = gb.build([feats], [torch.rand(20, 4, generator=gen)], [classes], update_stats=False)
    want = pairwise_mahalanobis(feats, gb.stats)[g.edge_index[0], g.edge_index[1]]
    torch.testing.assert_close(g.edge_dist, want, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match=r"features\[0\] has shape \(20, 5\)"):
        gb.build([feats[:, :5]], [torch.rand(20, 4)], [classes])
    with pytest.raises(ValueError, match="no images"):
        gb.build([], [], [])


def test_batched_edge_helpers_match_per_graph_ones():
    sizes = [0, 1, 4, 3]
    ei, eb = complete_edges(torch.tensor(sizes))
    assert torch.equal(eb, torch.repeat_interleave(torch.arange(4), torch.tensor([0, 0, 12, 6])))
    assert torch.equal(ei[:, eb == 2], (~torch.eye(4, dtype=torch.bool)).nonzero().t())
    assert torch.equal(complete_edge_index(3), ei[:, eb == 3])
    dist = torch.rand(18, generator=torch.Generator().manual_seed(1))
    loop = torch.zeros(18, dtype=torch.bool)
    loop[[0, 13]] = True
    sim = similarity_from_distance(dist, loop, eb, 4)
    for graph in (2, 3):
        m = eb == graph
        torch.testing.assert_close(sim[m], similarity_from_distance(dist[m], loop[m]))
        med = (dist[m & ~loop] ** 2).median()
        torch.testing.assert_close(sim[m], torch.exp(-(dist[m] ** 2) / (2 * med)))


def test_no_text_classes_and_unknown_num_classes():
    inp = synth_batch(sizes=(15, 10), channels=C)
    gb = GraphBuilder((), None, teacher_channels=C, student_channels=C)
    t, _ = gb.build_pair(**inp)
    assert int((t.node_type == NodeType.TEXT).sum()) == 0
    # Background from gt_instance == -1 alone when num_classes is unknown.
    gb = GraphBuilder(TEXT_CLASSES, None, teacher_channels=C, student_channels=C)
    t, _ = gb.build_pair(**inp)
    n_bg_kept = gb.last_stats["num_bg_kept"]
    assert int((t.node_type == NodeType.BG).sum()) == n_bg_kept
    assert gb.last_stats["num_bg_rois"] == sum(int((g < 0).sum()) for g in inp["gt_instance"])
    # forward() is build_pair().
    t2, _ = gb(**inp, update_stats=False)
    assert torch.equal(t2.cluster, gb.build_pair(**inp, update_stats=False)[0].cluster)


def test_builder_from_graph_config_equals_builder_from_options():
    """One route from options to a builder: GraphConfig (or a mapping of it) + keyword overrides."""
    from graph import GraphConfig

    cfg = GraphConfig(merge_ratio=None, bg_topk=3, edge_metric="cosine", descriptor="meanmax")
    batch = synth_batch(sizes=(40, 30), seed=5, channels=C)
    built = []
    for gb in (
        _builder(cfg=cfg),
        _builder(
            cfg={
                "merge_ratio": None,
                "bg_topk": 3,
                "edge_metric": "cosine",
                "descriptor": "meanmax",
            }
        ),  # fmt: skip
        _builder(merge_ratio=None, bg_topk=3, edge_metric="cosine", descriptor="meanmax"),
        _builder(
            cfg=GraphConfig(bg_topk=3, descriptor="meanmax"), merge_ratio=None, edge_metric="cosine"
        ),  # fmt: skip
    ):
        assert gb.cfg == cfg and gb.cfg.bg_topk == 3 and gb.cfg.merge_ratio is None
        built.append(gb.build_pair(**batch)[0])
    for g in built[1:]:
        assert torch.equal(g.edge_index, built[0].edge_index)
        assert torch.equal(g.edge_sim, built[0].edge_sim)
    assert GraphBuilder().cfg == GraphConfig()  # the defaults live in GraphConfig only
    with pytest.raises(ValueError, match="unknown graph option"):
        _builder(merge_ration=2.0)
    with pytest.raises(ValueError, match="split_mode='lda' is not supported"):
        _builder(cfg={"split_mode": "lda"})
    with pytest.raises(ValueError, match="descriptor"):
        GraphConfig(descriptor="max").validate()
