"""Unit tests of graphkd.core.losses and graphkd.core.adapter on hand-built teacher/student graphs."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch_geometric.data import Batch, Data

from graph import GraphBuilder
from graphkd.core.adapter import ChannelAdapter
from graphkd.core.losses import (
    KDLoss,
    KDLossConfig,
    box_kd_loss,
    edge_loss,
    fpn_feature_loss,
    logit_kd_loss,
    node_loss,
    node_type_weights,
    per_graph_median,
    structure_loss,
)

TEXT, NONTEXT, BG = 0, 1, 2
# The settings these tests were written for: kd=graphkd_paper's (node loss on merged-node means,
# mean over images, ...). KDLossConfig's and GraphConfig's defaults are kd=graphkd's.
PAPER_LOSS = dict(
    node_weight=1.0, adapter="always", text_only_weight=None, node_reduce="node",
    bg_rois="mined", image_reduction="mean",
)  # fmt: skip
PAPER_GRAPH = dict(
    descriptor="mean", shrinkage="ledoit_wolf", bg_topk=64, student_momentum=None,
    merge_text_only=True,
)  # fmt: skip
C, HW = 2, 4  # node features are (n, C * HW), channel-major like x.flatten(1) of (n, C, 2, 2)
D = C * HW


def _cfg(**kw) -> KDLossConfig:
    """A KDLossConfig with the tests' settings (PAPER_LOSS) and ``kw``."""
    return KDLossConfig(**{**PAPER_LOSS, **kw})


# --------------------------------------------------------------------------- graph helpers
def _edges(n: int) -> torch.Tensor:
    """Complete directed graph without self loops, (2, n*(n-1))."""
    idx = torch.arange(n)
    src, dst = torch.meshgrid(idx, idx, indexing="ij")
    keep = src != dst
    return torch.stack([src[keep], dst[keep]])


def _edge_type(node_type: torch.Tensor, ei: torch.Tensor) -> torch.Tensor:
    a, b = node_type[ei[0]] == TEXT, node_type[ei[1]] == TEXT
    return torch.where(a & b, 0, torch.where(a | b, 1, 2))


def _edge_attr(x: torch.Tensor, node_type: torch.Tensor, ei: torch.Tensor, metric: str):
    """[distance, similarity, type] the way the builder does it (euclidean stands in for
    Mahalanobis; cosine = DSIG)."""
    if ei.shape[1] == 0:
        return x.new_zeros(0, 3) + x.sum() * 0
    if metric == "cosine":
        f = F.normalize(x.flatten(1), dim=1)
        sim = (f[ei[0]] * f[ei[1]]).sum(1)
        dist = 1 - sim
    else:
        dist = (x[ei[0]] - x[ei[1]]).norm(dim=1)
        sim = torch.exp(-(dist**2) / (2 * (dist**2).median()))
    return torch.stack([dist, sim, _edge_type(node_type, ei).to(x.dtype)], dim=1)


def _graph(x: torch.Tensor, node_type: torch.Tensor, metric: str) -> Data:
    ei = _edges(x.shape[0])
    attr = _edge_attr(x, node_type, ei, metric)
    return Data(
        x=x,
        node_type=node_type,
        edge_index=ei,
        edge_dist=attr[:, 0],
        edge_sim=attr[:, 1],
        edge_type=attr[:, 2].long(),
        num_nodes=x.shape[0],
    )


def make_pair(types, seed=0, noise=0.5, metric="euclid", same=False):
    """Teacher/student Batches over images with the given node types; returns the leaves too.

    Teacher leaves require grad only so that tests can check no gradient reaches them.
    """
    g = torch.Generator().manual_seed(seed)
    t_leaves, s_leaves, t_graphs, s_graphs = [], [], [], []
    for tys in types:
        nt = torch.tensor(tys, dtype=torch.long)
        xt = torch.randn(len(tys), D, generator=g)
        xs = xt.clone() if same else xt + noise * torch.randn(len(tys), D, generator=g)
        xt.requires_grad_(True)
        xs.requires_grad_(True)
        t_leaves.append(xt)
        s_leaves.append(xs)
        t_graphs.append(_graph(xt, nt, metric))
        s_graphs.append(_graph(xs, nt, metric))
    return Batch.from_data_list(t_graphs), Batch.from_data_list(s_graphs), t_leaves, s_leaves


