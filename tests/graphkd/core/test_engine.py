"""Which detectron2 trainer a run gets: AMP on CUDA only, and a warning where AMP cannot apply."""

from __future__ import annotations

import logging

import pytest
from detectron2.config import get_cfg
from detectron2.engine import AMPTrainer, SimpleTrainer

from graphkd.core.engine import trainer_class


def _cfg(amp: bool, device: str):
    cfg = get_cfg()
    cfg.SOLVER.AMP.ENABLED = amp
    cfg.MODEL.DEVICE = device
    return cfg


@pytest.mark.parametrize(("amp", "device", "expected"), [
    (False, "cpu", SimpleTrainer),
    (False, "cuda", SimpleTrainer),
    (True, "cuda", AMPTrainer),
    (True, "cuda:1", AMPTrainer),
])  # fmt: skip
def test_amp_trainer_on_cuda_only(amp, device, expected, caplog):
    with caplog.at_level(logging.WARNING, logger="graphkd.core.engine"):
        assert trainer_class(_cfg(amp, device)) is expected
    assert not caplog.records


def test_amp_on_cpu_trains_in_fp32_and_says_so(caplog):
    with caplog.at_level(logging.WARNING, logger="graphkd.core.engine"):
        assert trainer_class(_cfg(True, "cpu")) is SimpleTrainer
    (record,) = caplog.records
    assert "trainer.amp=true has no effect on cpu" in record.getMessage()
    assert "trainer.amp=false" in record.getMessage()
