"""Training and evaluation loops, composed from detectron2's own trainer, hooks and writers.

This follows detectron2's ``tools/lazyconfig_train_net.py``: a ``SimpleTrainer`` / ``AMPTrainer``
(bfloat16 autocast on CPU: ``graphkd.core.precision``) over any model that returns a loss dict,
detectron2's optimizer / LR-scheduler builders, its checkpointer (resume = model + optimizer +
scheduler + iteration) and its event writers. Two additions make runs reproducible and
resumable bit-for-bit on CPU: the sampler skips what was already consumed, and every iteration
reseeds the RNGs from (seed, iteration).
"""

from __future__ import annotations

import itertools
import logging
import math
import os
from collections.abc import Iterable, Iterator

import torch
from detectron2.config import CfgNode
from detectron2.data import (
    build_detection_test_loader,
    build_detection_train_loader,
    get_detection_dataset_dicts,
)
from detectron2.data.samplers import TrainingSampler
from detectron2.engine import AMPTrainer, SimpleTrainer, create_ddp_model, hooks
from detectron2.solver import build_lr_scheduler, build_optimizer
from detectron2.utils import comm
from detectron2.utils.env import seed_all_rng
from detectron2.utils.events import CommonMetricPrinter, JSONWriter, TensorboardXWriter
from torch import nn
from torch.utils.data import Sampler

from detectors.datasets import ImageCheckingMapper
from detectors.evaluation import METRICS, COCOBoxEvaluator
from detectors.inference import run_inference
from graphkd.core.checkpoint import TRAIN_LOG, RunCheckpointer, repair_train_log
from graphkd.core.precision import CPUAutocast, training_precision

__all__ = [
    "BEST_CHECKPOINT",
    "BEST_METRIC",
    "BestCheckpointer",
    "SkipSampler",
    "StepSeed",
    "build_trainer",
    "eval_hooks",
    "evaluate",
    "precision_of",
    "train",
]

logger = logging.getLogger(__name__)


class SkipSampler(Sampler):
    """detectron2's infinite, seeded ``TrainingSampler`` minus the first ``skip`` indices.

    After a resume at iteration k this continues the exact index stream of an uninterrupted run.
    """

    def __init__(self, size: int, seed: int, skip: int = 0) -> None:
        self._inner = TrainingSampler(size, shuffle=True, seed=seed)
        self.skip = int(skip)

    def __iter__(self) -> Iterator[int]:
        return itertools.islice(iter(self._inner), self.skip, None)


class StepSeed(hooks.HookBase):
    """Reseeds python / numpy / torch from (seed, iteration) before each step.

    Augmentation, RoI sampling and graph mining then depend on the iteration only, so a run
    resumed at iteration k takes the same random decisions as one that never stopped.
    """

    def __init__(self, seed: int) -> None:
        self._seed = int(seed)

    def before_step(self) -> None:
        seed_all_rng(self._seed * 1_000_003 + self.trainer.iter + comm.get_rank() * 7919)


def _writers(output_dir: str, max_iter: int) -> list:
    return [
        CommonMetricPrinter(max_iter),  # prints losses, lr, time and ETA
        # window 1: exact per-iteration values. A median over the last 20 would mix in
        # iterations from before a resume in one run and not in the other.
        JSONWriter(os.path.join(output_dir, TRAIN_LOG), window_size=1),
        TensorboardXWriter(os.path.join(output_dir, "tensorboard")),
    ]


# Validation during training (trainer.eval_period > 0): detectron2's EvalHook logs the scalars
# below to train_log.json / TensorBoard, its BestCheckpointer keeps the best weights.
BEST_METRIC = "bbox/AP"
BEST_CHECKPOINT = "model_best"  # .pth in the run dir


class BestCheckpointer(hooks.BestCheckpointer):
    """detectron2's ``BestCheckpointer`` whose best score is part of the trainer's state, so the
    periodic checkpoints carry it and a resumed run replaces ``model_best.pth`` only when it
    beats the score from before the interruption."""

    def state_dict(self) -> dict:
        if self.best_metric is None:
            return {}
        return {"best_metric": self.best_metric, "best_iter": self.best_iter}

    def load_state_dict(self, state: dict) -> None:
        self.best_metric, self.best_iter = state["best_metric"], state["best_iter"]


class _WeightsCheckpointer(RunCheckpointer):
    """Saves the evaluated model's weights alone (a plain detectron2 checkpoint; for a Distiller
    the student only) and leaves ``last_checkpoint``, which resume reads, alone."""

    def tag_last_checkpoint(self, last_filename_basename: str) -> None:
        pass


