"""The naive reference of the graph-construction benchmark (:mod:`.graph_build`).

It builds the same graph as :meth:`graph.GraphBuilder.build_pair` for one image with Python loops
over RoIs and node pairs, float64 descriptors and an explicit covariance inverse: slow, but easy
to check by eye, so the benchmark can also verify that the vectorised builder agrees with it.
"""

from __future__ import annotations

import math
import statistics

import torch
from torch import Tensor

from graph import GraphBuilder, NodeType

__all__ = ["NUM_CLASSES", "TEXT_CLASSES", "naive_image"]

NUM_CLASSES = 5
TEXT_CLASSES = (0, 1, 2)


def _maha(a: Tensor, b: Tensor, precision: Tensor) -> float:
    d = a - b
    return math.sqrt(max(float(d @ precision @ d), 0.0))


def _kinds_and_kept(
    gb: GraphBuilder, gt_classes: Tensor, gt_instance: Tensor, bg_prob: Tensor
) -> tuple[list[NodeType], list[bool]]:
    """Per RoI: its node type and whether it becomes a node (fg, or bg mined by the teacher's
    background CE >= ``bg_threshold``; no top-k cap)."""
    kinds, keep = [], []
    for i in range(len(gt_classes)):
        fg = int(gt_instance[i]) >= 0 and int(gt_classes[i]) < NUM_CLASSES
        if fg and int(gt_classes[i]) in TEXT_CLASSES:
            kinds.append(NodeType.TEXT)
        else:
            kinds.append(NodeType.NONTEXT if fg else NodeType.BG)
        ce = -math.log(max(float(bg_prob[i]), 1e-12))
        keep.append(fg or ce >= gb.cfg.bg_threshold)
    return kinds, keep


def _clusters(
    gb: GraphBuilder, kinds: list, keep: list[bool], gt_instance: Tensor, zt: list, p_t: Tensor
) -> list[list[int]]:
    """RoI index lists of the nodes, sorted by their first RoI."""
    # Step A: text RoIs of one GT instance -> one cluster.
    clusters, by_inst = [], {}
    for i in range(len(kinds)):
        if not keep[i]:
            continue
        if kinds[i] == NodeType.TEXT:
            g = int(gt_instance[i])
            if g in by_inst:
                by_inst[g].append(i)
                continue
            by_inst[g] = [i]
            clusters.append(by_inst[g])
        else:
            clusters.append([i])
    # Step B: merge the closest pair of text clusters (centroid distance) while over the ratio.
    n_nontext = sum(kinds[c[0]] == NodeType.NONTEXT for c in clusters)
    target = max(gb.min_text_nodes, int(gb.cfg.merge_ratio * n_nontext + 1e-9))
    while sum(kinds[c[0]] == NodeType.TEXT for c in clusters) > target:
        text = [c for c in clusters if kinds[c[0]] == NodeType.TEXT]
        cents = [sum(zt[i] for i in c) / len(c) for c in text]
        best = None
        for a in range(len(text)):
            for b in range(len(text)):
                if a != b:
                    d = _maha(cents[a], cents[b], p_t)
                    if best is None or d < best[0]:
                        best = (d, a, b)
        _, a, b = best
        text[a].extend(text[b])
        clusters.remove(text[b])
    return sorted((sorted(c) for c in clusters), key=lambda c: c[0])


def _edges(clusters: list[list[int]], z: list, precision: Tensor) -> dict:
    """(i, j) -> (Mahalanobis distance, similarity exp(-d^2 / (2 median d^2))) of the nodes."""
    nodes = [sum(z[i] for i in c) / len(c) for c in clusters]
    d = {}
    for i in range(len(nodes)):
        for j in range(len(nodes)):
            if i != j:
                d[i, j] = _maha(nodes[i], nodes[j], precision)
    med = statistics.median_low([v * v for v in d.values()]) if d else 0.0
    return {k: (v, math.exp(-v * v / (2 * med)) if med > 0 else 1.0) for k, v in d.items()}


def naive_image(gb: GraphBuilder, tf, sf, boxes, gt_classes, gt_instance, bg_prob) -> tuple:
    """The graph pair of one image, naively: features ``tf`` / ``sf`` (N, C, 7, 7), ``boxes``
    (N, 4), ``gt_classes`` / ``gt_instance`` / ``bg_prob`` (N,), under ``gb``'s statistics.

    Returns:
        (RoI -> node index list, teacher edges, student edges, teacher node features, student
        node features); edges map (i, j) to (distance, similarity).
    """
    n = tf.shape[0]
    zt = [tf[i].double().mean((1, 2)) for i in range(n)]
    zs = [sf[i].double().mean((1, 2)) for i in range(n)]
    p_t = torch.linalg.inv(gb.teacher_stats.covariance())
    p_s = torch.linalg.inv(gb.student_stats.covariance())
    kinds, keep = _kinds_and_kept(gb, gt_classes, gt_instance, bg_prob)
    clusters = _clusters(gb, kinds, keep, gt_instance, zt, p_t)
    cluster = [-1] * n
    for k, c in enumerate(clusters):
        for i in c:
            cluster[i] = k
    x_t = [tf[c].flatten(1).mean(0) for c in clusters]  # pooled node features (loss inputs)
    x_s = [sf[c].flatten(1).mean(0) for c in clusters]
    return cluster, _edges(clusters, zt, p_t), _edges(clusters, zs, p_s), x_t, x_s
