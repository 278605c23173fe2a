"""graph.examples.region_classification: the example's training loop on synthetic region graphs
(no detectron2)."""

from __future__ import annotations

import pytest
import torch
from conftest import NUM_CLASSES, PAPER_GRAPH, TEXT_CLASSES, synth_image

from graph import GraphBuilder
from graph.examples.region_classification import (
    CONVS,
    RegionClassifier,
    evaluate,
    fit,
    node_inputs,
    node_labels,
    topk_edges,
)

C = 8


def _pages(n_pages: int, seed: int) -> tuple[list, list, list]:
    ims = [
        synth_image(12 + 3 * i, n_inst=12, channels=C, seed=seed + i, bg_frac=0.0)
        for i in range(n_pages)
    ]
    return tuple([im[k] for im in ims] for k in ("teacher_features", "boxes", "gt_classes"))


def _tensors(gb: GraphBuilder, pages, update_stats: bool, topk: int = 0):
    feats, boxes, classes = pages
    g = gb.build(feats, [b / 150 for b in boxes], classes, update_stats=update_stats)
    ei, sim = topk_edges(g, topk)
    return node_inputs(g), ei, sim, node_labels(g, torch.cat(classes))


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny models: one thread (2 OpenMP threads on a busy 2-core machine were 40x slower)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def data():
    gb = GraphBuilder(TEXT_CLASSES, NUM_CLASSES, teacher_channels=C, merge=False, **PAPER_GRAPH)
    _tensors(gb, _pages(6, seed=0), update_stats=True)  # statistics warm-up
    return _tensors(gb, _pages(6, seed=0), False), _tensors(gb, _pages(3, seed=50), False)


@pytest.mark.parametrize("conv", CONVS)
def test_training_loop_decreases_the_loss_deterministically(data, conv):
    train, val = data
    assert train[0].shape[1] == C + 8 and train[3].numel() == train[0].shape[0]
    runs = []
    for _ in range(2):
        torch.manual_seed(0)
        model = RegionClassifier(train[0].shape[1], NUM_CLASSES, conv=conv, hidden=32)
        runs.append(fit(model, train, val, epochs=15, lr=0.01, seed=0))
    a, b = runs
    assert a.losses == b.losses and a.val == b.val  # deterministic
    assert a.losses[-1] < 0.7 * a.losses[0]
    assert 0.0 <= a.val["accuracy"] <= 1.0 and len(a.val["recall"]) <= NUM_CLASSES


def test_gnn_uses_edges_and_mlp_does_not(data):
    (x, ei, sim, _), _ = data
    torch.manual_seed(0)
    gnn = RegionClassifier(x.shape[1], NUM_CLASSES, conv="gcn", hidden=16).eval()
    mlp = RegionClassifier(x.shape[1], NUM_CLASSES, conv="none", hidden=16).eval()
    no_edges = ei[:, :0], sim[:0]
    assert not torch.allclose(gnn(x, ei, sim), gnn(x, *no_edges))
    torch.testing.assert_close(mlp(x, ei, sim), mlp(x, *no_edges))


def test_topk_edges_keeps_the_most_similar_out_edges(data):
    gb = GraphBuilder(TEXT_CLASSES, NUM_CLASSES, teacher_channels=C, merge=False)
    feats, boxes, classes = _pages(2, seed=3)
    g = gb.build(feats, boxes, classes)
    ei, sim = topk_edges(g, 3)
    assert torch.equal(torch.bincount(ei[0], minlength=g.num_nodes), torch.full((g.num_nodes,), 3))
    for node in (0, 7, int(g.num_nodes) - 1):
        out = g.edge_sim[g.edge_index[0] == node]
        torch.testing.assert_close(sim[ei[0] == node], out.sort(descending=True).values[:3])
    assert topk_edges(g, 0)[0] is g.edge_index


def test_node_labels_and_evaluate():
    gb = GraphBuilder(TEXT_CLASSES, NUM_CLASSES, teacher_channels=C, merge_ratio=None)
    feats, boxes, classes = _pages(1, seed=4)
    n = classes[0].numel()
    text = torch.arange(n) % 2  # text and title alternate; pairs are one instance: merged
    g = gb.build(feats, boxes, [text], [torch.arange(n) // 2])
    with pytest.raises(ValueError, match="merge=False"):
        node_labels(g, text)
    model = RegionClassifier(2, 3, conv="none")
    model.head.weight.data.zero_()
    model.head.bias.data = torch.tensor([0.0, 1.0, 0.0])  # always predicts class 1
    y = torch.tensor([1, 1, 0, 2])
    m = evaluate(model, torch.zeros(4, 2), torch.zeros(2, 0, dtype=torch.long), torch.zeros(0), y)
    assert m["accuracy"] == 0.5 and m["recall"] == [0.0, 1.0, 0.0] and m["support"] == [1, 2, 1]
    assert m["macro_f1"] == pytest.approx((0 + 2 * 2 / (2 + 4) + 0) / 3)
