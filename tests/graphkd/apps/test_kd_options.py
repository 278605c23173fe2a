"""The KD options added to the first implementation: RoI node loss (DSIG's code), image
reduction, text-only pages, student statistics momentum, and the paired comparison summary."""

import json
import math

import pytest
import torch
from torch_geometric.data import Batch, Data

from graph import GraphBuilder, NodeType, merge_text_nodes
from graphkd.apps.compare import paired_summary, summary_markdown
from graphkd.core.losses import KDLoss
from graphkd.core.losses.node import node_type_weights, roi_node_loss, roi_roles

TEXT, NONTEXT, BG = int(NodeType.TEXT), int(NodeType.NONTEXT), int(NodeType.BG)


def test_roi_node_loss_matches_dsig_formula():
    # image 0: 2 fg RoIs (weights 1, 0.5), 2 bg RoIs; image 1: 1 fg, 1 bg, 1 left out.
    t = torch.zeros(7, 3)
    s = torch.tensor([[1.0] * 3, [2.0] * 3, [3.0] * 3, [1.0] * 3, [1.0] * 3, [2.0] * 3, [9.0] * 3])
    image = torch.tensor([0, 0, 0, 0, 1, 1, 1])
    role = torch.tensor([TEXT, NONTEXT, BG, BG, NONTEXT, BG, -1])
    w = torch.tensor([1.0, 0.5, 0.0, 0.0, 1.0, 0.0, 0.0])
    got = roi_node_loss(t, s, image, role, w, 2, bg_alpha=2.0)
    img0 = (1 * 1 + 0.5 * 4) / 2 + 2.0 * 2 / 2 * (9 + 1) / 2
    img1 = 1.0 / 1 + 2.0 * 1 / 1 * 4 / 1
    assert got.item() == pytest.approx((img0 + img1) / 2)


def test_roi_node_loss_zero_for_equal_features_and_connected():
    x = torch.randn(5, 4)
    s = x.clone().requires_grad_(True)
    role = torch.tensor([TEXT, NONTEXT, BG, BG, -1])
    loss = roi_node_loss(x, s, torch.zeros(5, dtype=torch.long), role, torch.ones(5), 1)
    assert loss.item() == 0.0
    loss.backward()
    assert s.grad is not None


def test_roi_roles_mined_vs_all():
    # Two images; image 0: RoIs 0,1 -> node 0 (text, merged), RoI 2 bg not mined;
    # image 1: RoI 3 -> node 0 (nontext), RoI 4 -> node 1 (mined bg), RoI 5 bg not mined.
    g0 = Data(node_type=torch.tensor([TEXT]), cluster=torch.tensor([0, 0, -1]), num_nodes=1)
    g1 = Data(node_type=torch.tensor([NONTEXT, BG]), cluster=torch.tensor([0, 1, -1]), num_nodes=2)
    batch = Batch.from_data_list([g0, g1])
    image = torch.tensor([0, 0, 0, 1, 1, 1])
    is_bg = torch.tensor([False, False, True, False, True, True])
    w_node = torch.tensor([0.3, 1.0, 0.7])
    role, w = roi_roles(batch, image, is_bg, w_node, "mined")
    assert role.tolist() == [TEXT, TEXT, -1, NONTEXT, BG, -1]
    assert w.tolist() == pytest.approx([0.3, 0.3, 0.0, 1.0, 0.7, 0.0])
    role, _ = roi_roles(batch, image, is_bg, w_node, "all")
    assert role.tolist() == [TEXT, TEXT, BG, NONTEXT, BG, BG]


