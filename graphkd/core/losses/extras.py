"""Optional KD extras for small students (as in DSIG's configs): RoI logit KD, RoI box KD, FitNet."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from graphkd.core.losses._utils import connected_zero

__all__ = ["logit_kd_loss", "box_kd_loss", "fpn_feature_loss", "FPN_LEVELS"]

FPN_LEVELS = ("p2", "p3", "p4", "p5", "p6")


def _cat(x: Tensor | Sequence[Tensor]) -> Tensor:
    """Accept one tensor or per-image tensors (concatenated along dim 0)."""
    return x if isinstance(x, Tensor) else torch.cat(list(x), dim=0)


def logit_kd_loss(
    student_logits: Tensor | Sequence[Tensor],
    teacher_logits: Tensor | Sequence[Tensor],
    T: float = 1.0,
) -> Tensor:
    """Hinton KD on RoI classification logits: ``T^2 * mean_i KL(p^T_i || p^S_i)``.

    Args:
        student_logits: ``(N, K+1)`` (or per-image list) student class logits.
        teacher_logits: ``(N, K+1)`` teacher logits for the same RoIs (used detached).
        T: temperature (> 0); ``p = softmax(logits / T)``.

    Returns:
        Scalar loss; a zero connected to the student for ``N == 0``.
    """
    if T <= 0:
        raise ValueError(f"logit KD temperature must be > 0, got {T}")
    s, t = _cat(student_logits), _cat(teacher_logits).detach()
    if s.shape != t.shape or s.dim() != 2:
        raise ValueError(
            f"logit_kd_loss: student logits {tuple(s.shape)} and teacher logits {tuple(t.shape)} "
            "must both be (N, K+1)"
        )
    log_ps = F.log_softmax(s / T, dim=1)
    log_pt = F.log_softmax(t / T, dim=1)
    kl = (log_pt.exp() * (log_pt - log_ps)).sum(dim=1)
    return kl.sum() / max(s.shape[0], 1) * (T * T) + connected_zero(s)


def box_kd_loss(
    student_deltas: Tensor | Sequence[Tensor],
    teacher_deltas: Tensor | Sequence[Tensor],
    fg_mask: Tensor | Sequence[Tensor] | None,
    gt_classes: Tensor | Sequence[Tensor],
    num_classes: int,
    beta: float = 0.0,
) -> Tensor:
    """Smooth-L1 between student and teacher box deltas on foreground RoIs.

    Layout as detectron2's ``FastRCNNOutputLayers``: ``(N, K*4)`` class-specific deltas (the 4
    deltas of the GT class are used) or ``(N, 4)`` class-agnostic. Normalised like detectron2's
    ``box_reg_loss``: summed over fg RoIs and coordinates, divided by the number of RoIs ``N``.

    Args:
        student_deltas, teacher_deltas: ``(N, K*4)`` or ``(N, 4)``; teacher used detached.
        fg_mask: ``(N,)`` bool foreground RoIs; ``None`` = ``0 <= gt_classes < num_classes``.
        gt_classes: ``(N,)`` long in ``[0, K]`` (``K`` = background).
        num_classes: ``K``.
        beta: smooth-L1 beta; ``< 1e-5`` gives L1 (detectron2's default ``SMOOTH_L1_BETA=0``).

    Returns:
        Scalar loss; a zero connected to the student without fg RoIs.
    """
    s, t = _cat(student_deltas), _cat(teacher_deltas).detach()
    gt = _cat(gt_classes).long()
    if s.shape != t.shape or s.dim() != 2:
        raise ValueError(
            f"box_kd_loss: student deltas {tuple(s.shape)} and teacher deltas {tuple(t.shape)} "
            "must both be (N, K*4) or (N, 4)"
        )
    n, d = s.shape
    if d not in (4, 4 * num_classes):
        raise ValueError(
            f"box_kd_loss: deltas have {d} columns; expected 4 (class-agnostic) or "
            f"4 * num_classes = {4 * num_classes}"
        )
    if gt.shape != (n,):
        raise ValueError(f"box_kd_loss: gt_classes must be ({n},), got {tuple(gt.shape)}")
    fg = (gt >= 0) & (gt < num_classes) if fg_mask is None else _cat(fg_mask).bool()
    fg_idx = torch.nonzero(fg, as_tuple=True)[0]
    if d == 4:
        s_fg, t_fg = s[fg_idx], t[fg_idx]
    else:
        cls = gt[fg_idx]
        if cls.numel() and (cls.min() < 0 or cls.max() >= num_classes):
            raise ValueError("box_kd_loss: fg RoIs must have gt_classes in [0, num_classes)")
        s_fg = s.view(n, num_classes, 4)[fg_idx, cls]
        t_fg = t.view(n, num_classes, 4)[fg_idx, cls]
    if beta < 1e-5:
        loss = (s_fg - t_fg).abs().sum()
    else:
        loss = F.smooth_l1_loss(s_fg, t_fg, beta=beta, reduction="sum")
    return loss / max(n, 1) + connected_zero(s)


def fpn_feature_loss(
    student_feats: Mapping[str, Tensor],
    teacher_feats: Mapping[str, Tensor],
    adapters: Mapping[str, nn.Module] | nn.Module | None = None,
    levels: Sequence[str] | None = None,
) -> Tensor:
    """FitNet: MSE between (adapted) student and teacher FPN maps, averaged over levels.

    Args:
        student_feats, teacher_feats: level name -> ``(B, C, H, W)``; teacher used detached.
        adapters: per-level modules (e.g. ``nn.ModuleDict`` of
            :class:`~graphkd.core.adapter.ChannelAdapter`), one module for all levels, or ``None``
            (channels must then match).
        levels: levels to compare; default: those of ``p2..p6`` present in ``teacher_feats``.

    Returns:
        Scalar loss.
    """
    if levels is None:
        levels = [k for k in FPN_LEVELS if k in teacher_feats]
    if not levels:
        raise ValueError(
            f"fpn_feature_loss: no FPN level to compare; teacher levels are {sorted(teacher_feats)}"
        )
    terms = []
    for level in levels:
        if level not in student_feats or level not in teacher_feats:
            raise ValueError(
                f"fpn_feature_loss: level {level!r} missing (student has {sorted(student_feats)}, "
                f"teacher has {sorted(teacher_feats)})"
            )
        s, t = student_feats[level], teacher_feats[level].detach()
        if isinstance(adapters, (Mapping, nn.ModuleDict)):
            if level in adapters:
                s = adapters[level](s)
        elif adapters is not None:
            s = adapters(s)
        if s.shape != t.shape:
            raise ValueError(
                f"fpn_feature_loss: level {level!r} student {tuple(s.shape)} vs teacher "
                f"{tuple(t.shape)}; pass a ChannelAdapter when channels differ (sizes must match)"
            )
        terms.append(F.mse_loss(s, t) if s.numel() else connected_zero(s))
    return torch.stack(terms).mean()
