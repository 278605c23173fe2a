"""Validation during training: ``trainer.eval_period`` wires detectron2's EvalHook and
BestCheckpointer (AP in train_log.json and TensorBoard, model_best.pth), and evaluation logs its
progress with an ETA. Tiny runs (kd=none: no teacher needed), a few iterations each.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch
from e2e_helpers import TINY, compose_cfg
from torch import nn

from detectors.inference import run_inference
from graphkd.apps.package import STUDENT_CHECKPOINT
from graphkd.apps.run import distill_worker, launch_job
from graphkd.core import engine
from graphkd.core.checkpoint import read_train_log


@pytest.fixture(scope="module", autouse=True)
def _threads():
    old = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(old)


@pytest.fixture(scope="module")
def data_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("eval_period_data")


def _run(data_root: Path, out: Path, *overrides: str) -> Path:
    cfg = compose_cfg(*TINY, "kd=none", f"outputs={out}", f"dataset.root={data_root}", *overrides)
    return Path(launch_job(distill_worker, cfg, str(out / "run")).run_dir)


def test_eval_period_logs_ap_and_keeps_best(data_root, tmp_path):
    run = _run(data_root, tmp_path, "trainer.max_iter=4", "trainer.eval_period=2")
    evals = [r for r in read_train_log(run) if engine.BEST_METRIC in r]
    # after iteration 2 (logged at index 1) and after the last one (at max_iter)
    assert [r["iteration"] for r in evals] == [1, 4]
    for r in evals:
        assert 0.0 <= r["bbox/AP"] <= 100.0 and "bbox/AP50" in r and "bbox/AP-text" in r
    assert "total_loss" in evals[0]  # logged with that step's losses
    best_ap = max(r["bbox/AP"] for r in evals)
    best_iter = next(r["iteration"] for r in evals if r["bbox/AP"] == best_ap)

    best = torch.load(run / f"{engine.BEST_CHECKPOINT}.pth", map_location="cpu")
    assert best["iteration"] == best_iter
    # the student alone, as a plain detectron2 checkpoint (no Distiller prefix, no trainer state)
    student = torch.load(run / STUDENT_CHECKPOINT, map_location="cpu")["model"]
    assert set(best["model"]) == set(student) and "trainer" not in best
    # resume reads last_checkpoint: still the full training state, not the best weights
    assert (run / "last_checkpoint").read_text().strip() == "model_final.pth"
    # the periodic checkpoint carries the best score so far (iteration 2's) for a resume
    final = torch.load(run / "model_final.pth", map_location="cpu")
    state = final["trainer"]["hooks"]["BestCheckpointer"]
    assert state == {"best_metric": evals[0]["bbox/AP"], "best_iter": 1}

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run / "tensorboard"))
    events.Reload()
    assert [e.step for e in events.Scalars("bbox/AP")] == [1, 4]

    # resuming the finished run trains nothing and keeps the log, final evaluation included
    log = (run / engine.TRAIN_LOG).read_text()
    _run(data_root, tmp_path, "trainer.max_iter=4", "trainer.eval_period=2", "trainer.resume=true")
    assert (run / engine.TRAIN_LOG).read_text() == log


def test_eval_period_zero_evaluates_only_at_the_end(data_root, tmp_path):
    cfg = compose_cfg(*TINY)
    assert cfg.trainer.eval_period == 0  # the CPU default
    run = _run(data_root, tmp_path, "trainer.max_iter=2")
    assert not any(engine.BEST_METRIC in r for r in read_train_log(run))
    assert not (run / f"{engine.BEST_CHECKPOINT}.pth").exists()
    assert (run / "metrics.json").is_file()  # the final evaluation


def test_resumed_best_checkpointer_keeps_its_score():
    hook = engine.BestCheckpointer(2, checkpointer=None, val_metric=engine.BEST_METRIC)
    assert hook.state_dict() == {}  # nothing evaluated yet: nothing to carry
    hook.load_state_dict({"best_metric": 31.5, "best_iter": 99})
    assert (hook.best_metric, hook.best_iter) == (31.5, 99)
    assert hook.state_dict() == {"best_metric": 31.5, "best_iter": 99}


class _Echo(nn.Module):
    def forward(self, inputs: list[dict]) -> list[dict]:
        return [{"n": len(inputs)} for _ in inputs]


class _Count:
    def reset(self):
        self.n = 0

    def process(self, inputs, outputs):
        self.n += len(outputs)

    def evaluate(self):
        return {"images": self.n}


class _Records(logging.Handler):
    def __init__(self):
        super().__init__(logging.INFO)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def test_inference_logs_progress_with_eta():
    log, records = logging.getLogger("detectors.inference"), _Records()
    # on the logger itself: detectron2's setup_logger may have stopped propagation to the root
    old_level = log.level
    log.addHandler(records)
    log.setLevel(logging.INFO)
    try:
        loader = [[{"image_id": i}, {"image_id": i}] for i in range(12)]
        result, _ = run_inference(_Echo(), loader, _Count(), progress_every_s=0)
    finally:
        log.removeHandler(records)
        log.setLevel(old_level)
    assert result == {"images": 24}
    assert records.messages[0] == "Start inference on 12 batches"
    progress = [m for m in records.messages if m.startswith("Inference done")]
    # after 5 warm-up batches, from batch 11 (as detectron2's inference_on_dataset)
    assert [m.split()[2] for m in progress] == ["11/12.", "12/12."]
    assert all("s / batch. ETA=0:00:00" in m for m in progress)