def eval_hooks(model: nn.Module, d2cfg: CfgNode, output_dir: str) -> list[hooks.HookBase]:
    """EvalHook + BestCheckpointer validating ``model`` on ``d2cfg.DATASETS.TEST[0]``.

    Every ``TEST.EVAL_PERIOD`` iterations and after the last one, the box AP metrics
    (``bbox/AP``, ``bbox/AP50``, ..., ``bbox/AP-<class>``, NaN ones left out) go to the event
    storage, hence to ``train_log.json`` and TensorBoard; ``output_dir/model_best.pth`` holds
    ``model``'s weights at the best ``bbox/AP``. No hooks when the period is 0 (evaluation only
    after training, by the caller) or there is no test set.
    """
    period = int(d2cfg.TEST.EVAL_PERIOD)
    if period <= 0 or not d2cfg.DATASETS.TEST:
        return []
    dataset = d2cfg.DATASETS.TEST[0]

    def eval_fn() -> dict:
        metrics = evaluate(model, d2cfg, dataset, None)  # files: the final evaluation's job
        scalars = {m: metrics[m] for m in METRICS if m in metrics}
        scalars.update({f"AP-{n}": v for n, v in metrics.get("per_class", {}).items()})
        scalars = {k: float(v) for k, v in scalars.items() if v is not None and math.isfinite(v)}
        if comm.get_world_size() > 1:  # only rank 0 has metrics; every rank logs the same
            scalars = comm.all_gather(scalars)[0]
        return {"bbox": scalars}

    best = _WeightsCheckpointer(model, output_dir)  # saves on rank 0 only
    return [
        hooks.EvalHook(period, eval_fn),
        BestCheckpointer(period, best, BEST_METRIC, mode="max", file_prefix=BEST_CHECKPOINT),
    ]


def precision_of(d2cfg: CfgNode) -> str:
    """What a job of ``d2cfg`` trains in on this machine: ``"fp16"``, ``"bf16"`` or ``"fp32"``
    (:func:`graphkd.core.precision.training_precision` of ``trainer.amp`` and the device)."""
    return training_precision(bool(d2cfg.SOLVER.AMP.ENABLED), d2cfg.MODEL.DEVICE)


def build_trainer(
    d2cfg: CfgNode, model: nn.Module, loader: Iterable[list[dict]], optimizer: torch.optim.Optimizer
) -> SimpleTrainer:
    """detectron2's trainer for ``model`` (DDP-wrapped or not) at the precision of
    ``SOLVER.AMP.ENABLED`` (``trainer.amp``).

    AMP on CUDA: ``AMPTrainer`` (fp16). AMP on a CPU with native bfloat16: ``SimpleTrainer``
    stepping :class:`CPUAutocast` (``model``'s forward in bfloat16). AMP on another CPU trains in
    fp32 (emulated bfloat16 is slower; ``trainer=cpu`` asks for AMP on every CPU) and logs so;
    fp32 on a CPU with native bfloat16 mentions the option.
    """
    amp = bool(d2cfg.SOLVER.AMP.ENABLED)
    precision = precision_of(d2cfg)
    if precision == "fp16":
        return AMPTrainer(model, loader, optimizer)
    if precision == "bf16":
        logger.info("trainer.amp=true on CPU: training forward in bfloat16 (native on this CPU)")
        return SimpleTrainer(CPUAutocast(model), loader, optimizer)
    if amp:
        logger.info(
            "trainer.amp=true: training in fp32 on %s (fp16 AMP needs CUDA, bfloat16 autocast a "
            "CPU with native bfloat16).",
            d2cfg.MODEL.DEVICE,
        )
    elif training_precision(True, d2cfg.MODEL.DEVICE) == "bf16":
        logger.info(
            "This CPU runs bfloat16 natively: trainer.amp=true trains in about 0.7x the time, at "
            "an AP within the seed spread (docs/getting-started.md)."
        )
    return SimpleTrainer(model, loader, optimizer)


