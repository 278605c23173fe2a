"""Which detectron2 trainer a run gets at which precision: fp16 AMP on CUDA, bfloat16 autocast on
a CPU with native bfloat16 (what counts as native), and a log line where ``trainer.amp`` cannot
apply."""

from __future__ import annotations

import logging

import pytest
import torch
from detectron2.config import get_cfg
from detectron2.engine import AMPTrainer, SimpleTrainer
from torch import nn

from graphkd.core import engine, precision
from graphkd.core.precision import CPUAutocast


def _cfg(amp: bool, device: str):
    cfg = get_cfg()
    cfg.SOLVER.AMP.ENABLED = amp
    cfg.MODEL.DEVICE = device
    return cfg


def _build(amp: bool, device: str, bf16: bool, monkeypatch) -> tuple[SimpleTrainer, nn.Module]:
    monkeypatch.setattr(precision, "cpu_bf16_supported", lambda: bf16)
    model = nn.Linear(2, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    return engine.build_trainer(_cfg(amp, device), model, [], optimizer), model


@pytest.mark.parametrize(("amp", "device", "bf16", "expected"), [
    (False, "cpu", True, SimpleTrainer),
    (False, "cuda", False, SimpleTrainer),
    (True, "cuda", False, AMPTrainer),
    (True, "cuda:1", True, AMPTrainer),
])  # fmt: skip
@pytest.mark.filterwarnings("ignore::UserWarning")  # GradScaler on a machine without CUDA
def test_fp32_or_cuda_amp_steps_the_model_itself(amp, device, bf16, expected, monkeypatch, caplog):
    with caplog.at_level(logging.WARNING, logger="graphkd.core.engine"):
        trainer, model = _build(amp, device, bf16, monkeypatch)
    assert type(trainer) is expected and trainer.model is model
    assert not caplog.records


def test_amp_on_a_bf16_cpu_steps_the_model_under_autocast(monkeypatch, caplog):
    with caplog.at_level(logging.WARNING, logger="graphkd.core.engine"):
        trainer, model = _build(True, "cpu", True, monkeypatch)
    assert type(trainer) is SimpleTrainer
    assert isinstance(trainer.model, CPUAutocast) and trainer.model.module is model
    assert not caplog.records


def test_amp_on_a_cpu_without_bf16_trains_in_fp32_and_says_so(monkeypatch, caplog):
    with caplog.at_level(logging.INFO, logger="graphkd.core.engine"):
        trainer, model = _build(True, "cpu", False, monkeypatch)
    assert type(trainer) is SimpleTrainer and trainer.model is model
    (record,) = caplog.records  # info, not a warning: trainer=cpu asks for AMP on every CPU
    assert record.levelno == logging.INFO
    assert "trainer.amp=true: training in fp32 on cpu" in record.getMessage()


_CPUINFO = "processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f {extra}\n\nprocessor\t: 1\n"


@pytest.mark.parametrize(("onednn", "extra", "native"), [
    (True, "avx512_bf16", True),
    (True, "amx_bf16 amx_tile", True),
    (True, "avx512bw avx512vl avx512dq", False),  # AVX-512 alone: oneDNN emulates bfloat16
    (False, "avx512_bf16", False),  # oneDNN held below it (ONEDNN_MAX_CPU_ISA=AVX2)
])  # fmt: skip
def test_native_bf16_needs_onednn_and_the_cpu_instructions(
    onednn, extra, native, tmp_path, monkeypatch
):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(_CPUINFO.format(extra=extra))
    read = precision.cpu_flags
    monkeypatch.setattr(precision, "cpu_flags", lambda: read(str(cpuinfo)))
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: onednn, False)
    assert precision.cpu_bf16_supported() is native
    assert precision.training_precision(True, "cpu") == ("bf16" if native else "fp32")


def test_cpu_flags_of_an_unreadable_cpuinfo_are_empty(tmp_path):
    assert precision.cpu_flags(str(tmp_path / "missing")) == frozenset()


@pytest.mark.parametrize("bf16", [True, False])
def test_fp32_on_a_bf16_cpu_mentions_amp(bf16, monkeypatch, caplog):
    with caplog.at_level(logging.INFO, logger="graphkd.core.engine"):
        trainer, model = _build(False, "cpu", bf16, monkeypatch)
    assert trainer.model is model
    hints = [r for r in caplog.records if "trainer.amp=true trains in about" in r.getMessage()]
    assert len(hints) == bf16 and all(r.levelno == logging.INFO for r in hints)


class _TwoLosses(nn.Module):
    """A linear layer whose output dtype is recorded; returns a detectron2-style loss dict."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(4, 3)
        self.seen: list[torch.dtype] = []

    def forward(self, batched_inputs: list[dict]) -> dict[str, torch.Tensor]:
        x = torch.stack([d["x"] for d in batched_inputs])
        y = self.linear(x)
        self.seen.append(y.dtype)
        with torch.autocast("cpu", enabled=False):  # as the Distiller's graph terms do
            fp32 = (y.float() ** 2).mean()
        return {"loss_a": y.sum(), "loss_b": fp32}


def test_cpu_autocast_runs_the_forward_in_bf16_and_returns_fp32_losses():
    module = _TwoLosses()
    losses = CPUAutocast(module)([{"x": torch.ones(4)}, {"x": torch.zeros(4)}])
    assert module.seen == [torch.bfloat16]
    assert {v.dtype for v in losses.values()} == {torch.float32} and len(losses) == 2
    sum(losses.values()).backward()
    # Weights and their gradients stay fp32: the optimizer never sees bfloat16.
    assert {p.grad.dtype for p in module.parameters()} == {torch.float32}
    # Outside the wrapper the same module runs in fp32.
    module([{"x": torch.ones(4)}])
    assert module.seen[-1] == torch.float32
