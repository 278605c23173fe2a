"""Inference backends of ``graphkd-predict``: one interface, a page in, its detections out.

A :class:`Backend` takes an ``(H, W, 3)`` uint8 BGR page and returns detectron2 ``Instances`` of
``image_size`` ``(H, W)``: ``pred_boxes`` ``(N, 4)`` XYXY in the page's pixels, ``scores``
``(N,)``, ``pred_classes`` ``(N,)`` contiguous class index, only scores above the threshold.

- ``eager``: detectron2's ``DefaultPredictor`` (CUDA when the config asks and one is visible).
- ``torchscript`` / ``onnx``: the exported graph of :mod:`detectors.export` (``model.ts`` /
  ``model.onnx``, exported into the run directory first when there is none,
  :mod:`graphkd.apps.export_cache`), fed as ``DefaultPredictor`` feeds the model (resized to
  ``INPUT.MIN_SIZE_TEST`` / ``MAX_SIZE_TEST``; the graph itself normalises and pads) and its
  boxes scaled back to the page by detectron2's ``detector_postprocess``: the eager model's
  detections within the export check's tolerance.
- ``auto``: ``onnx`` fp32 when onnxruntime is installed, else ``torchscript``, else ``eager``
  (a model configured for CUDA stays ``eager``: the exports run on CPU). Never int8 unless asked.
- ``precision=int8`` (ONNX only, opt-in): :mod:`graphkd.apps.quantize`.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import torch
from detectron2.config import CfgNode
from detectron2.engine import DefaultPredictor
from detectron2.modeling.postprocessing import detector_postprocess
from detectron2.structures import Boxes, Instances

from detectors.build import load_checkpoint
from detectors.export import OnnxRunner, TorchScriptRunner, preprocess
from graphkd.apps.artifacts import ModelFiles
from graphkd.apps.export_cache import ensure_export, read_export_info
from graphkd.apps.quantize import CALIBRATION_PAGES, ensure_int8

__all__ = [
    "BACKENDS",
    "PRECISIONS",
    "Backend",
    "EagerBackend",
    "ExportedBackend",
    "build_predictor",
    "open_backend",
    "require",
]

BACKENDS = ("auto", "eager", "torchscript", "onnx")
PRECISIONS = ("fp32", "int8")
# What each exported backend imports, and the pyproject extra that installs it.
_NEEDS = {"torchscript": [("torchvision", None)], "onnx": [("onnxruntime", "export")]}
_INT8_NEEDS = [("onnxruntime", "export"), ("onnx", "export")]


def require(what: str, needs: Iterable[tuple[str, str | None]]) -> None:
    """Import each ``(module, extra)`` of ``needs`` or raise an ImportError naming ``what``
    (e.g. ``backend=onnx``) and the pip command of the extra."""
    for module, extra in needs:
        try:
            importlib.import_module(module)
        except ImportError as e:
            how = f"pip install 'graphkd[{extra}]'" if extra else f"pip install {module}"
            raise ImportError(f"{what} needs {module}: {how}") from e


def available(backend: str) -> bool:
    """Whether the modules of ``backend`` import."""
    try:
        require(f"backend={backend}", _NEEDS.get(backend, []))
    except ImportError:
        return False
    return True


class Backend:
    """A detector behind one call: ``backend(page)`` -> ``Instances`` (module docstring).

    Attributes:
        name: ``eager`` / ``torchscript`` / ``onnx``; precision: ``fp32`` / ``int8``;
        threads: CPU threads it was opened with (0: the runtime's default).
    """

    name = "?"
    precision = "fp32"
    threads = 0

    def __call__(self, image: np.ndarray) -> Instances:
        raise NotImplementedError

    def describe(self) -> str:
        n = self.threads
        threads = f"{n} thread{'s' * (n != 1)}" if n else "default threads"
        return f"{self.name} {self.precision}, {threads}"


def build_predictor(files: ModelFiles, score_thresh: float) -> DefaultPredictor:
    """DefaultPredictor with the checkpoint loaded through the checked loader."""
    cfg = files.cfg.clone()
    cfg.MODEL.ROI_HEADS.SCORE_THRESH_TEST = score_thresh
    cfg.MODEL.WEIGHTS = ""  # DefaultPredictor would load unchecked; load_checkpoint checks
    predictor = DefaultPredictor(cfg)
    load_checkpoint(predictor.model, str(files.weights), cfg)
    return predictor


class EagerBackend(Backend):
    """detectron2's ``DefaultPredictor`` with ``MODEL.ROI_HEADS.SCORE_THRESH_TEST = score_thresh``."""

    name = "eager"

    def __init__(self, files: ModelFiles, score_thresh: float, threads: int = 0):
        self.predictor = build_predictor(files, score_thresh)
        self.threads = threads

    def __call__(self, image: np.ndarray) -> Instances:
        return self.predictor(image)["instances"].to("cpu")


class ExportedBackend(Backend):
    """An exported graph run on pages as ``DefaultPredictor`` runs the eager model.

    Args:
        runner: ``(3, h, w)`` float32 resized page -> ``(boxes (N, 4) in its pixels, scores,
            classes)`` (:class:`detectors.export.OnnxRunner` / ``TorchScriptRunner``).
        cfg: the model's config (``INPUT.FORMAT``, ``INPUT.MIN_SIZE_TEST`` / ``MAX_SIZE_TEST``).
        score_thresh: keep scores above it; the export keeps those above the score threshold
            frozen into it, which detectron2 applies before its per-class NMS and top-k, so
            filtering afterwards gives the eager model's detections at ``score_thresh``.
    """

    def __init__(
        self,
        runner: Callable[[torch.Tensor], tuple[torch.Tensor, ...]],
        cfg: CfgNode,
        score_thresh: float,
        name: str,
        precision: str = "fp32",
        threads: int = 0,
    ):
        self.runner, self.cfg, self.score_thresh = runner, cfg, score_thresh
        self.name, self.precision, self.threads = name, precision, threads

    def __call__(self, image: np.ndarray) -> Instances:
        if self.cfg.INPUT.FORMAT == "RGB":  # pages come BGR, as DefaultPredictor takes them
            image = image[:, :, ::-1]
        x = preprocess(image, self.cfg)
        boxes, scores, classes = self.runner(x)
        raw = Instances(tuple(x.shape[1:]), pred_boxes=Boxes(boxes.float()),
                        scores=scores.float(), pred_classes=classes.long())  # fmt: skip
        inst = detector_postprocess(raw, image.shape[0], image.shape[1])
        return inst[inst.scores > self.score_thresh]  # detectron2's filter is strict too


def _frozen_score_thresh(export_dir: Path, score_thresh: float, what: str) -> None:
    """ValueError when the export drops scores that ``score_thresh`` asks to keep."""
    frozen = (read_export_info(export_dir).get("test_settings") or {}).get("score_thresh")
    if frozen is not None and score_thresh < frozen:
        raise ValueError(
            f"score_thresh={score_thresh} is below the score threshold {frozen} frozen into "
            f"the {what} export: use backend=eager, or a score_thresh >= {frozen}."
        )


def _exported(
    files: ModelFiles,
    backend: str,
    precision: str,
    score_thresh: float,
    threads: int,
    export_dir: Path,
    calibration: Callable[[], Iterable[np.ndarray]] | None,
    calibration_pages: int,
) -> ExportedBackend:
    """The torchscript / onnx backend, exporting (and quantising) first when needed."""
    if precision == "int8":
        require("precision=int8", _INT8_NEEDS)
    require(f"backend={backend}", _NEEDS[backend])
    path = ensure_export(files, backend, export_dir)
    _frozen_score_thresh(export_dir, score_thresh, backend)
    if precision == "int8":
        path = ensure_int8(path, files.cfg, calibration or (lambda: []), calibration_pages)
    if backend == "onnx":
        runner = OnnxRunner(path, threads)
    else:
        if threads > 0:
            torch.set_num_threads(threads)
        runner = TorchScriptRunner(path)
    return ExportedBackend(runner, files.cfg, score_thresh, backend, precision, threads)


def _auto_order(files: ModelFiles, precision: str) -> list[str]:
    """Backends ``auto`` tries, best first."""
    if precision == "int8":
        return ["onnx"]
    if str(files.cfg.MODEL.DEVICE).startswith("cuda"):
        return ["eager"]
    return [b for b in ("onnx", "torchscript") if available(b)] + ["eager"]


def open_backend(
    files: ModelFiles,
    backend: str = "auto",
    precision: str = "fp32",
    *,
    score_thresh: float = 0.5,
    threads: int = 0,
    export_dir: str | os.PathLike | None = None,
    calibration: Callable[[], Iterable[np.ndarray]] | None = None,
    calibration_pages: int = CALIBRATION_PAGES,
) -> Backend:
    """The model of ``files`` behind ``backend`` (one of :data:`BACKENDS`).

    Args:
        precision: ``fp32``, or ``int8`` (ONNX static quantisation, opt-in).
        threads: CPU threads (0: the runtime's default); torch's are process-wide.
        export_dir: where the exports are found or written (default: the run directory).
        calibration: the pages to calibrate int8 on (called only when quantising; the first
            ``calibration_pages`` are used).

    Raises:
        ImportError: a named backend (or int8) whose module is missing, naming the extra.
        ValueError: an unknown backend / precision, int8 on a backend other than ONNX.
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend={backend!r}: choose from {list(BACKENDS)}.")
    if precision not in PRECISIONS:
        raise ValueError(f"precision={precision!r}: choose from {list(PRECISIONS)}.")
    if precision == "int8" and backend not in ("auto", "onnx"):
        raise ValueError(f"precision=int8 runs on ONNX only: pass backend=onnx, not {backend}.")
    export_dir = Path(export_dir or files.run_dir)
    order = _auto_order(files, precision) if backend == "auto" else [backend]
    for name in order:
        if name == "eager":
            if threads > 0:
                torch.set_num_threads(threads)
            return EagerBackend(files, score_thresh, threads)
        try:
            return _exported(files, name, precision, score_thresh, threads, export_dir,
                             calibration, calibration_pages)  # fmt: skip
        except (ValueError, RuntimeError) as e:
            if backend != "auto" or name == order[-1]:
                raise
            print(f"warning: backend=auto: {name} failed, falling back: {e}")
    raise AssertionError("unreachable: the last backend raises or returns")