def train(
    model: nn.Module,
    d2cfg: CfgNode,
    output_dir: str,
    *,
    resume: bool = False,
    log_period: int = 20,
    eval_model: nn.Module | None = None,
) -> nn.Module:
    """Train ``model`` (anything returning a loss dict) with the schedule in ``d2cfg.SOLVER``.

    Args:
        model: a detectron2 model or :class:`graphkd.Distiller`, on ``d2cfg.MODEL.DEVICE``.
        d2cfg: detectron2 config giving SOLVER, DATASETS.TRAIN, DATALOADER, INPUT and SEED.
        output_dir: checkpoints (``model_XXXXXXX.pth``, ``model_final.pth``, ``last_checkpoint``),
            ``train_log.json`` and TensorBoard events go here (rank 0 only writes).
        resume: continue from ``output_dir/last_checkpoint`` when it exists (model, optimizer,
            scheduler, iteration, and every buffer of the model such as running statistics).
        eval_model: the model to validate every ``TEST.EVAL_PERIOD`` iterations and at the
            end when that is > 0 (the student of a Distiller): see :func:`eval_hooks`.

    Returns:
        The trained (unwrapped) model.
    """
    max_iter = int(d2cfg.SOLVER.MAX_ITER)
    optimizer = build_optimizer(d2cfg, model)
    scheduler = build_lr_scheduler(d2cfg, optimizer)
    on_gpu = torch.device(d2cfg.MODEL.DEVICE).type == "cuda"
    # CPU DDP (gloo) needs device_ids=None; some KD terms may be off for a step (start_iter).
    ddp_kwargs = {} if on_gpu else {"device_ids": None}
    ddp_model = create_ddp_model(
        model, broadcast_buffers=False, find_unused_parameters=True, **ddp_kwargs
    )
    sampler, loader = _train_loader(d2cfg)
    trainer = build_trainer(d2cfg, ddp_model, loader, optimizer)
    # The trainer's state holds the iteration, the optimizer and the LR scheduler hook.
    # Atomic saves; resume falls back to the previous checkpoint when the last is unreadable.
    checkpointer = RunCheckpointer(model, output_dir, trainer=trainer)
    trainer.register_hooks(
        _train_hooks(d2cfg, output_dir, scheduler, checkpointer, eval_model, log_period)
    )
    start_iter = _resume(checkpointer, trainer, output_dir, resume, max_iter)
    if start_iter >= max_iter:
        logger.info("Training already finished (%d/%d iterations)", start_iter, max_iter)
        return model
    # The loader's iterator is created at the first step, after this: skip the consumed images.
    # TrainingSampler shards one seeded stream over ranks, so each rank skips its own share.
    sampler.skip = start_iter * (int(d2cfg.SOLVER.IMS_PER_BATCH) // comm.get_world_size())
    trainer.train(start_iter, max_iter)
    return model


def _train_loader(d2cfg: CfgNode) -> tuple[SkipSampler, Iterable[list[dict]]]:
    """The training data loader of ``d2cfg`` and its :class:`SkipSampler` (for resuming)."""
    dataset = get_detection_dataset_dicts(
        d2cfg.DATASETS.TRAIN, filter_empty=d2cfg.DATALOADER.FILTER_EMPTY_ANNOTATIONS
    )
    sampler = SkipSampler(len(dataset), seed=d2cfg.SEED)
    # seed= gives the DataLoader its own generator. Without one, its iterator draws a base seed
    # from the global torch RNG when first advanced, i.e. inside the first step after StepSeed
    # reseeded, so only a resumed run's first step would see a shifted stream (RPN / RoI sampling).
    # The mapper names the file of an unreadable image or one whose size differs from the json.
    mapper = ImageCheckingMapper(d2cfg, is_train=True)
    loader = build_detection_train_loader(
        d2cfg, dataset=dataset, sampler=sampler, mapper=mapper, seed=d2cfg.SEED
    )
    return sampler, loader


def _train_hooks(
    d2cfg: CfgNode,
    output_dir: str,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    checkpointer: RunCheckpointer,
    eval_model: nn.Module | None,
    log_period: int,
) -> list[hooks.HookBase | None]:
    """The trainer's hooks, in order: RNG reseeding, timing, LR schedule, validation (with
    ``eval_model``), periodic checkpoints and log writers (these two on rank 0 only)."""
    main = comm.is_main_process()
    max_iter = int(d2cfg.SOLVER.MAX_ITER)
    return [
        StepSeed(d2cfg.SEED),
        hooks.IterationTimer(),
        hooks.LRScheduler(scheduler=scheduler),
        # Before the checkpointer: a checkpoint then holds the best AP up to its iteration.
        *(eval_hooks(eval_model, d2cfg, output_dir) if eval_model is not None else []),
        hooks.PeriodicCheckpointer(checkpointer, d2cfg.SOLVER.CHECKPOINT_PERIOD) if main else None,
        hooks.PeriodicWriter(_writers(output_dir, max_iter), period=log_period) if main else None,
    ]


def _resume(
    checkpointer: RunCheckpointer,
    trainer: SimpleTrainer,
    output_dir: str,
    resume: bool,
    max_iter: int,
) -> int:
    """The iteration to start from: after the last checkpoint when resuming, else 0. The
    training log is cut to match."""
    start_iter = 0
    if resume and checkpointer.has_checkpoint():
        checkpointer.resume_or_load("", resume=True)
        start_iter = trainer.iter + 1
        logger.info(
            "Resumed from %s at iteration %d", checkpointer.get_checkpoint_file(), start_iter
        )
    # The log must end where the weights do: drop what was logged after them. Not after a
    # finished run: its log ends with the final evaluation, logged at iteration max_iter.
    if comm.is_main_process() and start_iter < max_iter:
        repair_train_log(os.path.join(output_dir, TRAIN_LOG), start_iter)
    return start_iter


def evaluate(model: nn.Module, d2cfg: CfgNode, dataset_name: str, output_dir: str | None) -> dict:
    """COCO box AP of ``model`` on a registered dataset (detectors' pycocotools evaluator).

    Writes ``coco_instances_results.json`` to ``output_dir`` (unless None) and returns the
    metrics (AP, AP50, AP75, APs, APm, APl in percent, per_class) plus ``latency_s`` (model
    seconds per image).
    Needs no compiled detectron2 extension.
    """
    loader = build_detection_test_loader(
        d2cfg, dataset_name, mapper=ImageCheckingMapper(d2cfg, is_train=False)
    )
    evaluator = COCOBoxEvaluator(dataset_name, output_dir=output_dir)
    _, seconds = run_inference(model, loader, evaluator)
    metrics = dict(evaluator.last_metrics or {})
    metrics["latency_s"] = seconds
    return metrics
