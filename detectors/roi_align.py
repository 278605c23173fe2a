"""detectron2's ``ROIAlign`` whose CPU kernels run one image per thread.

torchvision's CPU RoIAlign forward and backward are single-threaded loops over the RoIs, so on a
multi-core CPU a training step leaves cores idle through them: the backward (scatter-adding every
sampled point into the feature map's gradient) is about 13% of the ``trainer=cpu`` R50 teacher's
step at two threads. A RoI of image ``b`` reads and writes only image ``b``'s slice of the
feature map, so a batch splits into per-image calls of the same kernels, which run concurrently
(the ops release the GIL). Each image's RoIs are visited in their original order, so outputs and
gradients are those of the batched call bit for bit, at any thread count.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import cache

import torch
import torchvision  # noqa: F401  (registers torch.ops.torchvision)
from detectron2.layers import ROIAlign
from torch import Tensor, nn
from torch.nn.modules.utils import _pair

__all__ = ["ImagewiseROIAlign", "use_imagewise_roi_align"]


@cache
def _pool(workers: int) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=workers, thread_name_prefix="roi_align")


def _per_image(fn: Callable[[int], Tensor], num_images: int) -> list[Tensor]:
    """``[fn(0), ..., fn(num_images - 1)]``, on up to ``torch.get_num_threads()`` threads."""
    workers = min(num_images, torch.get_num_threads())
    if workers < 2:
        return [fn(b) for b in range(num_images)]
    return list(_pool(workers).map(fn, range(num_images)))


def _split_rois(rois: Tensor, num_images: int) -> list[tuple[Tensor, Tensor]]:
    """Per image: (indices into ``rois``, its RoIs with batch index 0), original order kept."""
    batch = rois[:, 0].long()  # as torchvision reads it
    out = []
    for b in range(num_images):
        idx = torch.nonzero(batch == b).squeeze(1)
        local = rois.index_select(0, idx)
        local[:, 0] = 0
        out.append((idx, local))
    return out


class _ImagewiseRoIAlign(torch.autograd.Function):
    """``torchvision.ops.roi_align`` (forward and backward) computed image by image.

    Args (forward):
        input: (N, C, H, W) features.
        rois: (R, 5) boxes ``(batch index, x0, y0, x1, y1)`` in input coordinates / scale.
        scale, size (ph, pw), sampling_ratio, aligned: as ``roi_align``.
    Returns:
        (R, C, ph, pw) pooled features.
    """

    @staticmethod
    def forward(ctx, input: Tensor, rois: Tensor, scale: float, size: tuple[int, int],
                sampling_ratio: int, aligned: bool) -> Tensor:  # fmt: skip
        n, c, h, w = input.shape
        parts = _split_rois(rois, n)
        ph, pw = size

        def pool(b: int) -> Tensor:
            return torch.ops.torchvision.roi_align(
                input[b : b + 1], parts[b][1], scale, ph, pw, sampling_ratio, aligned
            )

        out = input.new_empty((rois.shape[0], c, ph, pw))
        for (idx, _), pooled in zip(parts, _per_image(pool, n)):
            out.index_copy_(0, idx, pooled)
        ctx.parts, ctx.args, ctx.shape = (
            parts,
            (scale, ph, pw, sampling_ratio, aligned),
            (n, c, h, w),
        )
        return out

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor | None, ...]:
        n, c, h, w = ctx.shape
        scale, ph, pw, sampling_ratio, aligned = ctx.args

        def image_grad(b: int) -> Tensor:
            idx, local = ctx.parts[b]
            return torch.ops.torchvision._roi_align_backward(
                grad.index_select(0, idx), local, scale, ph, pw, 1, c, h, w, sampling_ratio, aligned
            )

        return torch.cat(_per_image(image_grad, n)), None, None, None, None, None


class ImagewiseROIAlign(ROIAlign):
    """``detectron2.layers.ROIAlign`` that runs on CPU tensors of several images one image per
    thread (:mod:`detectors.roi_align`); everything else goes to detectron2's path unchanged."""

    def forward(self, input: Tensor, rois: Tensor) -> Tensor:
        if (
            input.device.type != "cpu"
            or input.shape[0] < 2
            or input.is_quantized
            or torch.jit.is_scripting()
            or torch.jit.is_tracing()
        ):
            return super().forward(input, rois)
        assert rois.dim() == 2 and rois.size(1) == 5
        batch = rois[:, 0].long()
        in_range = (batch >= 0) & (batch < input.shape[0])
        if not bool(in_range.all()):  # a bad batch index: detectron2's path and its behaviour
            return super().forward(input, rois)
        rois = rois.to(dtype=input.dtype)  # as detectron2's ROIAlign
        x = input
        if torch.is_autocast_cpu_enabled():  # as torchvision's autocast of roi_align: fp32
            x, rois = input.float(), rois.float()
        out = _ImagewiseRoIAlign.apply(
            x, rois, self.spatial_scale, _pair(self.output_size), self.sampling_ratio, self.aligned
        )
        return out.to(input.dtype)

    @classmethod
    def from_module(cls, m: ROIAlign) -> ImagewiseROIAlign:
        return cls(m.output_size, m.spatial_scale, m.sampling_ratio, m.aligned)


def use_imagewise_roi_align(model: nn.Module) -> int:
    """Replace every ``ROIAlign`` of ``model`` (e.g. its ``ROIPooler``'s level poolers) by an
    :class:`ImagewiseROIAlign` with the same settings; returns how many were replaced. Results
    do not change (they have no parameters or buffers, and the outputs are bit-identical)."""
    replaced = 0
    for parent in model.modules():
        for name, child in list(parent.named_children()):
            if type(child) is ROIAlign:
                setattr(parent, name, ImagewiseROIAlign.from_module(child))
                replaced += 1
    return replaced
