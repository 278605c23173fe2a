"""DSIG-style hard background mining from the teacher's background probability."""

from __future__ import annotations

import torch
from torch import Tensor

from .types import check_tensor_finite

__all__ = ["background_ce", "mine_hard_background"]


def background_ce(teacher_bg_prob: Tensor) -> Tensor:
    """(N,) cross-entropy of the teacher against "background": -log p_bg (clamped at 1e-12)."""
    return -teacher_bg_prob.clamp_min(1e-12).log()


def mine_hard_background(
    teacher_bg_prob: Tensor, is_bg: Tensor, threshold: float = 0.6, topk: int | None = None
) -> Tensor:
    """Which RoIs to keep as graph nodes: every foreground RoI plus the hard background RoIs.

    A background RoI is hard when the teacher is unsure it is background: its cross-entropy
    against the background class, -log p_bg, is >= ``threshold`` (DSIG's rule, default 0.6, i.e.
    p_bg <= 0.55). With ``topk`` only the ``topk`` hardest of those are kept.

    Args:
        teacher_bg_prob: (N,) teacher probability of background, in [0, 1].
        is_bg: (N,) bool, True for background RoIs.
        threshold: minimum cross-entropy for a background RoI to be kept.
        topk: optional cap on the number of kept background RoIs.

    Returns:
        (N,) bool keep mask.
    """
    if teacher_bg_prob.shape != is_bg.shape or teacher_bg_prob.dim() != 1:
        raise ValueError(
            f"teacher_bg_prob and is_bg must both be (N,), got {tuple(teacher_bg_prob.shape)} "
            f"and {tuple(is_bg.shape)}"
        )
    check_tensor_finite(teacher_bg_prob, "teacher_bg_prob")
    if teacher_bg_prob.numel() and bool((teacher_bg_prob < 0).any() | (teacher_bg_prob > 1).any()):
        raise ValueError("teacher_bg_prob must be probabilities in [0, 1] (apply softmax first)")
    if topk is not None and topk < 0:
        raise ValueError(f"topk must be None or >= 0, got {topk}")
    is_bg = is_bg.bool()
    ce = background_ce(teacher_bg_prob.detach())
    hard = is_bg & (ce >= threshold)
    if topk is not None and int(hard.sum()) > topk:
        score = torch.where(hard, ce, torch.full_like(ce, -float("inf")))
        idx = score.topk(topk).indices
        hard = torch.zeros_like(hard)
        hard[idx] = True
    return ~is_bg | hard
