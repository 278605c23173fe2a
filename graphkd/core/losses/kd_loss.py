"""``KDLoss``: all KD terms behind one module, configured by the ``KDLossConfig`` dataclass."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from graph.config import OptionsMixin
from graphkd.core.adapter import ChannelAdapter
from graphkd.core.losses._utils import GraphLike
from graphkd.core.losses._utils import graph_index as _graph_index
from graphkd.core.losses._utils import num_graphs as _num_graphs
from graphkd.core.losses.edge import edge_loss
from graphkd.core.losses.extras import FPN_LEVELS, box_kd_loss, fpn_feature_loss, logit_kd_loss
from graphkd.core.losses.node import (
    NODE_MODES,
    node_loss,
    node_type_weights,
    roi_node_loss,
    roi_roles,
)
from graphkd.core.losses.structure import structure_loss

__all__ = ["GRAPH_TERMS", "KDLossConfig", "KDLoss", "KD_TERMS"]

# Term name -> key of the returned dict.
KD_TERMS = ("node", "edge", "struct", "logit", "box", "fpn")
# The terms that compare instance graphs (they need a graph builder).
GRAPH_TERMS = ("node", "edge", "struct")


@dataclass
class KDLossConfig(OptionsMixin):
    """Switches, weights and hyper-parameters of the KD terms (usable as a Hydra structured config).

    The defaults are ``kd=graphkd``'s; ``kd=graphkd_paper`` and ``kd=dsig`` name their departures.
    Every enabled term ``X`` is returned as ``loss_kd_X`` already multiplied by ``X_weight``.
    """

    options_name = "KD loss"

    node: bool = True  # Node term: MSE between adapted student and teacher RoI features.
    # Weight of the node term: 4x DSIG's 0.5; 1.0-2.0 is a plateau on realistic and real pages,
    # 2.0 best on classic pages, 4.0 drops on realistic pages (docs/experiments.md, "The
    # node-term weight").
    node_weight: float = 2.0
    edge: bool = True  # Edge term: MSE between teacher and student edge similarities.
    edge_weight: float = 1.0  # Weight of the edge term.
    struct: bool = True  # Structure term: KL between the nodes' neighbour distributions.
    struct_weight: float = 1.0  # Weight of the structure term.
    logit: bool = False  # RoI classification logit KD (KL with temperature).
    logit_weight: float = 1.0  # Weight of the logit term.
    # RoI box-regression KD (smooth L1 to the teacher's deltas, fg RoIs).
    box: bool = False
    box_weight: float = 1.0  # Weight of the box term.
    fpn: bool = False  # FPN feature MSE (FitNet).
    fpn_weight: float = 1.0  # Weight of the FPN term.
    # "graphkd": text / non-text / bg weights; "dsig": fg 1, adaptive bg weight, no text split.
    node_mode: str = "graphkd"
    # Node-feature adapter: "always" (DSIG) or "when_needed" (identity for equal channels).
    adapter: str = "when_needed"
    beta: float = 7.5  # bg node weight N_fg / (beta * N_bg) (node_reduce="node")
    # Clip range of the text node weight N_nontext / N_text.
    text_weight_clip: tuple[float, float] = (0.1, 1.0)
    # Text weight on pages without non-text nodes (None: the clipped ratio, i.e. its lower end).
    text_only_weight: float | None = 1.0
    # "node": MSE of each merged node's mean features; "roi": each RoI's own MSE, weighted by
    # its node's weight, plus DSIG's bg term (see graphkd.core.losses.node.roi_node_loss).
    node_reduce: str = "roi"
    bg_rois: str = "all"  # node_reduce="roi": bg RoIs distilled: "mined" (graph) or "all"
    bg_alpha: float = 7.5  # node_reduce="roi": bg weight bg_alpha * N_fg / N_bg (DSIG's code)
    # Node / edge / structure terms over the images of a batch: "mean", or "sum" (DSIG's code:
    # the terms grow with the batch size).
    image_reduction: str = "sum"
    node_type_scale: tuple[float, float, float] = (1.0, 1.0, 1.0)  # (text, nontext, bg) factors
    edge_type_weights: tuple[float, float, float] = (1.0, 1.0, 1.0)  # (tt, tn, nn)
    tau: float = 1.0  # structure-loss softmax temperature
    temperature: float = 1.0  # logit KD temperature
    box_beta: float = 0.0  # smooth-L1 beta of the box KD (0 = L1, detectron2's default)
    # FPN levels of the FPN term.
    fpn_levels: tuple[str, ...] = field(default_factory=lambda: FPN_LEVELS)
    # Stop with an error naming the term and iteration on NaN / Inf.
    check_finite: bool = True

    def validate(self) -> KDLossConfig:
        """Normalise list-like fields to tuples and check values; returns ``self``."""
        self.text_weight_clip = tuple(float(v) for v in self.text_weight_clip)
        self.node_type_scale = tuple(float(v) for v in self.node_type_scale)
        self.edge_type_weights = tuple(float(v) for v in self.edge_type_weights)
        self.fpn_levels = tuple(str(v) for v in self.fpn_levels)
        if self.node_mode not in NODE_MODES:
            raise ValueError(f"node_mode must be one of {NODE_MODES}, got {self.node_mode!r}")
        for name, allowed in (
            ("node_reduce", ("node", "roi")),
            ("bg_rois", ("mined", "all")),
            ("image_reduction", ("mean", "sum")),
        ):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}")
        if self.bg_alpha < 0:
            raise ValueError(f"bg_alpha must be >= 0, got {self.bg_alpha}")
        if self.adapter not in ("always", "when_needed"):
            raise ValueError(f"adapter must be 'always' or 'when_needed', got {self.adapter!r}")
        if len(self.text_weight_clip) != 2 or not (
            0 <= self.text_weight_clip[0] <= self.text_weight_clip[1]
        ):
            raise ValueError(
                f"text_weight_clip must be (lo, hi), 0 <= lo <= hi: {self.text_weight_clip}"
            )
        for name, n in (("node_type_scale", 3), ("edge_type_weights", 3)):
            if len(getattr(self, name)) != n:
                raise ValueError(f"{name} needs {n} values, got {getattr(self, name)}")
        for name in ("beta", "tau", "temperature"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        if self.box_beta < 0:
            raise ValueError(f"box_beta must be >= 0, got {self.box_beta}")
        return self

    def enabled_terms(self) -> tuple[str, ...]:
        return tuple(t for t in KD_TERMS if getattr(self, t))


class KDLoss(nn.Module):
    """All KD terms of GraphKD / DSIG / FitNet / logit KD, returning a dict of weighted losses.

    Owns the learnable student->teacher adapters (node features and, when channels differ, FPN
    maps), so the trainer must give this module's parameters to the optimizer.

    Args:
        cfg: :class:`KDLossConfig`, a mapping of its fields, or ``None`` (defaults).
        student_channels, teacher_channels: channels of the pooled RoI features (node ``x`` is
            their channel-major flattening ``(n, C * 7 * 7)``).
        student_fpn_channels, teacher_fpn_channels: FPN channels (default: the above).
        num_classes: ``K`` for the box KD; default inferred from the delta width (``D / 4``).
    """

    def __init__(
        self,
        cfg: KDLossConfig | Mapping[str, Any] | None = None,
        *,
        student_channels: int = 256,
        teacher_channels: int = 256,
        student_fpn_channels: int | None = None,
        teacher_fpn_channels: int | None = None,
        num_classes: int | None = None,
    ) -> None:
        super().__init__()
        self.cfg = KDLossConfig.from_mapping(cfg)
        self.num_classes = num_classes
        self.adapter = (
            ChannelAdapter(student_channels, teacher_channels, mode=self.cfg.adapter)
            if self.cfg.node
            else None
        )
        self.fpn_adapters = nn.ModuleDict()
        if self.cfg.fpn:
            s_c = student_fpn_channels or student_channels
            t_c = teacher_fpn_channels or teacher_channels
            if s_c != t_c:
                for level in self.cfg.fpn_levels:
                    self.fpn_adapters[level] = ChannelAdapter(s_c, t_c, mode="when_needed")

    def forward(
        self,
        teacher: GraphLike | None = None,
        student: GraphLike | None = None,
        *,
        student_logits: Tensor | Sequence[Tensor] | None = None,
        teacher_logits: Tensor | Sequence[Tensor] | None = None,
        student_deltas: Tensor | Sequence[Tensor] | None = None,
        teacher_deltas: Tensor | Sequence[Tensor] | None = None,
        fg_mask: Tensor | Sequence[Tensor] | None = None,
        gt_classes: Tensor | Sequence[Tensor] | None = None,
        student_fpn: Mapping[str, Tensor] | None = None,
        teacher_fpn: Mapping[str, Tensor] | None = None,
        teacher_rois: Tensor | None = None,
        student_rois: Tensor | None = None,
        roi_image: Tensor | None = None,
        roi_is_bg: Tensor | None = None,
    ) -> dict[str, Tensor]:
        """Compute the enabled terms.

        Args:
            teacher, student: graphs from ``GraphBuilder.build_pair`` (needed by node / edge /
                struct).
            student_logits, teacher_logits: ``(N, K+1)`` RoI class logits (logit term).
            student_deltas, teacher_deltas, gt_classes, fg_mask: RoI box deltas ``(N, K*4)``,
                ``(N,)`` GT classes (``K`` = bg), optional fg mask (box term).
            student_fpn, teacher_fpn: level -> ``(B, C, H, W)`` FPN maps (fpn term).
            teacher_rois, student_rois, roi_image, roi_is_bg: every sampled RoI's pooled
                features ``(N, C, H, W)`` (the graphs' ``cluster`` order), image index ``(N,)``
                and background flag ``(N,)`` (node term with ``node_reduce="roi"``).

        Returns:
            ``{"loss_kd_<term>": weight * loss}`` for each enabled term.

        Raises:
            ValueError: an enabled term lacks its inputs.
            FloatingPointError: a term is not finite (message names the term).
        """
        losses = self._graph_terms(
            teacher, student, teacher_rois, student_rois, roi_image, roi_is_bg
        )
        losses.update(
            self._extra_terms(
                student_logits, teacher_logits, student_deltas, teacher_deltas, fg_mask,
                gt_classes, student_fpn, teacher_fpn,
            )
        )  # fmt: skip
        if self.cfg.check_finite:
            check_losses_finite(losses)
        return losses

    def _graph_terms(
        self, teacher, student, teacher_rois, student_rois, roi_image, roi_is_bg
    ) -> dict[str, Tensor]:
        """The enabled node / edge / structure terms, weighted (see :meth:`forward`)."""
        cfg = self.cfg
        losses: dict[str, Tensor] = {}
        graph_terms = [t for t in GRAPH_TERMS if getattr(cfg, t)]
        if graph_terms and (teacher is None or student is None):
            raise ValueError(
                f"KD terms {graph_terms} are enabled but no teacher/student graphs were given"
            )
        # DSIG's code sums its graph terms over the images of a batch.
        per_batch = (
            float(_num_graphs(teacher)) if graph_terms and cfg.image_reduction == "sum" else 1.0
        )
        if cfg.node:
            losses["loss_kd_node"] = (
                cfg.node_weight
                * per_batch
                * self._node_term(
                    teacher, student, teacher_rois, student_rois, roi_image, roi_is_bg
                )
            )
        if cfg.edge:
            losses["loss_kd_edge"] = (
                cfg.edge_weight
                * per_batch
                * edge_loss(teacher, student, type_weights=cfg.edge_type_weights)
            )
        if cfg.struct:
            losses["loss_kd_struct"] = (
                cfg.struct_weight * per_batch * structure_loss(teacher, student, tau=cfg.tau)
            )
        return losses

    def _extra_terms(
        self, student_logits, teacher_logits, student_deltas, teacher_deltas, fg_mask,
        gt_classes, student_fpn, teacher_fpn,
    ) -> dict[str, Tensor]:  # fmt: skip
        """The enabled logit / box / FPN terms, weighted (see :meth:`forward`)."""
        cfg = self.cfg
        losses: dict[str, Tensor] = {}
        if cfg.logit:
            _require("logit", student_logits=student_logits, teacher_logits=teacher_logits)
            losses["loss_kd_logit"] = cfg.logit_weight * logit_kd_loss(
                student_logits, teacher_logits, T=cfg.temperature
            )
        if cfg.box:
            _require(
                "box",
                student_deltas=student_deltas,
                teacher_deltas=teacher_deltas,
                gt_classes=gt_classes,
            )
            losses["loss_kd_box"] = cfg.box_weight * box_kd_loss(
                student_deltas,
                teacher_deltas,
                fg_mask,
                gt_classes,
                num_classes=self._num_classes(student_deltas),
                beta=cfg.box_beta,
            )
        if cfg.fpn:
            _require("fpn", student_fpn=student_fpn, teacher_fpn=teacher_fpn)
            levels = [lv for lv in cfg.fpn_levels if lv in teacher_fpn]
            losses["loss_kd_fpn"] = cfg.fpn_weight * fpn_feature_loss(
                student_fpn, teacher_fpn, adapters=self.fpn_adapters or None, levels=levels
            )
        return losses

    def _node_term(self, teacher, student, teacher_rois, student_rois, roi_image, roi_is_bg):
        cfg = self.cfg
        weights = dict(
            mode=cfg.node_mode,
            beta=cfg.beta,
            text_weight_clip=cfg.text_weight_clip,
            type_scale=cfg.node_type_scale,
            text_only_weight=cfg.text_only_weight,
        )
        if cfg.node_reduce == "node":
            return node_loss(teacher, self.adapter(student.x), **weights)
        _require(
            "node (node_reduce='roi')",
            teacher_rois=teacher_rois,
            student_rois=student_rois,
            roi_image=roi_image,
            roi_is_bg=roi_is_bg,
        )
        b = _num_graphs(teacher)
        w_node = node_type_weights(teacher.node_type, _graph_index(teacher), b, **weights)
        role, w_roi = roi_roles(teacher, roi_image, roi_is_bg, w_node, cfg.bg_rois)
        return roi_node_loss(
            teacher_rois.flatten(1),
            self.adapter(student_rois).flatten(1),
            roi_image,
            role,
            w_roi,
            b,
            bg_alpha=cfg.bg_alpha,
        )

    def _num_classes(self, deltas: Tensor | Sequence[Tensor]) -> int:
        if self.num_classes is not None:
            return self.num_classes
        width = (deltas if isinstance(deltas, Tensor) else deltas[0]).shape[-1]
        return max(width // 4, 1)


def _require(term: str, **inputs: Any) -> None:
    missing = [k for k, v in inputs.items() if v is None]
    if missing:
        raise ValueError(f"KD term '{term}' is enabled but {missing} were not given")


def check_losses_finite(losses: Mapping[str, Tensor]) -> None:
    """Raise ``FloatingPointError`` naming the first non-finite loss term."""
    for name, value in losses.items():
        if not bool(torch.isfinite(value).all()):
            raise FloatingPointError(
                f"KD loss term '{name}' is not finite ({value.detach().cpu().tolist()}); check the "
                "student features/learning rate, or switch the term off to isolate it"
            )
