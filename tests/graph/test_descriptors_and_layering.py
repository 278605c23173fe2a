"""Descriptors, package layering (no detectron2) and the public API surface."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import NUM_CLASSES, TEXT_CLASSES, synth_batch

import graph
from graph import GraphBuilder, descriptor_dim, node_descriptors

GRAPH_DIR = Path(graph.__file__).resolve().parent


def test_node_descriptors():
    f = torch.randn(5, 4, 7, 7, requires_grad=True)
    z = node_descriptors(f)
    torch.testing.assert_close(z, f.mean((2, 3)))
    zm = node_descriptors(f, "meanmax")
    assert zm.shape == (5, 8) and descriptor_dim(4, "meanmax") == 8
    torch.testing.assert_close(zm[:, 4:], f.amax((2, 3)))
    zm.sum().backward()
    assert f.grad is not None
    assert node_descriptors(torch.zeros(0, 4, 7, 7), "meanmax").shape == (0, 8)
    with pytest.raises(ValueError, match="descriptor kind"):
        node_descriptors(f, "median")
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        node_descriptors(torch.zeros(3, 4, 7))


def test_builder_with_meanmax_descriptor():
    gb = GraphBuilder(
        TEXT_CLASSES, NUM_CLASSES, teacher_channels=16, student_channels=16, descriptor="meanmax"
    )
    t, s = gb.build_pair(**synth_batch(sizes=(20, 12), channels=16))
    assert t.z.shape[1] == 32 and gb.teacher_stats.dim == 32
    assert torch.isfinite(s.edge_dist).all() and torch.isfinite(s.edge_sim).all()


def test_graph_never_imports_detectron2():
    for path in GRAPH_DIR.glob("*.py"):
        text = path.read_text()
        assert "import detectron2" not in text and "from detectron2" not in text, path
    code = "import sys, graph; assert not any(m.startswith('detectron2') for m in sys.modules)"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=GRAPH_DIR.parent)


def test_public_api_from_contract():
    for name in (
        "NodeType",
        "EdgeType",
        "GaussianStats",
        "pairwise_mahalanobis",
        "batched_pairwise_mahalanobis",
        "node_descriptors",
        "mine_hard_background",
        "merge_text_nodes",
        "GraphBuilder",
    ):
        assert hasattr(graph, name), name
    assert [int(graph.NodeType.TEXT), int(graph.NodeType.NONTEXT), int(graph.NodeType.BG)] == [
        0,
        1,
        2,
    ]
    assert [int(e) for e in graph.EdgeType] == [0, 1, 2]