TYPES = [
    [TEXT] * 5 + [NONTEXT] * 2 + [BG] * 3,
    [TEXT, NONTEXT, NONTEXT, NONTEXT, NONTEXT, BG],
    [TEXT] * 4 + [NONTEXT],
]


# --------------------------------------------------------------------------- references
def _ref_weights(tys, mode="graphkd", beta=7.5, clip=(0.1, 1.0), scale=(1.0, 1.0, 1.0)):
    n_t, n_n, n_b = tys.count(TEXT), tys.count(NONTEXT), tys.count(BG)
    w_text = min(max(n_n / max(n_t, 1), clip[0]), clip[1]) if mode == "graphkd" else 1.0
    w_bg = (n_t + n_n) / (beta * n_b) if n_b else 0.0
    return [w_text * scale[0], 1.0 * scale[1], w_bg * scale[2]]


def ref_node_loss(types, t_leaves, s_leaves, **kw):
    per_image = []
    for tys, xt, xs in zip(types, t_leaves, s_leaves):
        if not tys:
            continue
        w = _ref_weights(tys, **kw)
        total = sum(w[ty] * ((xs[i] - xt[i]) ** 2).mean() for i, ty in enumerate(tys))
        per_image.append(total / len(tys))
    return torch.stack(per_image).mean()


def ref_edge_loss(types, t_leaves, s_leaves, type_weights=(1.0, 1.0, 1.0), metric="euclid"):
    per_image = []
    for tys, xt, xs in zip(types, t_leaves, s_leaves):
        n = len(tys)
        if n < 2:
            continue
        st = _edge_attr(xt, torch.tensor(tys), _edges(n), metric)
        ss = _edge_attr(xs, torch.tensor(tys), _edges(n), metric)
        total, count = 0.0, 0
        for e in range(st.shape[0]):
            total = total + type_weights[int(st[e, 2])] * (ss[e, 1] - st[e, 1]) ** 2
            count += 1
        per_image.append(total / count)
    return torch.stack(per_image).mean()


def ref_structure_loss(types, t_leaves, s_leaves, tau=1.0):
    per_image = []
    for tys, xt, xs in zip(types, t_leaves, s_leaves):
        n = len(tys)
        if n < 2:
            continue
        ei = _edges(n)
        dt = _edge_attr(xt, torch.tensor(tys), ei, "euclid")[:, 0]
        ds = _edge_attr(xs, torch.tensor(tys), ei, "euclid")[:, 0]
        dt, ds = dt / torch.quantile(dt, 0.5), ds / torch.quantile(ds, 0.5)
        kls = []
        for i in range(n):
            m = ei[0] == i
            lpt = torch.log_softmax(-dt[m] / tau, 0)
            lps = torch.log_softmax(-ds[m] / tau, 0)
            kls.append((lpt.exp() * (lpt - lps)).sum())
        per_image.append(torch.stack(kls).mean())
    return torch.stack(per_image).mean()


# --------------------------------------------------------------------------- node loss
def test_text_and_bg_weight_formulas():
    types = [[TEXT] * 5 + [NONTEXT] * 2 + [BG] * 3, [TEXT] * 20 + [NONTEXT], [TEXT] + [NONTEXT] * 4]
    nt = torch.tensor(sum(types, []))
    batch = torch.cat([torch.full((len(t),), i) for i, t in enumerate(types)])
    w = node_type_weights(nt, batch, 3)
    # image 0: w_t = 2/5, w_bg = 7 / (7.5 * 3); image 1: 1/20 clipped to 0.1; image 2: 4 -> 1.
    assert torch.allclose(w[:5], torch.full((5,), 0.4))
    assert torch.allclose(w[5:7], torch.ones(2))
    assert torch.allclose(w[7:10], torch.full((3,), 7 / 22.5))
    assert torch.allclose(w[10:30], torch.full((20,), 0.1))
    assert w[30] == 1.0 and w[31] == 1.0  # image 1's non-text node, image 2's text node
    assert torch.allclose(w[32:], torch.ones(4))
    # dsig: no text split, fg 1, same adaptive bg weight; custom beta / clip
    w_dsig = node_type_weights(nt, batch, 3, mode="dsig", beta=2.0)
    assert torch.allclose(w_dsig[:7], torch.ones(7))
    assert torch.allclose(w_dsig[7:10], torch.full((3,), 7 / 6))
    w_clip = node_type_weights(nt, batch, 3, text_weight_clip=(0.5, 0.9))
    assert torch.allclose(w_clip[:5], torch.full((5,), 0.5))
    assert torch.isclose(w_clip[31], torch.tensor(0.9))


