"""Mixed-precision training on CPU: bfloat16 autocast of the training forward.

detectron2's ``AMPTrainer`` is CUDA-only (fp16 with a ``GradScaler``). On a CPU with native
bfloat16 kernels (oneDNN on AVX-512-BF16 / AMX) the same idea is a ``torch.autocast("cpu")``
around the forward: convolutions and matrix products run in bfloat16, the weights, gradients
and optimizer stay fp32, and bfloat16's fp32 exponent range needs no loss scaling. Without
native kernels bfloat16 is emulated and slower than fp32, so it is used only where supported.
"""

from __future__ import annotations

import contextlib
import functools

import torch
from torch import Tensor, nn

__all__ = [
    "CPUAutocast",
    "NATIVE_BF16_FLAGS",
    "autocast",
    "cpu_bf16_supported",
    "cpu_flags",
    "training_precision",
]


# x86 feature flags of bfloat16 arithmetic (AVX-512-BF16, AMX). oneDNN also offers bfloat16 on
# plain AVX-512 (``_is_mkldnn_bf16_supported`` is True there), but emulated: slower than fp32.
NATIVE_BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})


@functools.cache  # the hardware does not change within a process; a job asks several times
def cpu_flags(cpuinfo: str = "/proc/cpuinfo") -> frozenset[str]:
    """The CPU's feature flags as Linux lists them in ``cpuinfo`` (empty where it cannot be read)."""
    try:
        with open(cpuinfo, encoding="utf-8") as f:
            for line in f:
                if line.startswith("flags"):
                    return frozenset(line.partition(":")[2].split())
    except OSError:
        pass
    return frozenset()


def cpu_bf16_supported() -> bool:
    """Whether this CPU runs bfloat16 convolutions and matrix products natively: oneDNN has
    bfloat16 kernels for it and the CPU has bfloat16 instructions (:data:`NATIVE_BF16_FLAGS`)."""
    try:
        onednn = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # a build without oneDNN
        return False
    return onednn and bool(cpu_flags() & NATIVE_BF16_FLAGS)


def training_precision(amp: bool, device: str | torch.device) -> str:
    """What ``trainer.amp=amp`` trains in on ``device``: ``"fp16"`` (CUDA, detectron2's
    ``AMPTrainer``), ``"bf16"`` (a CPU with native bfloat16, :class:`CPUAutocast`) or ``"fp32"``."""
    if not amp:
        return "fp32"
    kind = torch.device(device).type
    if kind == "cuda":
        return "fp16"
    return "bf16" if kind == "cpu" and cpu_bf16_supported() else "fp32"


_DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16}


def autocast(precision: str, device_type: str) -> contextlib.AbstractContextManager:
    """The autocast context of a ``precision`` from :func:`training_precision` (none for fp32)."""
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device_type, dtype=_DTYPES[precision])


class CPUAutocast(nn.Module):
    """Runs ``module``'s forward under CPU bfloat16 autocast and returns its losses in fp32.

    Wraps the model the trainer steps (as DDP does), not the one checkpoints save, so weights
    and checkpoints are those of ``module``. Terms that need fp32 turn autocast off themselves
    (the Distiller's graph and KD terms).

    Args:
        module: returns a dict of scalar losses in training (a detectron2 model, a Distiller,
            or either wrapped in DDP).
    """

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module

    def forward(self, batched_inputs: list[dict]) -> dict[str, Tensor]:
        with autocast("bf16", "cpu"):
            losses = self.module(batched_inputs)
        return {name: loss.float() for name, loss in losses.items()}
