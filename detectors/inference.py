"""Run a detector over a data loader and feed an evaluator, without ``detectron2.evaluation``.

``detectron2.evaluation``'s package import pulls in its compiled ``_C`` (fast COCO eval), which
GPU machines here do not have; this loop is what ``inference_on_dataset`` does, minus that
import, and logs progress the same way (batches done, seconds per batch, ETA).
"""

from __future__ import annotations

import datetime
import logging
import time
from collections.abc import Iterable

import torch
from detectron2.utils.logger import log_every_n_seconds
from torch import nn

__all__ = ["run_inference"]

logger = logging.getLogger(__name__)


def run_inference(
    model: nn.Module,
    loader: Iterable[list[dict]],
    evaluator,
    *,
    progress_every_s: float = 5.0,
) -> tuple[dict, float]:
    """Predict every batch of ``loader`` with ``model`` (in eval mode) and evaluate.

    Args:
        model: a detectron2 model returning ``[{"instances": Instances}, ...]`` in eval mode.
        loader: batches of dataset dicts as from ``build_detection_test_loader``.
        evaluator: a ``DatasetEvaluator``-like object (reset / process / evaluate).
        progress_every_s: log "Inference done i/N ... ETA=" at most this often (as detectron2's
            ``inference_on_dataset``: after a few warm-up batches, or at once for slow ones).

    Returns:
        (the evaluator's result, mean model seconds per image excluding the first 2 warm-up images).
    """
    total = len(loader) if hasattr(loader, "__len__") else None
    logger.info("Start inference on %s batches", total if total is not None else "?")
    num_warmup = min(5, total - 1) if total else 5
    was_training = model.training
    model.eval()
    evaluator.reset()
    times: list[float] = []
    n = 0
    start = time.perf_counter()
    try:
        with torch.no_grad():
            for idx, inputs in enumerate(loader):
                if idx == num_warmup:  # the ETA ignores warm-up batches
                    start = time.perf_counter()
                t0 = time.perf_counter()
                outputs = model(inputs)
                if torch.cuda.is_available():
                    torch.cuda.synchronize()
                compute = time.perf_counter() - t0
                times.extend([compute / len(inputs)] * len(inputs))
                evaluator.process(inputs, outputs)
                n += len(inputs)
                done = idx + 1 - num_warmup * int(idx >= num_warmup)
                per_batch = (time.perf_counter() - start) / done
                if total and (idx >= num_warmup * 2 or compute > 5):
                    eta = datetime.timedelta(seconds=int(per_batch * (total - idx - 1)))
                    log_every_n_seconds(
                        logging.INFO,
                        f"Inference done {idx + 1}/{total}. {per_batch:.4f} s / batch. ETA={eta}",
                        n=progress_every_s,
                        name=__name__,
                    )
    finally:
        model.train(was_training)
    steady = times[2:] or times
    seconds = sum(steady) / max(len(steady), 1)
    logger.info("Inference on %d images: %.3f s / image", n, seconds)
    return evaluator.evaluate(), seconds
