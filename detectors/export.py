"""Deploy a detectron2 Faster R-CNN without detectron2: TorchScript and ONNX exports, stock configs.

The exports go through detectron2's own tools (:class:`detectron2.export.TracingAdapter` +
``torch.jit.trace`` / ``torch.onnx.export``, as ``tools/deploy/export_model.py --export-method
tracing``). The exported graph is ``model.inference(..., do_postprocess=False)``:

- input ``image``: float32 ``(3, H, W)``, 0-255, in the config's ``INPUT.FORMAT`` (BGR here),
  already resized as detectron2's ``DefaultPredictor`` does (short side ``INPUT.MIN_SIZE_TEST``,
  long side at most ``INPUT.MAX_SIZE_TEST``; :func:`preprocess`). Pixel normalisation and the
  padding to the FPN stride are inside the graph. Any H, W works (the trace is size-generic).
- outputs ``boxes`` ``(N, 4)`` float32 XYXY in the input's pixels, ``scores`` ``(N,)`` float32,
  ``classes`` ``(N,)`` int64 (contiguous class index), sorted by score. Multiply the boxes by
  ``original size / input size`` to get page coordinates.

The test-time settings (proposals, detections per image, score threshold) are those of the model's
config at export time and are frozen into the graph. Running the files needs no detectron2 and no
GraphKD code: TorchScript needs ``torch`` plus ``torchvision`` (imported once, it registers the
``torchvision::nms`` / ``roi_align`` operators the graph calls); ONNX needs only ``onnxruntime``.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from detectron2.config import CfgNode, get_cfg
from detectron2.data import transforms as T
from detectron2.export import TracingAdapter
from detectron2.modeling import BACKBONE_REGISTRY
from torch import nn

from . import backbones as _backbones  # noqa: F401  (registers the torchvision backbones)
from .config import inference_settings

__all__ = [
    "BOX_ATOL",
    "EXPORT_FORMATS",
    "EXPORT_INFO",
    "FILE_NAMES",
    "ONNX_OPSET",
    "OUTPUT_NAMES",
    "OnnxRunner",
    "SCORE_ATOL",
    "TorchScriptRunner",
    "compare_detections",
    "detect",
    "export_model",
    "export_onnx",
    "export_torchscript",
    "is_stock_config",
    "preprocess",
    "quantize_box_head",
    "run_onnx",
    "run_torchscript",
    "stock_config",
]

logger = logging.getLogger(__name__)

EXPORT_FORMATS = ("torchscript", "onnx")
FILE_NAMES = {"torchscript": "model.ts", "onnx": "model.onnx"}
EXPORT_INFO = "export.json"
OUTPUT_NAMES = ("boxes", "scores", "classes")
# RoIAlignV2 (aligned=True) maps to ONNX RoiAlign's half_pixel mode, which needs opset 16.
ONNX_OPSET = 16
# Exported vs eager, same input: largest box coordinate difference (input pixels) and score
# difference accepted for matched detections (same class; see compare_detections). Measured:
# TorchScript identical, onnxruntime ~1e-4 px / 1e-6 (float32 reordering in its kernels).
BOX_ATOL = 0.05
SCORE_ATOL = 1e-3

Detections = tuple[torch.Tensor, torch.Tensor, torch.Tensor]  # boxes, scores, classes


def is_stock_config(cfg: CfgNode) -> bool:
    """Whether stock detectron2 builds this model (its backbone builder is detectron2's own)."""
    name = cfg.MODEL.BACKBONE.NAME
    try:
        builder = BACKBONE_REGISTRY.get(name)
    except KeyError:
        return False
    return builder.__module__.startswith("detectron2.")


def stock_config(cfg: CfgNode) -> CfgNode:
    """A copy of ``cfg`` with only the keys of detectron2's ``get_cfg()``, so that stock
    ``get_cfg().merge_from_file()`` loads its dump (no project-specific keys such as
    ``MODEL.BACKBONE.ARCH`` or ``MODEL.TV_BACKBONE``).

    Raises:
        ValueError: the backbone is not one stock detectron2 builds (MobileNetV2 /
            EfficientNet-B0): deploy those through the TorchScript / ONNX export instead.
    """
    if not is_stock_config(cfg):
        raise ValueError(
            f"MODEL.BACKBONE.NAME={cfg.MODEL.BACKBONE.NAME!r} is not built by stock detectron2; "
            "a plain detectron2 config cannot describe it. Use the exported TorchScript / ONNX "
            "file (scripts/export.py), or import detectors.backbones before building it."
        )

    def prune(node: CfgNode, ref: CfgNode) -> CfgNode:
        out = CfgNode()
        for key, value in node.items():
            if key not in ref:
                continue
            out[key] = prune(value, ref[key]) if isinstance(value, CfgNode) else value
        return out

    return prune(cfg, get_cfg())


def preprocess(image: np.ndarray, cfg: CfgNode) -> torch.Tensor:
    """``(H, W, 3)`` uint8 page in ``cfg.INPUT.FORMAT`` -> the exported graph's input
    ``(3, h, w)`` float32, resized exactly as ``DefaultPredictor`` does."""
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"Expected an (H, W, 3) image, got shape {image.shape}.")
    size = int(cfg.INPUT.MIN_SIZE_TEST)
    aug = T.ResizeShortestEdge([size, size], int(cfg.INPUT.MAX_SIZE_TEST))
    resized = aug.get_transform(image).apply_image(image)
    return torch.as_tensor(resized.astype("float32").transpose(2, 0, 1))