def _pair(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    feats = [torch.randn(6, 4, 2, 2, generator=g) for _ in range(2)]
    boxes = [torch.tensor([[0.0, 10 * i, 50, 10 * i + 8] for i in range(6)]) for _ in range(2)]
    classes = [torch.tensor([0, 0, 1, 1, 2, 2]), torch.tensor([0, 0, 0, 1, 2, 2])]
    inst = [torch.tensor([0, 0, 1, 2, -1, -1]), torch.tensor([0, 1, 1, 2, -1, -1])]
    builder = GraphBuilder([0], 2, teacher_channels=4, student_channels=4, merge_ratio=None)
    student = [f + 0.1 * torch.randn(f.shape, generator=g) for f in feats]
    t, s = builder.build_pair(feats, student, boxes, classes, inst, update_stats=False)
    rois = dict(
        teacher_rois=torch.cat(feats),
        student_rois=torch.cat(student),
        roi_image=torch.tensor([0] * 6 + [1] * 6),
        roi_is_bg=torch.cat([i < 0 for i in inst]),
    )
    return t, s, rois


def test_image_reduction_sum_is_batch_size_times_mean():
    t, s, rois = _pair()
    common = dict(node_reduce="roi", bg_rois="all", adapter="when_needed")
    mean = KDLoss({**common, "image_reduction": "mean"}, student_channels=4, teacher_channels=4)
    total = KDLoss({**common, "image_reduction": "sum"}, student_channels=4, teacher_channels=4)
    a, b = mean(t, s, **rois), total(t, s, **rois)
    for key in ("loss_kd_node", "loss_kd_edge", "loss_kd_struct"):
        assert b[key].item() == pytest.approx(2 * a[key].item())


def test_roi_reduce_needs_the_rois():
    t, s, _ = _pair()
    loss = KDLoss({"node_reduce": "roi"}, student_channels=4, teacher_channels=4)
    with pytest.raises(ValueError, match="roi_image"):
        loss(t, s)


def test_unknown_option_values_fail_early():
    with pytest.raises(ValueError, match="node_reduce"):
        KDLoss({"node_reduce": "cluster"})
    with pytest.raises(ValueError, match="image_reduction"):
        KDLoss({"image_reduction": "max"})


def test_text_only_weight():
    node_type = torch.tensor([TEXT, TEXT, TEXT, NONTEXT])
    batch = torch.tensor([0, 0, 1, 1])
    default = node_type_weights(node_type, batch, 2)
    fixed = node_type_weights(node_type, batch, 2, text_only_weight=1.0)
    assert default.tolist() == pytest.approx([0.1, 0.1, 1.0, 1.0])  # page 0 has no non-text
    assert fixed.tolist() == pytest.approx([1.0, 1.0, 1.0, 1.0])


def test_text_only_page_keeps_step_a_nodes():
    z = torch.randn(5, 3, generator=torch.Generator().manual_seed(0))
    node_type = torch.full((5,), TEXT)
    inst = torch.tensor([0, 0, 1, 2, 3])
    merged = merge_text_nodes(z, node_type, inst, ratio=1.0)
    kept = merge_text_nodes(z, node_type, inst, ratio=1.0, merge_text_only=False)
    assert merged.num_nodes == 1  # kd=graphkd_paper: all text of the page in one node
    assert kept.num_nodes == 4 and kept.merges_step_b == 0


def test_student_momentum_only_for_the_student():
    b = GraphBuilder([0], 2, teacher_channels=4, student_channels=4, student_momentum=0.05)
    assert b.teacher_stats.momentum is None and b.student_stats.momentum == 0.05
    b = GraphBuilder(
        [0], 2, teacher_channels=4, student_channels=4, momentum=0.1, student_momentum=None
    )
    assert b.teacher_stats.momentum == b.student_stats.momentum == 0.1


def test_paired_summary():
    aps = {"none": {0: 30.0, 1: 32.0, 2: 28.0}, "kd": {0: 33.0, 1: 31.0, 2: 34.0}}
    out = paired_summary(70.0, aps)
    kd = out["kd"]
    assert kd["diff"] == {0: 3.0, 1: -1.0, 2: 6.0}
    assert kd["wins"] == 2 and kd["n_paired"] == 3
    assert kd["diff_mean"] == pytest.approx(8 / 3)
    assert kd["gap_closed"] == pytest.approx((kd["mean"] - 30.0) / (70.0 - 30.0))
    assert math.isnan(paired_summary(20.0, aps)["kd"]["gap_closed"])  # teacher below baseline
    md = summary_markdown(70.0, out, "none")
    assert "| kd=kd | 33.0 | 31.0 | 34.0 |" in md and "2/3" in md
    with pytest.raises(ValueError, match="baseline"):
        paired_summary(70.0, {"kd": {0: 1.0}})


def test_run_compare_pairs_runs_and_writes_its_files(tmp_path, monkeypatch):
    # The jobs are graphkd.apps.jobs' (tested in test_demo_reuse); here: which jobs, in which order,
    # and the files.
    from types import SimpleNamespace

    from graphkd.apps import compare, jobs

    cfg = SimpleNamespace(
        trainer=SimpleNamespace(max_iter=200),
        pair=SimpleNamespace(student=SimpleNamespace(backbone="R18"),
                             teacher=SimpleNamespace(backbone="R50")),
        dataset=SimpleNamespace(name="synthetic", num_val=128),
    )  # fmt: skip
    data = SimpleNamespace(classes=("text", "title", "list", "table", "figure"))
    calls = []

    def student(overrides, kd, seed, run_dir):
        calls.append((kd, seed, run_dir))
        return {"AP": {"none": 30.0, "dsig": 40.0, "graphkd": 41.0}[kd] + seed, "per_class": {}}

    monkeypatch.setattr(jobs, "ensure_teacher", lambda overrides: (cfg, data, {"AP": 70.0}))
    monkeypatch.setattr(jobs, "ensure_student", student)
    path = compare.run_compare(["dsig", "graphkd"], [0, 1], outputs=str(tmp_path))
    assert [(kd, s) for kd, s, _ in calls] == [
        ("none", 0), ("dsig", 0), ("graphkd", 0), ("none", 1), ("dsig", 1), ("graphkd", 1)
    ]  # fmt: skip
    assert calls[0][2] == str(tmp_path / "demo" / "runs" / "none" / "seed0")
    text = path.read_text()
    assert "| kd=graphkd | 41.0 | 42.0 |" in text and "+11.0, +11.0" in text
    saved = json.loads((tmp_path / "compare" / "compare.json").read_text())
    assert saved["summary"]["graphkd"]["gap_closed"] == pytest.approx(11.0 / 39.5)