@pytest.mark.parametrize("mode", ["graphkd", "dsig"])
def test_node_loss_matches_hand_computation(mode):
    t, s, tl, sl = make_pair(TYPES)
    got = node_loss(t, s.x, mode=mode, beta=5.0)
    want = ref_node_loss(TYPES, tl, sl, mode=mode, beta=5.0)
    assert torch.allclose(got, want, rtol=1e-5)


def test_doubling_text_weight_changes_only_text_nodes():
    t, s, tl, sl = make_pair(TYPES)
    base = node_loss(t, s.x)
    doubled = node_loss(t, s.x, type_scale=(2.0, 1.0, 1.0))
    text_only = node_loss(t, s.x, type_scale=(1.0, 0.0, 0.0))
    assert torch.allclose(doubled - base, text_only, rtol=1e-5)
    assert text_only > 0
    (grad,) = torch.autograd.grad(doubled - base, s.x)
    is_text = t.node_type == TEXT
    assert grad[~is_text].abs().max() == 0
    assert grad[is_text].abs().max() > 0


def test_node_loss_shape_mismatch_is_clear():
    t, s, _, _ = make_pair(TYPES)
    with pytest.raises(ValueError, match="ChannelAdapter"):
        node_loss(t, torch.zeros(t.num_nodes, D + 1))


# --------------------------------------------------------------------------- edge loss
def test_edge_loss_matches_hand_computation_and_type_weights():
    t, s, tl, sl = make_pair(TYPES)
    for tw in [(1.0, 1.0, 1.0), (0.0, 1.0, 1.0), (2.0, 0.5, 0.0)]:
        got = edge_loss(t, s, type_weights=tw)
        assert torch.allclose(got, ref_edge_loss(TYPES, tl, sl, type_weights=tw), rtol=1e-5)
    # Zeroing the text-text weight removes exactly the text-text edges' share.
    full = edge_loss(t, s)
    tt_only = edge_loss(t, s, type_weights=(1.0, 0.0, 0.0))
    no_tt = edge_loss(t, s, type_weights=(0.0, 1.0, 1.0))
    assert torch.allclose(full, tt_only + no_tt, rtol=1e-5)


def test_edge_loss_rejects_different_edges():
    t, s, _, _ = make_pair(TYPES)
    s.edge_index = s.edge_index.flip(0)
    with pytest.raises(ValueError, match="identical edge_index"):
        edge_loss(t, s)


def _dense_cosine_edge_loss(t_feats, s_feats):
    """Independent DSIG edge loss: dense cosine matrices of flattened features, off-diagonal MSE."""
    per_image = []
    for ft, fs in zip(t_feats, s_feats):
        n = ft.shape[0]
        if n < 2:
            continue
        at, as_ = ft.flatten(1), fs.flatten(1)
        st = (at @ at.T) / (at.norm(dim=1)[:, None] * at.norm(dim=1)[None, :])
        ss = (as_ @ as_.T) / (as_.norm(dim=1)[:, None] * as_.norm(dim=1)[None, :])
        off = ~torch.eye(n, dtype=torch.bool)
        per_image.append(((ss - st)[off] ** 2).mean())
    return torch.stack(per_image).mean()