def _inference(model: nn.Module, image: torch.Tensor) -> Detections:
    inst = model.inference([{"image": image}], do_postprocess=False)[0]
    return inst.pred_boxes.tensor, inst.scores, inst.pred_classes


def detect(model: nn.Module, image: torch.Tensor) -> Detections:
    """The eager model's ``(boxes, scores, classes)`` for one :func:`preprocess`-ed image, as the
    exported graph computes them (``model`` in eval mode)."""
    with torch.no_grad():
        return _inference(model, image)


def _adapter(model: nn.Module, sample: torch.Tensor) -> TracingAdapter:
    if model.training:
        raise ValueError("Export needs the model in eval mode (model.eval()).")
    if next(model.parameters()).device.type != "cpu":
        raise ValueError("Export runs on CPU: move the model there first (model.cpu()).")
    # A frozen copy: the saved parameters then do not require grad, so the exported file's
    # outputs are plain tensors even when called outside torch.no_grad().
    frozen = copy.deepcopy(model).requires_grad_(False)
    return TracingAdapter(frozen, (sample,), _inference).eval()


def _quiet(fn: Callable):
    """Run ``fn`` without the tracer's warnings: detectron2's asserts and shape checks become
    constants, which is what its export path expects (its own tests trace the same way)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with torch.no_grad():
            return fn()


def export_torchscript(model: nn.Module, sample: torch.Tensor, path: str | os.PathLike) -> Path:
    """Trace ``model`` on ``sample`` (a :func:`preprocess`-ed page) and save TorchScript."""
    adapter = _adapter(model, sample)
    traced = _quiet(lambda: torch.jit.trace(adapter, (sample,), check_trace=False))
    path = Path(path)
    # Through a Python file, not the path: torch then serialises in memory and a failed write
    # (a full disk) raises OSError; given a path, its C++ writer aborts the whole process.
    with open(path, "wb") as f:
        torch.jit.save(traced, f)
    return path


def export_onnx(
    model: nn.Module, sample: torch.Tensor, path: str | os.PathLike, opset: int = ONNX_OPSET
) -> Path:
    """Export ``model`` to ONNX (dynamic H, W and number of detections)."""
    if opset < 16:
        raise ValueError(f"ONNX opset {opset} < 16 cannot express RoIAlignV2 (aligned=True).")
    adapter = _adapter(model, sample)
    path = Path(path)
    n = {0: "num_detections"}
    _quiet(
        lambda: torch.onnx.export(
            adapter,
            (sample,),
            str(path),
            opset_version=opset,
            input_names=["image"],
            output_names=list(OUTPUT_NAMES),
            dynamic_axes={"image": {1: "height", 2: "width"}, **dict.fromkeys(OUTPUT_NAMES, n)},
        )
    )
    return path


class TorchScriptRunner:
    """An exported TorchScript file, loaded once and called per page.

    ``runner(image)``: ``image`` a :func:`preprocess`-ed ``(3, H, W)`` float32 tensor ->
    ``(boxes (N, 4), scores (N,), classes (N,))``. torch's CPU threads are process-wide: set
    them with ``torch.set_num_threads``.
    """

    def __init__(self, path: str | os.PathLike):
        import torchvision  # noqa: F401  (registers the nms / roi_align operators it calls)

        self.path = Path(path)
        self.model = torch.jit.load(str(path))

    def __call__(self, image: torch.Tensor) -> Detections:
        with torch.no_grad():
            return tuple(self.model(image))


class OnnxRunner:
    """An exported ONNX file in one onnxruntime CPU session, created once and called per page.

    Args:
        path: ``model.onnx`` (or a quantised copy of it).
        threads: onnxruntime's intra-op threads (0: its default, one per physical core).

    ``runner(image)``: as :class:`TorchScriptRunner`.
    """

    def __init__(self, path: str | os.PathLike, threads: int = 0):
        try:
            import onnxruntime as ort
        except ImportError as e:
            raise ImportError(
                "Running ONNX exports needs onnxruntime: pip install -e '.[export]'"
            ) from e
        options = ort.SessionOptions()
        if threads > 0:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        self.path = Path(path)
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def __call__(self, image: torch.Tensor) -> Detections:
        outputs = self.session.run(list(OUTPUT_NAMES), {"image": image.numpy()})
        return tuple(torch.from_numpy(o) for o in outputs)


def run_torchscript(path: str | os.PathLike, image: torch.Tensor) -> Detections:
    """Load and run an exported TorchScript file once (:class:`TorchScriptRunner` to keep it)."""
    return TorchScriptRunner(path)(image)


def run_onnx(path: str | os.PathLike, image: torch.Tensor) -> Detections:
    """Run an exported ONNX file once with onnxruntime on CPU (:class:`OnnxRunner` to keep the
    session)."""
    return OnnxRunner(path)(image)


def compare_detections(
    reference: Detections,
    candidate: Detections,
    box_atol: float = BOX_ATOL,
    score_atol: float = SCORE_ATOL,
) -> dict:
    """How far ``candidate`` is from ``reference`` (both ``(boxes, scores, classes)``).

    Detections are matched one to one regardless of order (two near-equal scores may swap places
    between runtimes): each reference detection takes the candidate of the same class, with a
    score within ``score_atol``, whose box is nearest (largest coordinate difference).

    Returns:
        ``{"match", "num_reference", "num_candidate", "max_box_diff", "max_score_diff",
        "unmatched"}``: ``match`` is True when the counts are equal and every reference
        detection has its own candidate within ``box_atol`` pixels and ``score_atol``.
    """
    (rb, rs, rc), (cb, cs, cc) = reference, candidate
    out = {"num_reference": int(len(rs)), "num_candidate": int(len(cs))}
    if len(rs) == 0 or len(cs) == 0:
        return {**out, "match": len(rs) == len(cs), "unmatched": max(len(rs), len(cs))}
    box = (rb.float()[:, None, :] - cb.float()[None, :, :]).abs().amax(dim=2)  # (R, C)
    score = (rs.float()[:, None] - cs.float()[None, :]).abs()
    allowed = (rc.long()[:, None] == cc.long()[None, :]) & (score <= score_atol)
    cost, best = box.masked_fill(~allowed, float("inf")).min(dim=1)
    ok = cost <= box_atol
    unmatched = int((~ok).sum()) + int(ok.sum()) - len(best[ok].unique())  # misses + shared
    finite = cost.isfinite()
    return {
        **out,
        "match": len(rs) == len(cs) and unmatched == 0,
        "max_box_diff": float(cost[finite].max()) if finite.any() else None,
        "max_score_diff": float(score[finite, best[finite]].max()) if finite.any() else None,
        "unmatched": unmatched,
    }


def quantize_box_head(model: nn.Module) -> nn.Module:
    """int8 dynamic quantisation (weights int8, activations quantised on the fly) of the RoI box
    head's and box predictor's ``nn.Linear`` layers, in place; CPU only. Returns ``model``."""
    heads = model.roi_heads
    for name in ("box_head", "box_predictor"):
        quantized = torch.ao.quantization.quantize_dynamic(
            getattr(heads, name), {nn.Linear}, dtype=torch.qint8
        )
        setattr(heads, name, quantized)
    return model


def export_model(
    model: nn.Module,
    cfg: CfgNode,
    pages: Sequence[np.ndarray],
    out_dir: str | os.PathLike,
    formats: Sequence[str] = EXPORT_FORMATS,
    classes: Sequence[str] | None = None,
    extra_info: Mapping | None = None,
) -> dict:
    """Export ``model`` and check every export against the eager model.

    Args:
        model: the detector in eval mode, on CPU.
        cfg: its detectron2 config (input format and test size).
        pages: ``(H, W, 3)`` uint8 pages in ``cfg.INPUT.FORMAT``; the first one is traced, all
            are compared (give pages of other sizes to check that the trace generalises).
        out_dir: receives ``model.ts`` / ``model.onnx`` and ``export.json`` (how to feed the
            files, their outputs, classes, test-time settings and the comparison).
        formats: subset of :data:`EXPORT_FORMATS`.

    Returns:
        The ``export.json`` content; ``["checks"][format]`` holds one
        :func:`compare_detections` result per page.
    """
    unknown = set(formats) - set(EXPORT_FORMATS)
    if unknown or not formats:
        raise ValueError(f"formats={list(formats)}: choose from {list(EXPORT_FORMATS)}.")
    if not pages:
        raise ValueError("export_model needs at least one page to trace and check.")
    if model.training:
        raise ValueError("Export needs the model in eval mode (model.eval()).")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    inputs = [preprocess(p, cfg) for p in pages]
    files, checks = _export_and_check(model, inputs, out_dir, formats)
    info = {
        "files": files,
        **_io_description(cfg),
        "classes": list(classes) if classes is not None else None,
        "test_settings": asdict(inference_settings(cfg)),
        "onnx_opset": ONNX_OPSET if "onnx" in formats else None,
        "tolerance": {"box_pixels": BOX_ATOL, "score": SCORE_ATOL},
        "checks": checks,
        "torch": torch.__version__,
        **dict(extra_info or {}),
    }
    (out_dir / EXPORT_INFO).write_text(json.dumps(info, indent=2))
    return info


def _export_and_check(
    model: nn.Module, inputs: Sequence[torch.Tensor], out_dir: Path, formats: Sequence[str]
) -> tuple[dict[str, str], dict[str, list[dict]]]:
    """Export ``model`` traced on ``inputs[0]`` in every format and run each file on every input.

    Args:
        inputs: :func:`preprocess`-ed pages, (3, h, w) float32 each.

    Returns:
        (format -> file name in ``out_dir``, format -> one :func:`compare_detections` result
        per input, with its ``input_hw``).
    """
    reference = [detect(model, x) for x in inputs]
    exporters = {"torchscript": export_torchscript, "onnx": export_onnx}
    runners = {"torchscript": run_torchscript, "onnx": run_onnx}
    files, checks = {}, {}
    for fmt in formats:
        path = exporters[fmt](model, inputs[0], out_dir / FILE_NAMES[fmt])
        files[fmt] = path.name
        checks[fmt] = [
            {"input_hw": list(x.shape[1:]), **compare_detections(ref, runners[fmt](path, x))}
            for x, ref in zip(inputs, reference)
        ]
        logger.info("exported %s -> %s: %s", fmt, path, checks[fmt])
    return files, checks


def _io_description(cfg: CfgNode) -> dict:
    """The ``input`` and ``outputs`` entries of ``export.json``: how to feed the files."""
    return {
        "input": {
            "name": "image",
            "dtype": "float32",
            "shape": "(3, H, W)",
            "format": cfg.INPUT.FORMAT,
            "range": "0-255",
            "resize": {
                "shortest_edge": int(cfg.INPUT.MIN_SIZE_TEST),
                "max_size": int(cfg.INPUT.MAX_SIZE_TEST),
            },
        },
        "outputs": {
            "boxes": "(N, 4) float32 XYXY, input pixels",
            "scores": "(N,) float32",
            "classes": "(N,) int64 class index",
        },
    }
