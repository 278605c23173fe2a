"""Instance graphs: nodes, complete directed edges with [distance, similarity, type] attributes.

:func:`build_instance_graph` builds one image's graph; :class:`GraphBuilder` builds the teacher
and the student graph of a batch of images with identical node sets (clusters come from the
teacher and are applied to both), keeps their running :class:`GaussianStats`, and records
per-batch diagnostics in ``last_stats``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.data import Batch, Data

from .descriptors import descriptor_dim, node_descriptors
from .gaussian_stats import GaussianStats
from .mahalanobis import batched_pairwise_mahalanobis, pairwise_mahalanobis
from .merging import MergeResult, merge_text_nodes, pool_by_cluster, union_boxes
from .mining import mine_hard_background
from .types import NodeType, check_finite, edge_types

__all__ = [
    "EDGE_METRICS",
    "SPLIT_MODES",
    "complete_edge_index",
    "similarity_from_distance",
    "build_instance_graph",
    "GraphBuilder",
]

EDGE_METRICS = ("mahalanobis", "cosine")
SPLIT_MODES = ("gt", "covariance", "none")


def complete_edge_index(num_nodes: int, device: torch.device | str | None = None) -> Tensor:
    """(2, n(n-1)) long edge_index of the complete directed graph, row-major (i, j), i != j."""
    off_diag = ~torch.eye(num_nodes, dtype=torch.bool, device=device)
    return off_diag.nonzero().t().contiguous()


def similarity_from_distance(dist: Tensor, self_loop: Tensor | None = None) -> Tensor:
    """Bounded similarity s = exp(-d^2 / (2 median(d^2))) of one graph's edge distances.

    The bandwidth median(d^2) is taken over non-self-loop edges and detached (it is a scale, not
    a signal); when it is 0 (all descriptors identical) every similarity is 1.

    Args:
        dist: (E,) edge distances of one graph.
        self_loop: optional (E,) bool, self-loop edges excluded from the median.

    Returns:
        (E,) in (0, 1].
    """
    sq = dist * dist
    ref = sq if self_loop is None else sq[~self_loop]
    if ref.numel() == 0:
        return torch.ones_like(dist)
    bw = 2 * ref.detach().median()
    tiny = torch.finfo(dist.dtype).tiny
    return torch.where(bw > tiny, torch.exp(-sq / bw.clamp_min(tiny)), torch.ones_like(sq))


def _edges(
    num_nodes: int, node_type: Tensor, loops_on: Tensor | None
) -> tuple[Tensor, Tensor, Tensor]:
    """edge_index (2, E), edge type (E,), self-loop mask (E,) for one graph."""
    device = node_type.device
    ei = complete_edge_index(num_nodes, device)
    if loops_on is not None and bool(loops_on.any()):
        loop = loops_on.nonzero().flatten()
        ei = torch.cat([ei, torch.stack([loop, loop])], dim=1)
    etype = edge_types(node_type, ei)
    return ei, etype, ei[0] == ei[1]


def _edge_attr(
    pair: Tensor, edge_index: Tensor, etype: Tensor, self_loop: Tensor, metric: str
) -> Tensor:
    """(E, 3) [distance, similarity, edge type] from a dense (n, n) distance or cosine matrix."""
    vals = pair[edge_index[0], edge_index[1]]
    if metric == "cosine":
        sim, dist = vals, (1 - vals).clamp_min(0)
    else:
        dist = vals
        sim = similarity_from_distance(dist, self_loop)
    dist = torch.where(self_loop, torch.zeros_like(dist), dist)
    sim = torch.where(self_loop, torch.ones_like(sim), sim)
    return torch.stack([dist, sim, etype.to(dist.dtype)], dim=1)


def _cosine_matrix(x: Tensor) -> Tensor:
    """(n, n) cosine similarity of flattened node features (DSIG's edges)."""
    xn = F.normalize(x, dim=1, eps=1e-12)
    return xn @ xn.T


def _make_data(
    x: Tensor,
    z: Tensor,
    box: Tensor,
    node_type: Tensor,
    cluster: Tensor,
    cluster_size: Tensor,
    pair: Tensor,
    metric: str,
    self_loops_on_merged: bool,
) -> Data:
    n = x.shape[0]
    loops_on = (cluster_size > 1) & (node_type == NodeType.TEXT) if self_loops_on_merged else None
    ei, etype, self_loop = _edges(n, node_type, loops_on)
    return Data(
        x=x,
        z=z,
        box=box,
        node_type=node_type,
        cluster=cluster,
        cluster_size=cluster_size,
        edge_index=ei,
        edge_attr=_edge_attr(pair, ei, etype, self_loop, metric),
        num_nodes=n,
        num_rois=cluster.shape[0],
    )


def build_instance_graph(
    features: Tensor,
    boxes: Tensor,
    node_type: Tensor,
    stats: GaussianStats | Tensor | None = None,
    cluster: Tensor | None = None,
    edge_metric: str = "mahalanobis",
    descriptor: str = "mean",
    self_loops_on_merged: bool = False,
) -> Data:
    """Instance graph of one image.

    Args:
        features: (N, C, H, W) pooled RoI features (gradients are kept).
        boxes: (N, 4) x1, y1, x2, y2.
        node_type: (N,) long NodeType per RoI (all RoIs of one cluster must share it).
        stats: covariance for the Mahalanobis edges (:class:`GaussianStats`, (D, D) tensor, or
            None = Euclidean). Unused for edge_metric="cosine".
        cluster: (N,) long RoI -> node or -1 (dropped), e.g. ``merge_text_nodes(...).cluster``;
            default: every RoI is its own node.
        edge_metric: "mahalanobis" (on descriptors) or "cosine" (on flattened features, DSIG).
        descriptor: node descriptor kind, see :func:`node_descriptors`.
        self_loops_on_merged: add a self loop (distance 0, similarity 1) on merged text nodes.

    Returns:
        Data with x (n, C*H*W) (scatter mean over each cluster), z (n, D), box (n, 4) (union),
        node_type (n,), cluster (N,), cluster_size (n,), edge_index (2, E), edge_attr (E, 3) =
        [distance, similarity, edge type], num_nodes = n, num_rois = N.
    """
    if edge_metric not in EDGE_METRICS:
        raise ValueError(f"edge_metric={edge_metric!r} is not supported; use one of {EDGE_METRICS}")
    if features.dim() != 4:
        raise ValueError(f"features must be (N, C, H, W), got {tuple(features.shape)}")
    N = features.shape[0]
    if boxes.shape != (N, 4) or node_type.shape != (N,):
        raise ValueError(
            f"boxes must be ({N}, 4) and node_type ({N},), got {tuple(boxes.shape)}, "
            f"{tuple(node_type.shape)}"
        )
    check_finite(features, "features")
    check_finite(boxes, "boxes")
    if cluster is None:
        cluster = torch.arange(N, device=features.device)
    n = int(cluster.max()) + 1 if N and bool((cluster >= 0).any()) else 0
    x = pool_by_cluster(features.flatten(1), cluster, n)
    z = pool_by_cluster(node_descriptors(features, descriptor), cluster, n)
    size = pool_by_cluster(torch.ones_like(cluster), cluster, n, reduce="sum")
    ntype = pool_by_cluster(node_type.long(), cluster, n, reduce="min")
    if edge_metric == "cosine":
        pair = _cosine_matrix(x)
    else:
        pair = pairwise_mahalanobis(z, stats)
    box = union_boxes(boxes.to(features.dtype), cluster, n)
    return _make_data(x, z, box, ntype, cluster, size, pair, edge_metric, self_loops_on_merged)


def _text_lookup(text_classes: Sequence[int] | Tensor, num_classes: int | None) -> Tensor:
    t = torch.as_tensor(text_classes)
    if t.dtype == torch.bool:
        idx = t.nonzero().flatten()
    else:
        idx = t.long().flatten()
    size = max(int(idx.max()) + 1 if idx.numel() else 1, (num_classes or 0) + 1)
    if num_classes is not None and idx.numel() and int(idx.max()) >= num_classes:
        raise ValueError(
            f"text_classes {idx.tolist()} must be class indices < num_classes={num_classes}"
        )
    lut = torch.zeros(size, dtype=torch.bool)
    lut[idx] = True
    return lut


class GraphBuilder(nn.Module):
    """Builds teacher and student instance graphs of a batch with identical node sets.

    Per image: nodes = all fg RoIs + hard bg RoIs (:func:`mine_hard_background` on the teacher's
    background probability; without it bg RoIs are dropped); text / non-text split by GT
    (``split_mode="gt"``), by the teacher covariance LDA rule (``"covariance"``; GT split while the
    teacher statistics are not ready), or no split (``"none"``: all fg nodes non-text, as DSIG);
    text clusters from the teacher (:func:`merge_text_nodes`); complete directed edges with
    [distance, similarity, type].

    Statistics: ``teacher_stats`` is updated with teacher descriptors of GT-labelled fg RoIs,
    ``student_stats`` with detached student descriptors of the same RoIs (same labels). Until a
    statistics module has ``min_samples`` samples its covariance is the identity, so early edges
    are Euclidean (see :class:`GaussianStats`). Updates happen before the graphs are built.

    After each :meth:`build_pair`, ``last_stats`` holds Python numbers for logging: num_images,
    num_rois, num_fg, num_bg_rois, num_bg_kept, num_nodes, num_text_nodes, num_nontext_nodes,
    num_bg_nodes, num_edges, merges_step_a, merges_step_b, split_source ("gt", "covariance",
    "gt_fallback", "none"), split_agreement (fraction of fg RoIs where the covariance rule agrees
    with GT; NaN while the teacher statistics are not ready), teacher_stats_samples,
    student_stats_samples, teacher_stats_ready, student_stats_ready.

    Args:
        text_classes: class indices (or a bool mask over classes) that count as text.
        num_classes: K; gt_classes == K (or gt_instance == -1) marks background RoIs.
        teacher_channels, student_channels: C of the pooled features (sets the statistics' D).
        descriptor: "mean" or "meanmax" (:func:`node_descriptors`).
        split_mode: "gt", "covariance" or "none".
        merge: pool text RoIs of one GT instance (step A) and, if ``merge_ratio`` is not None,
            merge text clusters adaptively (step B).
        merge_ratio: target text / non-text node ratio for step B (None: step A only).
        min_text_nodes: step B keeps at least this many text nodes.
        merge_text_only: run step B on pages without non-text nodes (all their text then merges
            down to ``min_text_nodes``); False keeps step-A nodes there.
        edge_metric: "mahalanobis" or "cosine" (DSIG: cosine of flattened node features).
        bg_threshold, bg_topk: hard background mining (teacher CE vs background >= threshold).
        self_loops_on_merged: self loops on merged text nodes.
        shrinkage, momentum, min_samples: passed to both :class:`GaussianStats`.
        student_momentum: the student statistics' momentum when it should differ from the
            teacher's (the teacher is frozen, so exact running moments suit it; the student
            drifts, so an EMA forgets its random-init past). None: ``momentum``.
        check_inputs: validate shapes and finiteness (ValueError on NaN / Inf).
    """

    def __init__(
        self,
        text_classes: Sequence[int] | Tensor = (),
        num_classes: int | None = None,
        *,
        teacher_channels: int = 256,
        student_channels: int = 256,
        descriptor: str = "mean",
        split_mode: str = "gt",
        merge: bool = True,
        merge_ratio: float | None = 1.0,
        min_text_nodes: int = 1,
        merge_text_only: bool = True,
        edge_metric: str = "mahalanobis",
        bg_threshold: float = 0.6,
        bg_topk: int | None = None,
        self_loops_on_merged: bool = False,
        shrinkage: str | float = "ledoit_wolf",
        momentum: float | None = None,
        student_momentum: float | None = None,
        min_samples: int | None = None,
        check_inputs: bool = True,
    ) -> None:
        super().__init__()
        if split_mode not in SPLIT_MODES:
            raise ValueError(
                f"split_mode={split_mode!r} is not supported; use one of {SPLIT_MODES}"
            )
        if edge_metric not in EDGE_METRICS:
            raise ValueError(
                f"edge_metric={edge_metric!r} is not supported; use one of {EDGE_METRICS}"
            )
        self.register_buffer("text_lut", _text_lookup(text_classes, num_classes), persistent=False)
        self.num_classes = num_classes
        self.teacher_channels = teacher_channels
        self.student_channels = student_channels
        self.descriptor = descriptor
        self.split_mode = split_mode
        self.merge = merge
        self.merge_ratio = merge_ratio
        self.min_text_nodes = min_text_nodes
        self.merge_text_only = merge_text_only
        self.edge_metric = edge_metric
        self.bg_threshold = bg_threshold
        self.bg_topk = bg_topk
        self.self_loops_on_merged = self_loops_on_merged
        self.check_inputs = check_inputs
        kw = dict(shrinkage=shrinkage, min_samples=min_samples)
        s_momentum = momentum if student_momentum is None else student_momentum
        self.teacher_stats = GaussianStats(
            descriptor_dim(teacher_channels, descriptor), momentum=momentum, **kw
        )
        self.student_stats = GaussianStats(
            descriptor_dim(student_channels, descriptor), momentum=s_momentum, **kw
        )
        self.last_stats: dict[str, float | int | str | bool] = {}

    @property
    def needs_stats(self) -> bool:
        """Whether the running statistics are used (Mahalanobis edges or covariance split)."""
        return self.edge_metric == "mahalanobis" or self.split_mode == "covariance"

    # ------------------------------------------------------------------ helpers
    def _validate(self, tf, sf, boxes, gt_classes, gt_instance, bg_prob) -> None:
        B = len(tf)
        for name, lst in (
            ("student_features", sf),
            ("boxes", boxes),
            ("gt_classes", gt_classes),
            ("gt_instance", gt_instance),
        ) + ((("teacher_bg_prob", bg_prob),) if bg_prob is not None else ()):
            if len(lst) != B:
                raise ValueError(f"{name} has {len(lst)} images but teacher_features has {B}")
        for i in range(B):
            N = tf[i].shape[0]
            for name, t, shape in (
                ("teacher_features", tf[i], (N, self.teacher_channels, None, None)),
                ("student_features", sf[i], (N, self.student_channels, None, None)),
                ("boxes", boxes[i], (N, 4)),
                ("gt_classes", gt_classes[i], (N,)),
                ("gt_instance", gt_instance[i], (N,)),
                ("teacher_bg_prob", None if bg_prob is None else bg_prob[i], (N,)),
            ):
                if t is None:
                    continue
                ok = t.dim() == len(shape) and all(
                    s is None or s == d for s, d in zip(shape, t.shape)
                )
                if not ok:
                    want = tuple("*" if s is None else s for s in shape)
                    raise ValueError(
                        f"{name}[{i}] has shape {tuple(t.shape)}, expected {want} (N = number of "
                        "RoIs of the image from teacher_features; C from teacher/student_channels)"
                    )
                check_finite(t, f"{name}[{i}]")
            if self.num_classes is not None and N and int(gt_classes[i].max()) > self.num_classes:
                raise ValueError(
                    f"gt_classes[{i}] has class {int(gt_classes[i].max())} > num_classes="
                    f"{self.num_classes} (the background index)"
                )

    def _roles(self, gt_classes: Tensor, gt_instance: Tensor) -> tuple[Tensor, Tensor]:
        """(is_bg, is_text_gt) per RoI."""
        is_bg = gt_instance < 0
        if self.num_classes is not None:
            is_bg = is_bg | (gt_classes >= self.num_classes)
        lut = self.text_lut.to(gt_classes.device)
        cls = gt_classes.clamp(0, lut.numel() - 1)
        is_text = ~is_bg & lut[cls] & (gt_classes < lut.numel())
        return is_bg, is_text

    # -------------------------------------------------------------------- main
    def build_pair(
        self,
        teacher_features: list[Tensor],
        student_features: list[Tensor],
        boxes: list[Tensor],
        gt_classes: list[Tensor],
        gt_instance: list[Tensor],
        teacher_bg_prob: list[Tensor] | None = None,
        update_stats: bool = True,
    ) -> tuple[Batch, Batch]:
        """Teacher and student graphs of a batch with identical node order and edges.

        Args:
            teacher_features: per image (N_i, C_t, H, W) pooled teacher RoI features (detached).
            student_features: per image (N_i, C_s, H, W) pooled student RoI features (keep grad).
            boxes: per image (N_i, 4) RoI boxes.
            gt_classes: per image (N_i,) long in [0, K], K = background.
            gt_instance: per image (N_i,) long matched GT instance, -1 for background.
            teacher_bg_prob: per image (N_i,) teacher background probability (for mining), or
                None to drop all background RoIs.
            update_stats: update the running statistics with this batch first.

        Returns:
            (teacher, student) Batches; same node_type, cluster, cluster_size, edge_index and
            edge-type column; the teacher's tensors have no autograd history. ``cluster`` holds
            per-image node indices (-1 = dropped RoI) and is not offset in the Batch.
        """
        if len(teacher_features) == 0:
            raise ValueError("build_pair got no images (empty teacher_features list)")
        if self.check_inputs:
            self._validate(
                teacher_features, student_features, boxes, gt_classes, gt_instance, teacher_bg_prob
            )
        B = len(teacher_features)
        tf = [f.detach() for f in teacher_features]
        counts = [int(f.shape[0]) for f in tf]
        zt = torch.cat([node_descriptors(f, self.descriptor) for f in tf])
        zs = torch.cat([node_descriptors(f, self.descriptor) for f in student_features])
        roles = [self._roles(c, g) for c, g in zip(gt_classes, gt_instance)]

        if update_stats and self.needs_stats:
            fg = torch.cat([~r[0] for r in roles])
            txt = torch.cat([r[1] for r in roles])[fg]
            self.teacher_stats.update(zt[fg], txt)
            self.student_stats.update(zs.detach()[fg], txt)

        # Whiten every RoI once per model (one triangular solve each): whitening is affine, so
        # pooled whitened RoIs are whitened node descriptors and all distances are Euclidean.
        wt = self.teacher_stats.whiten(zt) if self.needs_stats else zt
        ws = self.student_stats.whiten(zs) if self.edge_metric == "mahalanobis" else None
        t_ready = self.teacher_stats.is_ready
        split_source = self.split_mode
        if self.split_mode == "covariance" and not t_ready:
            split_source = "gt_fallback"
        pred_all = self.teacher_stats.classify(wt, whitened=True) if t_ready else None
        agree_n, agree_sum = 0, 0.0

        merges: list[MergeResult] = []
        kept_bg = 0
        for i, (wt_i, (is_bg, is_text)) in enumerate(zip(wt.split(counts), roles)):
            # Per image: roles, mining, clustering (no Python loops over RoIs or pairs).
            fg = ~is_bg
            if pred_all is not None:
                pred = pred_all[sum(counts[:i]) : sum(counts[: i + 1])]
                agree_sum += float((pred == is_text)[fg].sum())
                agree_n += int(fg.sum())
                if split_source == "covariance":
                    is_text = fg & pred
            if split_source == "none":
                is_text = torch.zeros_like(is_text)
            node_type = torch.full_like(gt_classes[i], int(NodeType.NONTEXT))
            node_type[is_text] = int(NodeType.TEXT)
            node_type[is_bg] = int(NodeType.BG)
            if teacher_bg_prob is None:
                keep = fg
            else:
                keep = mine_hard_background(
                    teacher_bg_prob[i], is_bg, self.bg_threshold, self.bg_topk
                )
            kept_bg += int((keep & is_bg).sum())
            merges.append(
                merge_text_nodes(
                    wt_i,  # already whitened: Euclidean here = teacher Mahalanobis
                    node_type,
                    gt_instance[i],
                    None,
                    keep=keep,
                    ratio=self.merge_ratio if self.merge else None,
                    merge_instances=self.merge,
                    min_text_nodes=self.min_text_nodes,
                    merge_text_only=self.merge_text_only,
                )
            )

        teacher = self._build_side(tf, zt, wt, boxes, merges)
        student = self._build_side(student_features, zs, ws, boxes, merges)

        nt = torch.cat([m.node_type for m in merges]) if B else torch.zeros(0, dtype=torch.long)
        self.last_stats = {
            "num_images": B,
            "num_rois": sum(int(c.shape[0]) for c in gt_classes),
            "num_fg": sum(int((~r[0]).sum()) for r in roles),
            "num_bg_rois": sum(int(r[0].sum()) for r in roles),
            "num_bg_kept": kept_bg,
            "num_nodes": int(nt.numel()),
            "num_text_nodes": int((nt == NodeType.TEXT).sum()),
            "num_nontext_nodes": int((nt == NodeType.NONTEXT).sum()),
            "num_bg_nodes": int((nt == NodeType.BG).sum()),
            "num_edges": int(teacher.edge_index.shape[1]),
            "merges_step_a": sum(m.merges_step_a for m in merges),
            "merges_step_b": sum(m.merges_step_b for m in merges),
            "split_source": split_source,
            "split_agreement": agree_sum / agree_n if agree_n else math.nan,
            "teacher_stats_samples": self.teacher_stats.num_samples,
            "student_stats_samples": self.student_stats.num_samples,
            "teacher_stats_ready": t_ready,
            "student_stats_ready": self.student_stats.is_ready,
        }
        return teacher, student

    def forward(self, *args, **kwargs) -> tuple[Batch, Batch]:
        """Alias of :meth:`build_pair`."""
        return self.build_pair(*args, **kwargs)

    def _build_side(
        self,
        features: Sequence[Tensor],
        z: Tensor,
        w: Tensor | None,
        boxes: Sequence[Tensor],
        merges: Sequence[MergeResult],
    ) -> Batch:
        """One model's Batch from the shared clusters.

        Args:
            features: per image (N_i, C, H, W).
            z: (sum N_i, D) RoI descriptors; w: their whitened version (None for cosine edges).
            boxes: per image (N_i, 4).
            merges: per image clustering (from the teacher).
        """
        cluster = torch.cat(
            [
                m.cluster + torch.where(m.cluster >= 0, off, 0)
                for m, off in zip(merges, _offsets(merges))
            ]
        )
        n_total = sum(m.num_nodes for m in merges)
        z_nodes = pool_by_cluster(z, cluster, n_total).split([m.num_nodes for m in merges])
        xs = [
            pool_by_cluster(f.flatten(1), m.cluster, m.num_nodes) for f, m in zip(features, merges)
        ]
        bxs = [
            union_boxes(b.to(f.dtype), m.cluster, m.num_nodes)
            for f, b, m in zip(features, boxes, merges)
        ]
        if self.edge_metric == "mahalanobis":
            # All images in one batched computation on the pooled whitened descriptors.
            w_nodes = pool_by_cluster(w, cluster, n_total)
            batch = torch.repeat_interleave(
                torch.arange(len(merges), device=w.device),
                torch.tensor([m.num_nodes for m in merges], device=w.device),
            )
            dense, _ = batched_pairwise_mahalanobis(w_nodes, batch, None, len(merges))
            pairs = [dense[i, : m.num_nodes, : m.num_nodes] for i, m in enumerate(merges)]
        else:
            pairs = [_cosine_matrix(x) for x in xs]
        data = [
            _make_data(
                x,
                zn,
                bx,
                m.node_type,
                m.cluster,
                m.cluster_size,
                p,
                self.edge_metric,
                self.self_loops_on_merged,
            )
            for x, zn, bx, m, p in zip(xs, z_nodes, bxs, merges, pairs)
        ]
        return Batch.from_data_list(data)


def _offsets(merges: Sequence[MergeResult]) -> list[int]:
    """Node offset of each image in the batch."""
    out, total = [], 0
    for m in merges:
        out.append(total)
        total += m.num_nodes
    return out