def test_dsig_cosine_edge_loss_equals_dense_reference():
    types = [[TEXT, NONTEXT, BG, NONTEXT], [NONTEXT] * 6 + [BG] * 2, [TEXT], [BG, TEXT]]
    t, s, tl, sl = make_pair(types, metric="cosine", seed=3)
    got = edge_loss(t, s)
    want = _dense_cosine_edge_loss(
        [x.view(-1, C, 2, 2) for x in tl], [x.view(-1, C, 2, 2) for x in sl]
    )
    assert torch.allclose(got, want, rtol=1e-5, atol=1e-7)
    # nested-loop check of one image's matrix entries
    x = tl[1].detach()
    for i in range(x.shape[0]):
        for j in range(x.shape[0]):
            if i != j:
                e = (t.edge_index[0] == i + 4) & (t.edge_index[1] == j + 4)
                cos = F.cosine_similarity(x[i], x[j], dim=0)
                assert torch.allclose(t.edge_sim[e], cos, atol=1e-6)
    # through KDLoss in the dsig configuration: the same edge term
    cfg = _cfg(node_mode="dsig", struct=False, edge_weight=3.0)
    out = KDLoss(cfg, student_channels=C, teacher_channels=C)(t, s)
    assert torch.allclose(out["loss_kd_edge"], 3.0 * want, rtol=1e-5)


# --------------------------------------------------------------------------- structure loss
def test_structure_loss_matches_reference():
    t, s, tl, sl = make_pair(TYPES)
    for tau in (1.0, 0.5):
        got = structure_loss(t, s, tau=tau)
        assert torch.allclose(got, ref_structure_loss(TYPES, tl, sl, tau=tau), rtol=1e-4)


def test_structure_loss_invariant_to_distance_scaling():
    t, s, _, _ = make_pair(TYPES)
    base = structure_loss(t, s)
    t2, s2 = t.clone(), s.clone()
    t2.edge_dist = t.edge_dist * 3.0
    s2.edge_dist = s.edge_dist * 0.25
    assert base > 0
    assert torch.allclose(structure_loss(t2, s2), base, rtol=1e-5)


def test_per_graph_median_matches_quantile():
    g = torch.Generator().manual_seed(0)
    vals = torch.rand(23, generator=g)
    idx = torch.randint(0, 4, (23,), generator=g)
    idx[idx == 2] = 1  # graph 2 empty
    med = per_graph_median(vals, idx, 5)
    for k in range(5):
        want = torch.quantile(vals[idx == k], 0.5) if (idx == k).any() else torch.tensor(1.0)
        assert torch.allclose(med[k], want)


# --------------------------------------------------------------------------- KDLoss
def _extras(seed=0, same=False):
    g = torch.Generator().manual_seed(seed)
    n, k = 6, 3
    tl = torch.randn(n, k + 1, generator=g, requires_grad=True)
    sl = (tl.detach().clone() if same else torch.randn(n, k + 1, generator=g)).requires_grad_(True)
    td = torch.randn(n, 4 * k, generator=g, requires_grad=True)
    sd = (td.detach().clone() if same else torch.randn(n, 4 * k, generator=g)).requires_grad_(True)
    gt = torch.tensor([0, 2, 3, 1, 3, 0])
    tf = {p: torch.randn(2, C, 4, 4, generator=g, requires_grad=True) for p in ("p2", "p3")}
    sf = {
        p: (v.detach().clone() if same else torch.randn(2, C, 4, 4, generator=g)).requires_grad_(
            True
        )
        for p, v in tf.items()
    }
    return dict(
        student_logits=sl,
        teacher_logits=tl,
        student_deltas=sd,
        teacher_deltas=td,
        gt_classes=gt,
        student_fpn=sf,
        teacher_fpn=tf,
    )


ALL_ON = dict(logit=True, box=True, fpn=True)


def test_zero_when_teacher_equals_student():
    t, s, _, _ = make_pair(TYPES, same=True)
    out = KDLoss(_cfg(**ALL_ON), student_channels=C, teacher_channels=C)(t, s, **_extras(same=True))
    assert set(out) == {f"loss_kd_{k}" for k in ("node", "edge", "struct", "logit", "box", "fpn")}
    for name, v in out.items():
        assert v.abs() < 1e-6, name


