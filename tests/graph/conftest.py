"""Synthetic RoIs for graph/ tests (no detectron2)."""

from __future__ import annotations

import pytest
import torch

NUM_CLASSES = 5  # PubLayNet-like: text, title, list, table, figure; 5 = background
TEXT_CLASSES = (0, 1, 2)
# The graph the graph/ tests were written for: kd=graphkd_paper's (channel-mean descriptors,
# Ledoit-Wolf shrinkage, at most 64 bg nodes, one momentum, step B on text-only pages too).
# GraphConfig's defaults are kd=graphkd's.
PAPER_GRAPH = dict(
    descriptor="mean", shrinkage="ledoit_wolf", bg_topk=64, student_momentum=None,
    merge_text_only=True,
)  # fmt: skip


def synth_image(
    n_rois: int = 40,
    n_inst: int = 6,
    channels: int = 16,
    seed: int = 0,
    bg_frac: float = 0.3,
    text_frac: float = 0.6,
    dtype: torch.dtype = torch.float32,
    student_channels: int | None = None,
    separation: float = 3.0,
) -> dict:
    """One image's RoIs: features are instance means (text / non-text centres apart) + noise."""
    g = torch.Generator().manual_seed(seed)
    cs = student_channels or channels
    is_text_inst = torch.rand(n_inst, generator=g) < text_frac
    cls = torch.where(
        is_text_inst,
        torch.randint(0, 3, (n_inst,), generator=g),
        torch.randint(3, 5, (n_inst,), generator=g),
    )
    centre_t = torch.zeros(channels)
    centre_t[0] = separation
    inst_mean = torch.randn(n_inst, channels, generator=g) * 0.5
    inst_mean += torch.where(is_text_inst[:, None], centre_t, -centre_t)
    inst = torch.randint(0, n_inst, (n_rois,), generator=g)
    inst[torch.rand(n_rois, generator=g) < bg_frac] = -1
    gt_classes = torch.where(inst >= 0, cls[inst.clamp_min(0)], torch.full_like(inst, NUM_CLASSES))
    base = torch.where((inst >= 0)[:, None], inst_mean[inst.clamp_min(0)], torch.zeros(channels))
    tf = base[:, :, None, None] + torch.randn(n_rois, channels, 7, 7, generator=g)
    proj = torch.randn(channels, cs, generator=g) / channels**0.5 + torch.eye(channels, cs)
    sf = torch.einsum("nchw,cd->ndhw", tf, proj) + 0.3 * torch.randn(n_rois, cs, 7, 7, generator=g)
    xy = torch.rand(n_rois, 2, generator=g) * 100
    boxes = torch.cat([xy, xy + 1 + torch.rand(n_rois, 2, generator=g) * 50], dim=1)
    bg_prob = torch.rand(n_rois, generator=g)
    return {
        "teacher_features": tf.to(dtype),
        "student_features": sf.to(dtype).contiguous(),
        "boxes": boxes.to(dtype),
        "gt_classes": gt_classes,
        "gt_instance": inst,
        "teacher_bg_prob": bg_prob.to(dtype),
    }


def synth_batch(sizes=(40, 30), **kw) -> dict:
    """build_pair kwargs for len(sizes) images."""
    seed = kw.pop("seed", 0)
    imgs = [synth_image(n, seed=seed + 17 * i, **kw) for i, n in enumerate(sizes)]
    return {k: [im[k] for im in imgs] for k in imgs[0]}


@pytest.fixture
def rois():
    return synth_image


@pytest.fixture
def batch():
    return synth_batch
