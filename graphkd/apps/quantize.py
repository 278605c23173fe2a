"""int8 students through onnxruntime's static quantisation (``precision=int8``, opt-in).

``model.onnx`` -> ``model.int8.onnx`` beside it: weights int8 per output channel, activations
uint8 with ranges calibrated (MinMax) on a few real pages, in QDQ form for the convolutions and
the box head's matrix products (``Conv``, ``Gemm``, ``MatMul``; RoIAlign, NMS and the rest stay
float). ``export.json`` records it under ``"int8"``; it is made again when ``model.onnx`` is newer.
docs/deployment.md has its measured AP and latency: it is not the default for a reason.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import numpy as np
from detectron2.config import CfgNode

from detectors.export import preprocess
from graphkd.apps.export_cache import read_export_info, write_export_info

__all__ = ["CALIBRATION_PAGES", "INT8_FILE", "QUANT_OPS", "ensure_int8", "quantize_onnx"]

logger = logging.getLogger(__name__)

INT8_FILE = "model.int8.onnx"
QUANT_OPS = ("Conv", "Gemm", "MatMul")
CALIBRATION_PAGES = 16  # default number of pages the activation ranges are calibrated on


def _calibration_inputs(
    pages: Iterable[np.ndarray], cfg: CfgNode, limit: int
) -> Iterator[dict[str, np.ndarray]]:
    """``{"image": (3, h, w) float32}`` feeds of the first ``limit`` pages (BGR uint8)."""
    for i, page in enumerate(pages):
        if i >= limit:
            return
        if cfg.INPUT.FORMAT == "RGB":
            page = page[:, :, ::-1]
        yield {"image": preprocess(page, cfg).numpy()}


def quantize_onnx(
    fp32: str | os.PathLike,
    out: str | os.PathLike,
    pages: Iterable[np.ndarray],
    cfg: CfgNode,
    num_pages: int = CALIBRATION_PAGES,
) -> int:
    """Quantise the ONNX export ``fp32`` into ``out`` (written atomically), calibrated on the first
    ``num_pages`` of ``pages`` (``(H, W, 3)`` uint8 BGR, resized as the model's input).

    Returns:
        The number of calibration pages used.

    Raises:
        ValueError: no calibration page.
    """
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    feeds = list(_calibration_inputs(pages, cfg, num_pages))
    if not feeds:
        raise ValueError("precision=int8 needs at least one calibration page.")

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.it = iter(feeds)

        def get_next(self) -> dict | None:
            return next(self.it, None)

    out = Path(out)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".int8-") as tmp:
        pre, q = Path(tmp) / "pre.onnx", Path(tmp) / "int8.onnx"
        # Shape inference and constant folding first, as onnxruntime recommends for static
        # quantisation (the symbolic pass does not know detectron2's dynamic shapes: skipped).
        quant_pre_process(str(fp32), str(pre), skip_symbolic_shape=True)
        quantize_static(
            str(pre),
            str(q),
            Reader(),
            quant_format=QuantFormat.QDQ,
            op_types_to_quantize=list(QUANT_OPS),
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            # MinMax reduces every tensor to its min and max inside the calibration graph, so
            # the pages' activations are never all kept in memory.
            calibrate_method=CalibrationMethod.MinMax,
        )
        os.replace(q, out)
    return len(feeds)


def ensure_int8(
    fp32: str | os.PathLike,
    cfg: CfgNode,
    pages: Callable[[], Iterable[np.ndarray]],
    num_pages: int = CALIBRATION_PAGES,
) -> Path:
    """``model.int8.onnx`` beside the ONNX export ``fp32``: reused when newer than it, else
    quantised from it, calibrated on ``pages()`` (called only then), and recorded in the folder's
    ``export.json``."""
    fp32 = Path(fp32)
    out = fp32.parent / INT8_FILE
    info = read_export_info(fp32.parent)
    recorded = (info.get("int8") or {}).get("file") == INT8_FILE
    if recorded and out.is_file() and out.stat().st_mtime >= fp32.stat().st_mtime:
        return out
    print(f"quantising {fp32} to int8 (static, calibrated on up to {num_pages} pages)")
    used = quantize_onnx(fp32, out, pages(), cfg, num_pages)
    info["int8"] = {
        "file": INT8_FILE,
        "method": "onnxruntime quantize_static, QDQ, per-channel int8 weights, uint8 "
        "activations, MinMax calibration",
        "ops": list(QUANT_OPS),
        "calibration_pages": used,
    }
    write_export_info(fp32.parent, info)
    logger.info("int8 -> %s (%d calibration pages)", out, used)
    return out
