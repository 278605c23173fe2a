"""Run a detector over a data loader and feed an evaluator, without ``detectron2.evaluation``.

``detectron2.evaluation``'s package import pulls in its compiled ``_C`` (fast COCO eval), which
GPU machines here do not have; this loop is what ``inference_on_dataset`` does, minus that import.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable

import torch
from torch import nn

__all__ = ["run_inference"]

logger = logging.getLogger(__name__)


def run_inference(model: nn.Module, loader: Iterable[list[dict]], evaluator) -> tuple[dict, float]:
    """Predict every batch of ``loader`` with ``model`` (in eval mode) and evaluate.

    Args:
        model: a detectron2 model returning ``[{"instances": Instances}, ...]`` in eval mode.
        loader: batches of dataset dicts as from ``build_detection_test_loader``.
        evaluator: a ``DatasetEvaluator``-like object (reset / process / evaluate).

    Returns:
        (the evaluator's result, mean model seconds per image excluding the first 2 warm-up images).
    """
    was_training = model.training
    model.eval()
    evaluator.reset()
    times: list[float] = []
    n = 0
    try:
        with torch.no_grad():
            for inputs in loader:
                start = time.perf_counter()
                outputs = model(inputs)
                if torch.cuda.is_available():
                    torch.cuda.synchronize()
                times.extend([(time.perf_counter() - start) / len(inputs)] * len(inputs))
                evaluator.process(inputs, outputs)
                n += len(inputs)
    finally:
        model.train(was_training)
    steady = times[2:] or times
    seconds = sum(steady) / max(len(steady), 1)
    logger.info("Inference on %d images: %.3f s / image", n, seconds)
    return evaluator.evaluate(), seconds
