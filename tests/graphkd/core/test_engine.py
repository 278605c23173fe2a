"""Which detectron2 trainer a run gets at which precision: fp16 AMP on CUDA, bfloat16 autocast on
a CPU with native bfloat16, and a warning where ``trainer.amp`` cannot apply."""

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
    with caplog.at_level(logging.WARNING, logger="graphkd.core.engine"):
        trainer, model = _build(True, "cpu", False, monkeypatch)
    assert type(trainer) is SimpleTrainer and trainer.model is model
    (record,) = caplog.records
    assert "trainer.amp=true has no effect on cpu" in record.getMessage()
    assert "trainer.amp=false" in record.getMessage()


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
