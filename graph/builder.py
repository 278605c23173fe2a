"""Instance graphs of RoI / region features: plan the nodes once, pool any number of models.

:class:`GraphBuilder` turns one batch of images into graphs in three stages:

1. **plan** (:meth:`GraphBuilder.plan`, once per batch, from the *planning* model = the teacher):
   roles (fg / bg, text / non-text by GT or by the covariance rule), hard-background mining,
   text-node merging (clusters), and the edges (complete directed graph per image, optional self
   loops on merged text nodes, edge types) -> a :class:`GraphPlan`;
2. **pool** (:meth:`GraphBuilder.pool`, once per model): one batched scatter of every model's
   RoI features, descriptors and boxes onto the planned nodes, then the edge distances and
   similarities of all images in one batched computation -> a ``torch_geometric`` ``Batch``;
3. **diagnostics**: a :class:`GraphDiagnostics` in ``builder.last_stats``.

The plan and its diagnostics are in :mod:`graph.plan`, the edge construction and similarities
in :mod:`graph.edges`. :meth:`GraphBuilder.build` is the single-model entry point (plan + pool one model);
:meth:`GraphBuilder.build_pair` plans from the teacher and pools teacher and student with the same
plan, so node i of both graphs pools the same RoIs.

Graph attributes (per image ``Data``; ``Batch.from_data_list`` of the images), n nodes, N RoIs,
E edges: ``x`` (n, C*H*W) mean of the member RoIs' features, ``z`` (n, D) mean descriptor,
``box`` (n, 4) union box, ``node_type`` (n,) long :class:`NodeType`, ``cluster_size`` (n,) long,
``cluster`` (N,) long RoI -> node of its image (-1 = not a node; not offset in a Batch),
``num_rois`` N, ``edge_index`` (2, E), ``edge_dist`` (E,) distance, ``edge_sim`` (E,) similarity in
(0, 1], ``edge_type`` (E,) long :class:`EdgeType`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn
from torch_geometric.data import Batch

from .config import GraphConfig
from .descriptors import descriptor_dim, node_descriptors
from .edges import complete_edge_index, dense_cosine, plan_edges, similarity_from_distance
from .gaussian_stats import GaussianStats
from .mahalanobis import batched_pairwise_mahalanobis
from .merging import MergeResult, merge_text_nodes, pool_by_cluster, union_boxes
from .mining import mine_hard_background
from .plan import GraphDiagnostics, GraphPlan
from .types import NodeType, check_tensor_finite

__all__ = [
    "GraphBuilder",
    "GraphDiagnostics",
    "GraphPlan",
    "complete_edge_index",
    "similarity_from_distance",
]


# ----------------------------------------------------------------------------- helpers
def _pool_mean_parts(parts: Sequence[Tensor], cluster: Tensor, num_nodes: int) -> Tensor:
    """:func:`pool_by_cluster` (mean) of ``torch.cat(parts)`` without concatenating the parts.

    One output buffer, one ``index_add_`` per part: the RoI features (e.g. 2 x 256 x 12544
    floats) are never copied, which made the batched pooling 3x faster than pooling the cat.

    Args:
        parts: per image (N_i, F) rows; cluster: (sum N_i,) long row -> node or -1.
    """
    idx = torch.where(cluster >= 0, cluster, num_nodes)  # dropped rows -> spare row n
    out = parts[0].new_zeros((num_nodes + 1, parts[0].shape[1]))
    for part, i in zip(parts, idx.split([p.shape[0] for p in parts])):
        out.index_add_(0, i, part)
    count = torch.bincount(idx, minlength=num_nodes + 1)[:num_nodes].clamp_min(1)
    return out[:num_nodes] / count.to(out.dtype)[:, None]


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


def _plan_diagnostics(
    merges: Sequence[MergeResult], is_bg: Tensor, kept_bg: int, node_type: Tensor, num_edges: int
) -> GraphDiagnostics:
    """The counts of a plan (split source and agreement are the caller's to set).

    Args:
        merges: one :class:`MergeResult` per image; is_bg: (N,) bool background RoIs;
        kept_bg: mined background RoIs kept; node_type: (n,) long NodeType of the batch's nodes;
        num_edges: E.
    """
    return GraphDiagnostics(
        num_images=len(merges),
        num_rois=int(is_bg.numel()),
        num_fg=int((~is_bg).sum()),
        num_bg_rois=int(is_bg.sum()),
        num_bg_kept=kept_bg,
        num_nodes=int(node_type.numel()),
        num_text_nodes=int((node_type == NodeType.TEXT).sum()),
        num_nontext_nodes=int((node_type == NodeType.NONTEXT).sum()),
        num_bg_nodes=int((node_type == NodeType.BG).sum()),
        num_edges=num_edges,
        merges_step_a=sum(m.merges_step_a for m in merges),
        merges_step_b=sum(m.merges_step_b for m in merges),
    )


# ----------------------------------------------------------------------------- the builder
class GraphBuilder(nn.Module):
    """Instance graphs of one model (:meth:`build`) or of a teacher/student pair (:meth:`build_pair`).

    Per image: nodes = all fg RoIs + hard bg RoIs (:func:`mine_hard_background` on the teacher's
    background probability; without it bg RoIs are dropped); text / non-text split by GT
    (``split_mode="gt"``), by the planning model's covariance LDA rule (``"covariance"``; GT
    split while its statistics are not ready), or no split (``"none"``: all fg nodes non-text, as
    DSIG); text clusters (:func:`merge_text_nodes`); complete directed edges with a distance, a
    similarity and a type (see the module docstring for the attributes).

    The *planning* model decides roles, clusters and edges: the teacher in :meth:`build_pair`, the
    one model in :meth:`build`. Its statistics are ``teacher_stats`` (alias :attr:`stats`);
    ``student_stats`` belong to the second model of :meth:`build_pair`.

    Statistics: each model's :class:`GaussianStats` is updated with its (detached) descriptors of
    the GT-labelled fg RoIs, labelled text / non-text by GT. Until a statistics module has
    ``min_samples`` samples its covariance is the identity, so early edges are Euclidean. Updates
    happen before the graphs are built. After each build, ``last_stats`` holds a
    :class:`GraphDiagnostics`.

    Args:
        text_classes: class indices (or a bool mask over classes) that count as text.
        num_classes: K; gt_classes == K (or gt_instance == -1) marks background RoIs.
        teacher_channels, student_channels: C of the pooled features (sets the statistics' D);
            ``teacher_channels`` is the channel count of the model given to :meth:`build`.
        cfg: :class:`GraphConfig` (or a mapping of its fields; None: its defaults): split mode,
            merging, edge metric, hard-background mining, statistics. Its dataclass holds the
            only defaults of these options.
        min_text_nodes: step B keeps at least this many text nodes.
        **options: :class:`GraphConfig` fields overriding ``cfg``'s
            (``GraphBuilder(text, K, merge=False)``); an unknown name raises ``ValueError``.
        check_inputs: validate shapes and finiteness (ValueError on NaN / Inf).
    """

    def __init__(
        self,
        text_classes: Sequence[int] | Tensor = (),
        num_classes: int | None = None,
        cfg: GraphConfig | Mapping[str, Any] | None = None,
        *,
        teacher_channels: int = 256,
        student_channels: int = 256,
        min_text_nodes: int = 1,
        check_inputs: bool = True,
        **options: Any,
    ) -> None:
        super().__init__()
        cfg = GraphConfig.from_mapping(cfg)
        if options:
            cfg = cfg.replace(**options)
        self.cfg = cfg
        self.register_buffer("text_lut", _text_lookup(text_classes, num_classes), persistent=False)
        self.num_classes = num_classes
        self.teacher_channels = teacher_channels
        self.student_channels = student_channels
        self.min_text_nodes = min_text_nodes
        self.check_inputs = check_inputs
        kw = dict(shrinkage=cfg.shrinkage, min_samples=cfg.min_samples)
        momentum = cfg.momentum
        s_momentum = momentum if cfg.student_momentum is None else cfg.student_momentum
        self.teacher_stats = GaussianStats(
            descriptor_dim(teacher_channels, cfg.descriptor), momentum=momentum, **kw
        )
        self.student_stats = GaussianStats(
            descriptor_dim(student_channels, cfg.descriptor), momentum=s_momentum, **kw
        )
        self.last_stats: GraphDiagnostics | None = None

    @property
    def stats(self) -> GaussianStats:
        """The planning model's statistics (``teacher_stats``), the ones :meth:`build` uses."""
        return self.teacher_stats

    @property
    def needs_stats(self) -> bool:
        """Whether the running statistics are used (Mahalanobis edges or covariance split)."""
        return self.cfg.edge_metric == "mahalanobis" or self.cfg.split_mode == "covariance"

    # ------------------------------------------------------------------ entry points
    def build(
        self,
        features: list[Tensor],
        boxes: list[Tensor],
        gt_classes: list[Tensor],
        gt_instance: list[Tensor] | None = None,
        bg_prob: list[Tensor] | None = None,
        update_stats: bool = True,
    ) -> Batch:
        """Instance graphs of one model's RoI / region features (the single-model entry point).

        Args:
            features: per image (N_i, C, H, W) pooled features (or (N_i, C) vectors with
                ``descriptor="mean"``), C = ``teacher_channels``. Gradients are kept.
            boxes: per image (N_i, 4) x1, y1, x2, y2.
            gt_classes: per image (N_i,) long class in [0, K], K = background.
            gt_instance: per image (N_i,) long instance id (-1 = background); RoIs of one text
                instance pool into one node when ``merge``. Default: every RoI its own instance
                (GT regions), background where gt_classes == K.
            bg_prob: per image (N_i,) probability of background for hard-background mining, or
                None to drop background RoIs.
            update_stats: update ``stats`` with this batch first (False at evaluation).

        Returns:
            Batch of per-image graphs (attributes in the module docstring).
        """
        if gt_instance is None:
            gt_instance = [self._default_instances(c) for c in gt_classes]
        return self._build(
            [("features", features, self.teacher_channels, self.teacher_stats, False)],
            boxes,
            gt_classes,
            gt_instance,
            bg_prob,
            update_stats,
        )[0]

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
        """Teacher and student graphs of a batch with identical nodes and edges (one plan).

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
            edge_type; the teacher's tensors have no autograd history.
        """
        teacher, student = self._build(
            [
                ("teacher_features", teacher_features, self.teacher_channels, self.teacher_stats, True),
                ("student_features", student_features, self.student_channels, self.student_stats, False),
            ],
            boxes,
            gt_classes,
            gt_instance,
            teacher_bg_prob,
            update_stats,
        )  # fmt: skip
        return teacher, student

    def forward(self, *args, **kwargs) -> tuple[Batch, Batch]:
        """Alias of :meth:`build_pair`."""
        return self.build_pair(*args, **kwargs)

    # ------------------------------------------------------------------ stages
    def _build(
        self,
        models: list[tuple[str, list[Tensor], int, GaussianStats, bool]],
        boxes: list[Tensor],
        gt_classes: list[Tensor],
        gt_instance: list[Tensor],
        bg_prob: list[Tensor] | None,
        update_stats: bool,
    ) -> list[Batch]:
        """Statistics update, plan from models[0], pool every model. ``models`` holds
        (argument name, per-image features, channels, statistics, detach) per model."""
        name0, feats0 = models[0][:2]
        if len(feats0) == 0:
            raise ValueError(f"got no images (empty {name0} list)")
        if self.check_inputs:
            self._validate(models, boxes, gt_classes, gt_instance, bg_prob)
        feats = [[f.detach() for f in fs] if detach else list(fs) for _, fs, _, _, detach in models]
        zs = [torch.cat([node_descriptors(f, self.cfg.descriptor) for f in fs]) for fs in feats]
        is_bg, is_text = self._roles(torch.cat(gt_classes), torch.cat(gt_instance))
        if update_stats and self.needs_stats:
            fg = ~is_bg
            for (_, _, _, stats, _), z in zip(models, zs):
                stats.update(z.detach()[fg], is_text[fg])
        # Whiten every RoI once per model (one triangular solve each): whitening is affine, so
        # pooled whitened RoIs are whitened node descriptors and all distances are Euclidean.
        w_plan = models[0][3].whiten(zs[0]) if self.needs_stats else zs[0]
        if self.cfg.edge_metric == "mahalanobis":
            ws = [w_plan] + [m[3].whiten(z) for m, z in zip(models[1:], zs[1:])]
        else:
            ws = [None] * len(models)  # cosine edges come from the pooled features
        plan = self.plan(w_plan, is_bg, is_text, gt_instance, bg_prob)
        graphs = [self.pool(plan, fs, z, w, boxes) for fs, z, w in zip(feats, zs, ws)]
        diag = plan.diagnostics
        diag.teacher_stats_samples = self.teacher_stats.num_samples
        diag.teacher_stats_ready = self.teacher_stats.is_ready
        if len(models) > 1:
            diag.student_stats_samples = self.student_stats.num_samples
            diag.student_stats_ready = self.student_stats.is_ready
        self.last_stats = diag
        return graphs

    def plan(
        self,
        w: Tensor,
        is_bg: Tensor,
        is_text: Tensor,
        gt_instance: list[Tensor],
        bg_prob: list[Tensor] | None = None,
    ) -> GraphPlan:
        """Roles, mining, split, clusters and edges of a batch, from the planning model.

        Args:
            w: (N, D) the planning model's RoI descriptors, whitened by its statistics when they
                are used (Euclidean distances in w are its Mahalanobis distances).
            is_bg, is_text: (N,) bool roles by GT (:meth:`_roles`).
            gt_instance: per image (N_i,) long GT instance (-1 background); sets N_i.
            bg_prob: per image (N_i,) background probability for mining, or None.
        """
        counts = [int(g.shape[0]) for g in gt_instance]
        is_text, split_source, agreement = self._split(w, is_bg, is_text)
        node_type = torch.full_like(is_bg, int(NodeType.NONTEXT), dtype=torch.long)
        node_type[is_text] = int(NodeType.TEXT)
        node_type[is_bg] = int(NodeType.BG)
        merges, kept_bg = self._cluster(w, is_bg, node_type, gt_instance, bg_prob, counts)
        device = w.device
        nodes = [m.num_nodes for m in merges]
        ntype = torch.cat([m.node_type for m in merges])
        size = torch.cat([m.cluster_size for m in merges])
        n_per = torch.tensor(nodes, dtype=torch.long, device=device)
        batch = torch.repeat_interleave(torch.arange(len(merges), device=device), n_per)
        ei, eb, etype, loop = plan_edges(n_per, ntype, size, batch, self.cfg.self_loops_on_merged)
        diag = _plan_diagnostics(merges, is_bg, kept_bg, ntype, int(ei.shape[1]))
        diag.split_source, diag.split_agreement = split_source, agreement
        return GraphPlan(
            num_rois=counts,
            num_nodes=nodes,
            num_edges=torch.bincount(eb, minlength=len(merges)).tolist(),
            cluster=torch.cat([m.cluster for m in merges]),
            node_type=ntype,
            cluster_size=size,
            batch=batch,
            edge_index=ei,
            edge_batch=eb,
            edge_type=etype,
            self_loop=loop,
            diagnostics=diag,
        )

    def _split(self, w: Tensor, is_bg: Tensor, is_text: Tensor) -> tuple[Tensor, str, float]:
        """The text / non-text split of the RoIs by ``cfg.split_mode``.

        Args:
            w: (N, D) whitened planning descriptors; is_bg, is_text: (N,) bool roles by GT.

        Returns:
            is_text (N,) bool as used for the nodes, the split source ("gt", "covariance",
            "gt_fallback" or "none") and the covariance rule's agreement with GT on fg RoIs
            (NaN while the planning statistics are not ready).
        """
        stats = self.teacher_stats
        t_ready = stats.is_ready
        split_source = self.cfg.split_mode
        if self.cfg.split_mode == "covariance" and not t_ready:
            split_source = "gt_fallback"
        fg = ~is_bg
        agreement = math.nan
        if t_ready and self.needs_stats:
            pred = stats.classify(w, whitened=True)
            if bool(fg.any()):
                agreement = float((pred == is_text)[fg].sum()) / int(fg.sum())
            if split_source == "covariance":
                is_text = fg & pred
        if split_source == "none":
            is_text = torch.zeros_like(is_text)
        return is_text, split_source, agreement

    def _cluster(
        self,
        w: Tensor,
        is_bg: Tensor,
        node_type: Tensor,
        gt_instance: list[Tensor],
        bg_prob: list[Tensor] | None,
        counts: list[int],
    ) -> tuple[list[MergeResult], int]:
        """Hard-background mining and text merging, image by image (both work within a page).

        Args:
            w: (N, D) whitened planning descriptors; is_bg: (N,) bool; node_type: (N,) long
                NodeType per RoI; gt_instance, bg_prob: per image (N_i,); counts: N_i.

        Returns:
            One :class:`MergeResult` per image and the number of mined bg RoIs kept.
        """
        merges, kept_bg = [], 0
        for i, sl in enumerate(zip(w.split(counts), is_bg.split(counts), node_type.split(counts))):
            w_i, bg_i, type_i = sl
            if bg_prob is None:
                keep = ~bg_i
            else:
                keep = mine_hard_background(
                    bg_prob[i], bg_i, self.cfg.bg_threshold, self.cfg.bg_topk
                )
            kept_bg += int((keep & bg_i).sum())
            merges.append(
                merge_text_nodes(
                    w_i,  # already whitened: Euclidean here = the planner's Mahalanobis
                    type_i,
                    gt_instance[i],
                    None,
                    keep=keep,
                    ratio=self.cfg.merge_ratio if self.cfg.merge else None,
                    merge_instances=self.cfg.merge,
                    min_text_nodes=self.min_text_nodes,
                    merge_text_only=self.cfg.merge_text_only,
                )
            )
        return merges, kept_bg

    def pool(
        self,
        plan: GraphPlan,
        features: Sequence[Tensor],
        z: Tensor,
        w: Tensor | None,
        boxes: Sequence[Tensor],
    ) -> Batch:
        """One model's Batch on a plan: one batched scatter per attribute, batched distances.

        Args:
            plan: from :meth:`plan` (possibly made from another model).
            features: per image (N_i, C, H, W) or (N_i, C).
            z: (N, D) RoI descriptors of this model; w: whitened (Mahalanobis edges) or None
                (cosine edges on the pooled features).
            boxes: per image (N_i, 4).
        """
        cluster = plan.batch_cluster()
        n = int(plan.node_type.numel())
        dtype = features[0].dtype
        x = _pool_mean_parts([f.flatten(1) for f in features], cluster, n)
        zn = pool_by_cluster(z, cluster, n)
        box = union_boxes(torch.cat(list(boxes)).to(dtype), cluster, n)
        dist, sim = self._edge_values(plan, x, w, cluster)
        return plan.to_batch(x, zn, box, dist, sim)

    def _edge_values(
        self, plan: GraphPlan, x: Tensor, w: Tensor | None, cluster: Tensor
    ) -> tuple[Tensor, Tensor]:
        """Distance and similarity of every planned edge, all images in one batched computation.

        Args:
            plan: the batch's plan (E edges, n nodes); x: (n, F) pooled node features.
            w: (N, D) whitened RoI descriptors (Mahalanobis edges) or None (cosine edges).
            cluster: (N,) long RoI -> node of the batch (:meth:`GraphPlan.batch_cluster`).

        Returns:
            (E,) distances (0 on self loops) and (E,) similarities in (0, 1] (1 on self loops).
        """
        B = plan.num_images
        if self.cfg.edge_metric == "mahalanobis":
            wn = pool_by_cluster(w, cluster, int(plan.node_type.numel()))
            dense, _ = batched_pairwise_mahalanobis(wn, plan.batch, None, B)
        else:  # cosine of the flattened node features (DSIG)
            dense = dense_cosine(x, plan.num_nodes)
        vals = dense[plan.edge_batch, plan.edge_index[0], plan.edge_index[1]]
        if self.cfg.edge_metric == "cosine":
            sim, dist = vals, (1 - vals).clamp_min(0)
        else:
            dist = vals
            sim = similarity_from_distance(dist, plan.self_loop, plan.edge_batch, B)
        dist = torch.where(plan.self_loop, torch.zeros_like(dist), dist)
        sim = torch.where(plan.self_loop, torch.ones_like(sim), sim)
        return dist, sim

    # ------------------------------------------------------------------ helpers
    def _default_instances(self, gt_classes: Tensor) -> Tensor:
        """Every RoI its own instance; -1 where gt_classes is the background index K."""
        inst = torch.arange(gt_classes.shape[0], device=gt_classes.device)
        if self.num_classes is not None:
            inst = torch.where(gt_classes >= self.num_classes, -1, inst)
        return inst

    def _roles(self, gt_classes: Tensor, gt_instance: Tensor) -> tuple[Tensor, Tensor]:
        """(is_bg, is_text_gt) per RoI."""
        is_bg = gt_instance < 0
        if self.num_classes is not None:
            is_bg = is_bg | (gt_classes >= self.num_classes)
        lut = self.text_lut.to(gt_classes.device)
        cls = gt_classes.clamp(0, lut.numel() - 1)
        is_text = ~is_bg & lut[cls] & (gt_classes < lut.numel())
        return is_bg, is_text

    def _validate(self, models, boxes, gt_classes, gt_instance, bg_prob) -> None:
        name0, feats0 = models[0][:2]
        B = len(feats0)
        lists = [(name, fs) for name, fs, *_ in models[1:]] + [
            ("boxes", boxes),
            ("gt_classes", gt_classes),
            ("gt_instance", gt_instance),
        ]
        bg_name = "teacher_bg_prob" if len(models) > 1 else "bg_prob"
        if bg_prob is not None:
            lists.append((bg_name, bg_prob))
        for name, lst in lists:
            if len(lst) != B:
                raise ValueError(f"{name} has {len(lst)} images but {name0} has {B}")
        for i in range(B):
            N = feats0[i].shape[0]
            checks = []
            for name, fs, channels, _, _ in models:
                f = fs[i]
                vectors = f.dim() == 2 and self.cfg.descriptor == "mean"  # (N, C): own features
                checks.append((name, f, (N, channels) if vectors else (N, channels, None, None)))
            checks += [
                ("boxes", boxes[i], (N, 4)),
                ("gt_classes", gt_classes[i], (N,)),
                ("gt_instance", gt_instance[i], (N,)),
                (bg_name, None if bg_prob is None else bg_prob[i], (N,)),
            ]
            for name, t, shape in checks:
                if t is None:
                    continue
                ok = t.dim() == len(shape) and all(
                    s is None or s == d for s, d in zip(shape, t.shape)
                )
                if not ok:
                    want = tuple("*" if s is None else s for s in shape)
                    raise ValueError(
                        f"{name}[{i}] has shape {tuple(t.shape)}, expected {want} (N = number of "
                        f"RoIs of the image from {name0}; C from teacher/student_channels)"
                    )
                check_tensor_finite(t, f"{name}[{i}]")
            if self.num_classes is not None and N and int(gt_classes[i].max()) > self.num_classes:
                raise ValueError(
                    f"gt_classes[{i}] has class {int(gt_classes[i].max())} > num_classes="
                    f"{self.num_classes} (the background index)"
                )