def test_gradients_reach_only_student_and_adapter():
    t, s, tl, sl = make_pair(TYPES)
    ex = _extras()
    kd = KDLoss(_cfg(**ALL_ON), student_channels=C, teacher_channels=C)
    sum(kd(t, s, **ex).values()).backward()
    for x in sl:
        assert x.grad is not None and x.grad.abs().sum() > 0
    for x in tl:
        assert x.grad is None
    for key in ("student_logits", "student_deltas"):
        assert ex[key].grad is not None and ex[key].grad.abs().sum() > 0
    for key in ("teacher_logits", "teacher_deltas"):
        assert ex[key].grad is None
    assert all(v.grad is not None for v in ex["student_fpn"].values())
    assert all(v.grad is None for v in ex["teacher_fpn"].values())
    assert kd.adapter.conv.weight.grad is not None and kd.adapter.conv.weight.grad.abs().sum() > 0


def test_weights_and_switches():
    t, s, _, _ = make_pair(TYPES)
    ex = _extras()
    base = KDLoss(_cfg(**ALL_ON), student_channels=C, teacher_channels=C)(t, s, **ex)
    cfg = _cfg(**{**ALL_ON, "fpn": False}, edge_weight=2.0, logit_weight=0.5, struct=False)
    out = KDLoss(cfg, student_channels=C, teacher_channels=C)(t, s, **ex)
    assert "loss_kd_struct" not in out and "loss_kd_fpn" not in out
    assert torch.allclose(out["loss_kd_edge"], 2 * base["loss_kd_edge"])
    assert torch.allclose(out["loss_kd_logit"], 0.5 * base["loss_kd_logit"])
    assert torch.allclose(out["loss_kd_node"], base["loss_kd_node"])
    assert torch.allclose(out["loss_kd_box"], base["loss_kd_box"])
    # text-node scaling moves only the node term
    out2 = KDLoss(
        _cfg(**ALL_ON, node_type_scale=(2.0, 1.0, 1.0)),
        student_channels=C,
        teacher_channels=C,
    )(t, s, **ex)
    assert out2["loss_kd_node"] > base["loss_kd_node"]
    for k in ("loss_kd_edge", "loss_kd_struct", "loss_kd_logit", "loss_kd_box", "loss_kd_fpn"):
        assert torch.equal(out2[k], base[k])
    # graph terms off: no graphs needed
    only_logit = KDLoss(_cfg(node=False, edge=False, struct=False, logit=True))(**ex)
    assert set(only_logit) == {"loss_kd_logit"}


def test_missing_inputs_are_clear():
    with pytest.raises(ValueError, match="no teacher/student graphs"):
        KDLoss()()
    t, s, _, _ = make_pair(TYPES)
    with pytest.raises(ValueError, match="'logit'"):
        KDLoss(_cfg(logit=True), student_channels=C, teacher_channels=C)(t, s)


def test_empty_graphs_give_connected_zero():
    # 0-node and 1-node graphs: no edges -> edge/struct are a connected zero; the single node
    # still has a (finite) node term.
    t, s, _, sl = make_pair([[], [TEXT]])
    kd = KDLoss(_cfg(), student_channels=C, teacher_channels=C)
    out = kd(t, s)
    for name in ("loss_kd_edge", "loss_kd_struct"):
        assert out[name].item() == 0.0 and out[name].grad_fn is not None, name
    assert torch.isfinite(out["loss_kd_node"])
    sum(out.values()).backward()
    assert sl[1].grad is not None and torch.isfinite(sl[1].grad).all()
    assert kd.adapter.conv.weight.grad is not None
    # only empty graphs: every term is a zero that still reaches the student and the adapter
    t, s, _, sl = make_pair([[], []])
    kd = KDLoss(_cfg(), student_channels=C, teacher_channels=C)
    out = kd(t, s)
    for name, v in out.items():
        assert v.item() == 0.0 and v.grad_fn is not None, name
    sum(out.values()).backward()
    assert sl[0].grad is not None and kd.adapter.conv.weight.grad is not None
    # a single Data (not a Batch) without edges
    g = _graph(torch.randn(1, D, requires_grad=True), torch.tensor([BG]), "euclid")
    assert structure_loss(g, g).item() == 0.0 and edge_loss(g, g).item() == 0.0


