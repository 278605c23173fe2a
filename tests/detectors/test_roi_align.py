"""ImagewiseROIAlign: bit-identical to detectron2's ROIAlign (outputs and gradients), at any
thread count, in fp32 and under CPU bfloat16 autocast, and inside a detector's training step."""

from __future__ import annotations

import pytest
import torch
from detectron2.layers import ROIAlign
from detectron2.utils.events import EventStorage

from detectors.build import build_detector
from detectors.config import get_detector_cfg
from detectors.dummy import make_dummy_batch
from detectors.roi_align import ImagewiseROIAlign, use_imagewise_roi_align


def _rois(gen: torch.Generator, counts: dict[int, int], h: int, w: int) -> torch.Tensor:
    """RoIs of several images, shuffled so that images interleave (pooler format, pixels)."""
    rows = []
    for b, n in counts.items():
        xy = torch.rand(n, 2, generator=gen) * torch.tensor([w * 0.8, h * 0.8])
        wh = torch.rand(n, 2, generator=gen) * torch.tensor([w * 0.5, h * 0.5]) + 2
        rows.append(torch.cat([torch.full((n, 1), float(b)), xy, xy + wh], 1))
    rois = torch.cat(rows)
    return rois[torch.randperm(len(rois), generator=gen)]


def _pool_and_grad(module, x: torch.Tensor, rois: torch.Tensor, grad: torch.Tensor, autocast: bool):
    x = x.detach().clone().requires_grad_(True)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        out = module(x, rois)
    out.backward(grad.to(out.dtype))
    return out.detach(), x.grad


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize(
    "aligned,sampling_ratio,scale",
    [(True, 0, 0.25), (True, 2, 0.125), (False, 0, 0.5)],
)
@pytest.mark.parametrize("dtype,autocast", [(torch.float32, False), (torch.bfloat16, True)])
def test_matches_detectron2_bit_for_bit(threads, aligned, sampling_ratio, scale, dtype, autocast):
    gen = torch.Generator().manual_seed(0)
    n, c, h, w = 3, 6, 24, 20
    x = torch.randn(n, c, h, w, generator=gen).to(dtype)
    # Image 1 has no RoI: its gradient is zero, as in the batched call.
    rois = _rois(gen, {0: 17, 2: 9}, h / scale, w / scale)
    grad = torch.randn(len(rois), c, 7, 7, generator=gen)
    ref = ROIAlign((7, 7), scale, sampling_ratio, aligned)
    ours = ImagewiseROIAlign.from_module(ref)
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        out_ref, grad_ref = _pool_and_grad(ref, x, rois, grad, autocast)
        out, grad_x = _pool_and_grad(ours, x, rois, grad, autocast)
    finally:
        torch.set_num_threads(previous)
    assert out.dtype == out_ref.dtype == dtype
    assert torch.equal(out, out_ref)
    assert torch.equal(grad_x, grad_ref)
    assert grad_x[1].abs().sum() == 0


def test_single_image_and_bad_batch_index_take_detectron2s_path():
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(1, 4, 16, 16, generator=gen)
    rois = _rois(gen, {0: 5}, 64, 64)
    m = ImagewiseROIAlign((7, 7), 0.25, 0, True)
    assert torch.equal(m(x, rois), ROIAlign((7, 7), 0.25, 0, True)(x, rois))
    x2 = torch.randn(2, 4, 16, 16, generator=gen)
    bad = rois.clone()
    bad[0, 0] = 5  # no such image: not silently dropped, handed to torchvision as before
    assert m(x2, bad).shape == (5, 4, 7, 7)


def test_detector_training_step_unchanged():
    """A detector's box pooler swapped: the same losses and every gradient bit for bit."""
    cfg = get_detector_cfg("R18", 5, min_size=128, rois_per_image=32)
    batch = make_dummy_batch(num_images=2, height=128, width=96, num_classes=5, seed=0)
    grads = []
    for swap in (False, True):
        torch.manual_seed(0)
        model = build_detector(cfg).train()
        if swap:
            assert use_imagewise_roi_align(model) == 4  # the box pooler's four FPN levels
            assert all(
                isinstance(m, ImagewiseROIAlign) for m in model.roi_heads.box_pooler.level_poolers
            )
        torch.manual_seed(1)
        with EventStorage(0):
            losses = model(batch)
        sum(losses.values()).backward()
        grads.append(
            ({k: v.detach() for k, v in losses.items()},
             {n: p.grad for n, p in model.named_parameters() if p.grad is not None})
        )  # fmt: skip
    (loss_a, grad_a), (loss_b, grad_b) = grads
    assert loss_a.keys() == loss_b.keys()
    assert all(torch.equal(loss_a[k], loss_b[k]) for k in loss_a)
    assert grad_a.keys() == grad_b.keys()
    assert all(torch.equal(grad_a[k], grad_b[k]) for k in grad_a)


def test_swapped_student_distils_from_a_plain_teacher():
    """The pooler check of extract_roi_features sees the same settings; same features."""
    from detectors.build import freeze
    from detectors.roi_features import extract_roi_features

    cfg = get_detector_cfg("R18", 5, min_size=128, rois_per_image=16)
    batch = make_dummy_batch(num_images=2, height=128, width=96, num_classes=5, seed=0)
    torch.manual_seed(0)
    teacher = freeze(build_detector(cfg))
    feats = []
    for swap in (False, True):
        torch.manual_seed(1)
        student = build_detector(cfg).train()
        if swap:
            use_imagewise_roi_align(student)
        torch.manual_seed(2)
        with EventStorage(0):
            feats.append(extract_roi_features(student, teacher, batch))
    for a, b in zip(feats[0].student_features, feats[1].student_features):
        assert torch.equal(a, b)
