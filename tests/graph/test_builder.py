"""GraphBuilder / build_instance_graph: structure, teacher-student alignment, gradients, edge cases."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from conftest import NUM_CLASSES, TEXT_CLASSES, synth_batch, synth_image

from graph import EdgeType, GaussianStats, GraphBuilder, NodeType, build_instance_graph, edge_types

C = 16


def _builder(**kw):
    kw.setdefault("teacher_channels", C)
    kw.setdefault("student_channels", C)
    return GraphBuilder(TEXT_CLASSES, NUM_CLASSES, **kw)


def _warm(gb, n=6, **kw):
    for s in range(n):
        gb.build_pair(**synth_batch(sizes=(60, 60), seed=100 + s, channels=C, **kw))


def test_teacher_and_student_graphs_are_aligned():
    gb = _builder(student_channels=8)
    _warm(gb, student_channels=8)
    inp = synth_batch(sizes=(40, 30, 25), channels=C, student_channels=8)
    t, s = gb.build_pair(**inp)
    for key in ("node_type", "cluster", "cluster_size", "edge_index", "batch", "ptr"):
        assert torch.equal(t[key], s[key]), key
    assert torch.equal(t.edge_attr[:, 2], s.edge_attr[:, 2])
    assert t.x.shape[1] == C * 49 and s.x.shape[1] == 8 * 49
    assert t.z.shape[1] == C and s.z.shape[1] == 8
    # Complete directed graphs without self loops.
    sizes = t.ptr.diff()
    assert t.edge_index.shape[1] == int((sizes * (sizes - 1)).sum())
    assert (t.edge_index[0] != t.edge_index[1]).all()
    assert (t.batch[t.edge_index[0]] == t.batch[t.edge_index[1]]).all()
    # Edge types follow node types, BG counted as non-text.
    assert torch.equal(t.edge_attr[:, 2].long(), edge_types(t.node_type, t.edge_index))
    both_text = (t.node_type[t.edge_index] == NodeType.TEXT).all(0)
    assert (t.edge_attr[both_text, 2] == EdgeType.TEXT_TEXT).all()
    # Similarities are bounded, distances symmetric.
    for g in (t, s):
        assert (g.edge_attr[:, 1] > 0).all() and (g.edge_attr[:, 1] <= 1).all()
        assert (g.edge_attr[:, 0] >= 0).all()
    dense = torch.zeros(t.num_nodes, t.num_nodes)
    dense[t.edge_index[0], t.edge_index[1]] = t.edge_attr[:, 0]
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
    for key in ("x", "z", "edge_attr"):
        assert t[key].grad_fn is None and not t[key].requires_grad
        assert s[key].requires_grad
    loss = s.edge_attr[:, :2].sum() + s.x.square().mean() + s.z.sum()
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
        assert g.x.dtype == dtype and g.z.dtype == dtype and g.edge_attr.dtype == dtype
        assert g.box.dtype == dtype
        assert torch.isfinite(g.edge_attr).all()
    t32, _ = gb.build_pair(**synth_batch(sizes=(20, 10), channels=C), update_stats=False)
    t64, _ = gb.build_pair(
        **synth_batch(sizes=(20, 10), channels=C, dtype=torch.float64), update_stats=False
    )
    torch.testing.assert_close(t32.edge_attr.double(), t64.edge_attr, rtol=1e-4, atol=1e-4)


def test_edge_cases_empty_single_all_text_all_nontext():
    gb = _builder()
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
    assert t.edge_index.shape[1] == 30 * 29 and torch.isfinite(s.edge_attr).all()
    assert t.cluster[:1].tolist() == [0] and (t.cluster[1:31] == 0).all()
    # A batch made only of an empty image.
    t, s = gb.build_pair(**{k: [v] for k, v in empty.items()})
    assert t.num_nodes == 0 and t.edge_attr.shape == (0, 3) and t.x.shape == (0, C * 49)
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
        assert (g.edge_attr[:, 0] == 0).all() and (g.edge_attr[:, 1] == 1).all()
    (s.edge_attr[:, :2].sum() + s.x.sum()).backward()
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
        assert (g.edge_attr[loops, 0] == 0).all() and (g.edge_attr[loops, 1] == 1).all()
        assert (g.edge_attr[loops, 2] == EdgeType.TEXT_TEXT).all()


def test_dsig_cosine_mode():
    gb = _builder(edge_metric="cosine", split_mode="none", merge=False)
    inp = synth_batch(sizes=(20, 15), channels=C)
    t, s = gb.build_pair(**inp)
    assert set(t.node_type.unique().tolist()) <= {int(NodeType.NONTEXT), int(NodeType.BG)}
    assert (t.cluster_size == 1).all()
    assert (t.edge_attr[:, 2] == EdgeType.NONTEXT_NONTEXT).all()
    i, j = t.edge_index[:, 5]
    cos = F.cosine_similarity(s.x[i], s.x[j], dim=0)
    torch.testing.assert_close(s.edge_attr[5, 1], cos)
    torch.testing.assert_close(s.edge_attr[5, 0], 1 - cos)
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
    torch.testing.assert_close(a.edge_attr, b.edge_attr)


def test_build_instance_graph_single_image():
    im = synth_image(25, channels=C)
    stats = GaussianStats(C)
    nt = torch.full((25,), int(NodeType.NONTEXT))
    d = build_instance_graph(im["teacher_features"], im["boxes"], nt, stats)
    assert d.num_nodes == 25 and d.edge_index.shape == (2, 600) and d.edge_attr.shape == (600, 3)
    torch.testing.assert_close(d.x, im["teacher_features"].flatten(1))
    # Half the edges have similarity >= exp(-1/2): the bandwidth is the median of d^2.
    frac = (d.edge_attr[:, 1] >= math.exp(-0.5) - 1e-6).float().mean().item()
    assert 0.49 <= frac <= 0.51
    cluster = torch.tensor([0, 0, -1] + list(range(1, 23)))
    d = build_instance_graph(im["teacher_features"], im["boxes"], nt, stats, cluster=cluster)
    assert d.num_nodes == 23
    torch.testing.assert_close(d.x[0], im["teacher_features"][:2].flatten(1).mean(0))


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