def test_empty_images_do_not_dilute_the_average():
    te, se, _, _ = make_pair([[], TYPES[0], [NONTEXT], TYPES[1], TYPES[2]])

    def subset(b, idx):
        return Batch.from_data_list([b.get_example(i) for i in idx])

    # edge / structure terms: only images with edges count (0- and 1-node images drop out)
    for fn in (edge_loss, structure_loss):
        assert torch.allclose(
            fn(te, se), fn(subset(te, (1, 3, 4)), subset(se, (1, 3, 4))), rtol=1e-5
        )
    # node term: the 1-node image has a node, so it counts; the empty one does not
    nn_idx = (1, 2, 3, 4)
    assert torch.allclose(
        node_loss(te, se.x), node_loss(subset(te, nn_idx), subset(se, nn_idx).x), rtol=1e-5
    )


def test_non_finite_raises_naming_the_term():
    t, s, _, _ = make_pair(TYPES)
    kd = KDLoss(_cfg(), student_channels=C, teacher_channels=C)
    bad = t.clone()
    bad.edge_sim = t.edge_sim.clone()
    bad.edge_sim[0] = float("nan")
    with pytest.raises(FloatingPointError, match="loss_kd_edge"):
        kd(bad, s)
    s2 = s.clone()
    s2.x = s.x.clone()
    s2.x[0, 0] = float("inf")
    with pytest.raises(FloatingPointError, match="loss_kd_node"):
        kd(t, s2)


def test_config_from_mapping_and_omegaconf():
    from omegaconf import OmegaConf

    oc = OmegaConf.structured(KDLossConfig)
    oc.edge_type_weights = [1.0, 0.5, 2.0]
    cfg = KDLossConfig.from_mapping(oc)
    assert cfg.edge_type_weights == (1.0, 0.5, 2.0)
    with pytest.raises(ValueError, match="unknown KD loss option"):
        KDLossConfig.from_mapping({"edge_wieght": 1.0})
    with pytest.raises(ValueError, match="node_mode"):
        KDLossConfig.from_mapping({"node_mode": "fancy"})
    kd = KDLoss({"adapter": "when_needed"}, student_channels=4, teacher_channels=4)
    assert kd.adapter.is_identity


# --------------------------------------------------------------------------- extras
def test_logit_kd_matches_kl_div():
    ex = _extras()
    s, t = ex["student_logits"], ex["teacher_logits"]
    for T in (1.0, 4.0):
        want = F.kl_div(F.log_softmax(s / T, 1), F.softmax(t / T, 1), reduction="batchmean") * T * T
        assert torch.allclose(logit_kd_loss(s, t, T=T), want, rtol=1e-5)
        # per-image lists are accepted
        assert torch.allclose(logit_kd_loss([s[:2], s[2:]], [t[:2], t[2:]], T=T), want, rtol=1e-5)
    empty = torch.zeros(0, 4, requires_grad=True)
    z = logit_kd_loss(empty, empty.detach())
    assert z.item() == 0.0 and z.grad_fn is not None


def test_box_kd_selects_gt_class_deltas():
    n, k = 4, 3
    gt = torch.tensor([0, 2, 3, 1])  # RoI 2 is background
    t = torch.randn(n, 4 * k)
    s = t.clone()
    # change every non-GT class slot and the bg RoI: no effect
    for i in range(n):
        for c in range(k):
            if i == 2 or c != gt[i]:
                s[i, 4 * c : 4 * c + 4] += 5.0
    s.requires_grad_(True)
    assert box_kd_loss(s, t, None, gt, k).item() == 0.0
    s2 = s.detach().clone()
    s2[1, 4 * 2 + 1] += 1.0  # RoI 1, its GT class 2, dy
    assert math.isclose(box_kd_loss(s2, t, None, gt, k).item(), 1.0 / n, rel_tol=1e-6)
    # smooth L1 with beta: 0.5 * x^2 / beta for |x| < beta
    assert math.isclose(box_kd_loss(s2, t, None, gt, k, beta=2.0).item(), 0.25 / n, rel_tol=1e-6)
    # explicit fg mask overrides gt
    fg = torch.tensor([True, False, False, True])
    assert box_kd_loss(s2, t, fg, gt, k).item() == 0.0
    # class-agnostic layout
    ta = torch.randn(n, 4)
    sa = ta.clone()
    sa[2] += 3.0  # bg
    sa[0, 0] += 0.5
    assert math.isclose(box_kd_loss(sa, ta, None, gt, k).item(), 0.5 / n, rel_tol=1e-6)
    with pytest.raises(ValueError, match="num_classes"):
        box_kd_loss(torch.zeros(n, 8), torch.zeros(n, 8), None, gt, k)


def test_fpn_loss_and_adapters():
    g = torch.Generator().manual_seed(0)
    tf = {p: torch.randn(1, 6, 4, 4, generator=g) for p in ("p2", "p3", "p6")}
    sf = {p: torch.randn(1, 4, 4, 4, generator=g, requires_grad=True) for p in tf}
    with pytest.raises(ValueError, match="ChannelAdapter"):
        fpn_feature_loss(sf, tf)
    kd = KDLoss(
        _cfg(node=False, edge=False, struct=False, fpn=True),
        student_fpn_channels=4,
        teacher_fpn_channels=6,
    )
    out = kd(student_fpn=sf, teacher_fpn=tf)["loss_kd_fpn"]
    want = torch.stack([F.mse_loss(kd.fpn_adapters[p](sf[p]), tf[p]) for p in ("p2", "p3", "p6")])
    assert torch.allclose(out, want.mean())
    out.backward()
    assert kd.fpn_adapters["p2"].conv.weight.grad is not None
    same = {p: v.detach() for p, v in tf.items()}
    assert fpn_feature_loss(same, tf).item() == 0.0


# --------------------------------------------------------------------------- adapter
def test_channel_adapter_modes_and_layouts():
    x4 = torch.randn(5, 4, 7, 7)
    ident = ChannelAdapter(4, 4, mode="when_needed")
    assert ident.is_identity and ident(x4) is x4
    always = ChannelAdapter(4, 4, mode="always")
    assert not always.is_identity and torch.allclose(always(x4), x4)  # identity init
    a = ChannelAdapter(4, 6)
    y4 = a(x4)
    assert y4.shape == (5, 6, 7, 7)
    assert torch.allclose(a(x4.flatten(1)), y4.flatten(1), atol=1e-6)
    # affine => adapting a cluster mean equals averaging adapted features
    assert torch.allclose(a(x4.mean(0, keepdim=True)), y4.mean(0, keepdim=True), atol=1e-5)
    assert a(torch.zeros(0, 4 * 49)).shape == (0, 6 * 49)
    with pytest.raises(ValueError, match="multiple of"):
        a(torch.zeros(2, 10))
    with pytest.raises(ValueError, match="mode"):
        ChannelAdapter(4, 4, mode="sometimes")


# --------------------------------------------------------------------------- integration
def _builder_inputs(seed=0, n_img=2, n=12, c_t=8, c_s=4):
    g = torch.Generator().manual_seed(seed)
    t_feats = [torch.randn(n, c_t, 7, 7, generator=g) for _ in range(n_img)]
    s_feats = [torch.randn(n, c_s, 7, 7, generator=g, requires_grad=True) for _ in range(n_img)]
    xy = torch.rand(n_img, n, 2, generator=g) * 80
    boxes = [torch.cat([p, p + 10 + 10 * torch.rand(n, 2, generator=g)], 1) for p in xy]
    gt_classes = [torch.tensor([0, 0, 0, 1, 1, 2, 3, 4, 5, 5, 0, 2]) for _ in range(n_img)]
    gt_instance = [torch.tensor([0, 0, 1, 2, 2, 3, 4, 5, -1, -1, 6, 7]) for _ in range(n_img)]
    bg_prob = [torch.full((n,), 0.1) for _ in range(n_img)]  # teacher unsure: bg RoIs are kept
    return t_feats, s_feats, boxes, gt_classes, gt_instance, bg_prob


@pytest.mark.parametrize("kd", ["graphkd", "dsig"])
def test_with_graph_builder(kd):
    k, c_t, c_s = 5, 8, 4
    if kd == "graphkd":
        builder = GraphBuilder(
            text_classes=[0, 1, 2], num_classes=k, teacher_channels=c_t, student_channels=c_s,
            **PAPER_GRAPH,
        )  # fmt: skip
        cfg = _cfg()
    else:
        builder = GraphBuilder(
            num_classes=k,
            teacher_channels=c_t,
            student_channels=c_s,
            split_mode="none",
            merge=False,
            edge_metric="cosine",
            **PAPER_GRAPH,
        )
        cfg = _cfg(node_mode="dsig", struct=False)
    t_feats, s_feats, boxes, gt_classes, gt_instance, bg_prob = _builder_inputs(c_t=c_t, c_s=c_s)
    teacher, student = builder.build_pair(
        t_feats, s_feats, boxes, gt_classes, gt_instance, teacher_bg_prob=bg_prob
    )
    kd_loss = KDLoss(cfg, student_channels=c_s, teacher_channels=c_t)
    out = kd_loss(teacher, student)
    assert set(out) == {f"loss_kd_{t}" for t in cfg.enabled_terms()}
    assert all(torch.isfinite(v) and v > 0 for v in out.values())
    sum(out.values()).backward()
    assert all(x.grad is not None and x.grad.abs().sum() > 0 for x in s_feats)
    assert kd_loss.adapter.conv.weight.grad is not None
    if kd == "dsig":  # the builder's cosine edges give DSIG's dense cosine-matrix edge loss
        want = _dense_cosine_edge_loss(
            [teacher.get_example(i).x for i in range(teacher.num_graphs)],
            [student.get_example(i).x for i in range(student.num_graphs)],
        )
        assert torch.allclose(out["loss_kd_edge"], want, rtol=1e-4, atol=1e-7)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_kdloss_on_cuda_matches_cpu():
    t, s, _, _ = make_pair(TYPES + [[], [BG]])
    ex = _extras()
    kd = KDLoss(_cfg(**ALL_ON), student_channels=C, teacher_channels=C)
    cpu = kd(t, s, **ex)
    dev = torch.device("cuda")
    ex_dev = {
        k: (
            {p: x.detach().to(dev).requires_grad_(True) for p, x in v.items()}
            if isinstance(v, dict)
            else v.detach().to(dev)
        )
        for k, v in ex.items()
    }
    t_dev, s_dev = t.detach().to(dev), s.detach().to(dev)
    s_dev.x.requires_grad_(True)
    out = kd.to(dev)(t_dev, s_dev, **ex_dev)
    for k, v in cpu.items():
        assert out[k].device.type == "cuda"
        assert torch.allclose(out[k].cpu(), v.detach(), rtol=1e-4, atol=1e-6), k
    sum(out.values()).backward()
    assert s_dev.x.grad is not None and torch.isfinite(s_dev.x.grad).all()


def test_two_finiteness_checks_two_contracts():
    """graph's check (inputs: ValueError naming the tensor) is not the losses' (FloatingPointError
    naming the term); the losses count node types in graph.NodeType's order."""
    from graph import NodeType, check_tensor_finite
    from graphkd.core.losses import check_losses_finite
    from graphkd.core.losses.node import node_type_weights

    with pytest.raises(ValueError, match="feats contains 1 non-finite"):
        check_tensor_finite(torch.tensor([1.0, float("nan")]), "feats")
    with pytest.raises(FloatingPointError, match="'loss_kd_x'"):
        check_losses_finite({"loss_kd_x": torch.tensor(float("inf"))})
    types = torch.tensor([NodeType.TEXT] * 4 + [NodeType.NONTEXT] + [NodeType.BG] * 2)
    w = node_type_weights(types, torch.zeros(7, dtype=torch.long), 1, beta=1.0)
    # text: N_nontext / N_text = 1/4; non-text 1; bg: N_fg / (beta * N_bg) = 5/2
    assert w.tolist() == [0.25] * 4 + [1.0] + [2.5] * 2
