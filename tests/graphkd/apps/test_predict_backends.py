"""graphkd.apps.backends behind scripts/predict.py: every backend gives the eager model's detections
on the page within the export check's tolerance, auto picks ONNX and exports first (once), a
missing extra is named, int8 is opt-in, and predict writes coco_results.json in the dataset's ids.

The detector is a tiny random R18 student whose class scores are spread (as in
tests/detectors/test_export.py), so which detections survive the caps is no coin toss.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from detectors.build import build_detector
from detectors.config import get_detector_cfg
from detectors.export import BOX_ATOL, SCORE_ATOL, compare_detections
from graphkd.apps import predict
from graphkd.apps.artifacts import resolve_model
from graphkd.apps.backends import EagerBackend, open_backend
from graphkd.apps.export_cache import current_export
from graphkd.apps.package import LATENCY, MODEL_CARD, write_student_package
from graphkd.apps.quantize import INT8_FILE
from pagedata.synthetic import render_page

CLASSES = ["text", "title", "list", "table", "figure"]
DATASET_IDS = {10: 0, 20: 1, 30: 2, 40: 3, 50: 4}  # dataset category id -> class index
TEST = {"post_nms_topk": 50, "detections_per_image": 30, "score_thresh": 0.05}


@pytest.fixture(scope="module")
def student(tmp_path_factory) -> Path:
    """A student run dir (package files only: nothing exported yet)."""
    root = tmp_path_factory.mktemp("backends") / "run"
    root.mkdir()
    cfg = get_detector_cfg("R18", len(CLASSES), test=TEST, min_size=128, fpn_channels=64,
                           rois_per_image=32)  # fmt: skip
    torch.manual_seed(0)
    model = build_detector(cfg).eval()
    with torch.no_grad():
        model.roi_heads.box_predictor.cls_score.weight.normal_(0, 0.05)
    write_student_package(model, cfg, root, CLASSES, ["text"], DATASET_IDS)
    return root


@pytest.fixture
def run(student, tmp_path) -> Path:
    """A fresh copy of the student run dir (exports written by a test stay in it)."""
    return Path(shutil.copytree(student, tmp_path / "run"))


@pytest.fixture(scope="module")
def exported(student, tmp_path_factory) -> Path:
    """A copy of the student run dir with its ONNX and TorchScript exports, shared by the tests
    that only run them."""
    run = Path(shutil.copytree(student, tmp_path_factory.mktemp("exported") / "run"))
    files = resolve_model(run)
    for name in ("onnx", "torchscript"):
        open_backend(files, name)
    return run


def _pages() -> list[np.ndarray]:
    """BGR pages larger than the model's 128 px input: a portrait page and a landscape crop, so
    boxes are scaled back to the page and a size the export was not traced at is run."""
    a = np.asarray(render_page(0, 0, image_size=200)[0])[:, :, ::-1].copy()
    b = np.asarray(render_page(0, 1, image_size=320)[0])[:150, :, ::-1].copy()
    return [a, b]


def _dets(inst) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    return inst.pred_boxes.tensor, inst.scores, inst.pred_classes


@pytest.mark.parametrize("name", ["torchscript", "onnx"])
def test_exported_backend_matches_eager_on_the_page(exported, name):
    files = resolve_model(exported)
    pairs = [
        (EagerBackend(files, t), open_backend(files, name, score_thresh=t)) for t in (0.05, 0.3)
    ]
    assert (pairs[0][1].name, pairs[0][1].precision) == (name, "fp32")
    for page in _pages():
        # the tolerance is in the model's input pixels (short side 128): scale it to the page's
        scale = min(page.shape[:2]) / 128
        for eager, backend in pairs:  # a higher score_thresh keeps eager's detections at it
            ref, got = eager(page), backend(page)
            assert got.image_size == page.shape[:2] and len(ref) > 0
            result = compare_detections(_dets(ref), _dets(got), BOX_ATOL * scale, SCORE_ATOL)
            assert result["match"], result


def test_auto_picks_onnx_exports_first_and_reuses_it(run, capsys):
    files = resolve_model(run)
    backend = open_backend(files, "auto", score_thresh=0.05)
    assert (backend.name, backend.precision) == ("onnx", "fp32")
    assert "exporting onnx" in capsys.readouterr().out
    info = json.loads((run / "export.json").read_text())
    assert info["files"] == {"onnx": "model.onnx"}
    assert all(c["match"] for c in info["checks"]["onnx"])
    assert not list(run.glob(".export-*")), "the temporary export folder is gone"
    stamp = (run / "model.onnx").stat().st_mtime_ns
    assert open_backend(files, "auto", score_thresh=0.05).name == "onnx"
    assert "exporting" not in capsys.readouterr().out
    assert (run / "model.onnx").stat().st_mtime_ns == stamp
    assert not (run / INT8_FILE).exists(), "never int8 unless asked"
    # a TorchScript export joins export.json without dropping the ONNX one
    assert open_backend(files, "torchscript", score_thresh=0.05).name == "torchscript"
    info = json.loads((run / "export.json").read_text())
    assert info["files"] == {"onnx": "model.onnx", "torchscript": "model.ts"}
    assert current_export(run, "onnx", files.cfg, files.weights) == run / "model.onnx"
    other = shutil.copy2(files.weights, run / "model_0000099.pth")  # another checkpoint
    assert current_export(run, "onnx", files.cfg, other) is None
    later = time.time() + 5
    os.utime(files.weights, (later, later))  # newer weights: the export is stale
    assert current_export(run, "onnx", files.cfg, files.weights) is None


def test_auto_without_onnxruntime_falls_back_to_torchscript(exported, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import onnxruntime -> ImportError
    assert open_backend(resolve_model(exported), "auto", score_thresh=0.05).name == "torchscript"


def test_a_missing_extra_is_named(run, tmp_path, monkeypatch):
    files = resolve_model(run)
    page = tmp_path / "page.png"
    Image.fromarray(_pages()[0]).save(page)
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(ImportError, match=r"backend=onnx needs onnxruntime: pip install 'graphkd\[export\]'"):  # fmt: skip
        open_backend(files, "onnx")
    with pytest.raises(ImportError, match=r"precision=int8 needs onnxruntime: .*graphkd\[export\]"):
        open_backend(files, "auto", "int8")
    argv = [f"checkpoint={run}", f"input={page}", f"out={tmp_path / 'o'}", "backend=onnx"]
    monkeypatch.setattr(sys, "argv", ["graphkd-predict", *argv])
    with pytest.raises(SystemExit, match=r"^error: backend=onnx needs onnxruntime"):
        predict.main()
    assert not (run / "model.onnx").exists()


def test_bad_options_fail_early(exported):
    files = resolve_model(exported)
    with pytest.raises(ValueError, match="choose from"):
        open_backend(files, "tensorrt")
    with pytest.raises(ValueError, match="ONNX only"):
        open_backend(files, "torchscript", "int8")
    with pytest.raises(ValueError, match="below the score threshold 0.05 frozen"):
        open_backend(files, "onnx", score_thresh=0.01)
    assert open_backend(files, "auto", score_thresh=0.01).name == "eager"  # auto falls back


def test_int8_is_quantised_once_and_recorded(exported):
    run = exported
    files = resolve_model(run)
    calls = []

    def calibration():
        calls.append(1)
        return iter(_pages())

    backend = open_backend(files, "onnx", "int8", score_thresh=0.05, calibration=calibration)
    assert (backend.name, backend.precision) == ("onnx", "int8") and (run / INT8_FILE).is_file()
    info = json.loads((run / "export.json").read_text())["int8"]
    assert info["file"] == INT8_FILE and info["calibration_pages"] == 2
    page = _pages()[0]
    inst = backend(page)
    assert inst.image_size == page.shape[:2] and bool((inst.scores > 0.05).all())
    open_backend(files, "auto", "int8", calibration=calibration)
    assert len(calls) == 1, "the int8 model is reused"


def test_predict_writes_coco_results_in_dataset_ids(exported, tmp_path, capsys):
    run = exported
    pages = tmp_path / "pages"
    pages.mkdir()
    for i, page in enumerate(_pages()):
        Image.fromarray(page[:, :, ::-1]).save(pages / f"p{i}.png")
    out = tmp_path / "pred"
    predict.main([f"checkpoint={run}", f"input={pages}", f"out={out}", "score_thresh=0.05",
                  "backend=onnx", "threads=1"])  # fmt: skip
    preds = json.loads((out / "predictions.json").read_text())
    coco = json.loads((out / "coco_results.json").read_text())
    assert len(coco) == len(preds) > 0 and {c["image_id"] for c in coco} == {1, 2}
    to_dataset = {c: d for d, c in DATASET_IDS.items()}
    for c, p in zip(coco, preds):
        assert set(c) == {"image_id", "category_id", "bbox", "score"}
        assert c["category_id"] == to_dataset[CLASSES.index(p["category_name"])]
        assert (c["bbox"], c["score"], c["image_id"]) == (p["bbox"], p["score"], p["image_id"])
    said = capsys.readouterr()
    assert "pages/s" in said.out and "onnx fp32, 1 thread)" in said.out
    latency = json.loads((run / LATENCY).read_text())["onnx/fp32"]
    assert latency["threads"] == 1 and latency["input_hw"] == [165, 128]
    assert latency["ms_per_page"] > 0 and latency["measured_by"] == "predict"
    card = (run / MODEL_CARD).read_text()
    assert "| deployed latency | onnx fp32: " in card and "165x128 input" in card


def test_a_read_only_run_dir_exports_into_out(run, tmp_path, monkeypatch):
    files = resolve_model(run)
    assert predict._export_dir(files, tmp_path) == run
    monkeypatch.setattr(predict.os, "access", lambda path, mode: False)
    assert predict._export_dir(files, tmp_path) == tmp_path / "export"


def test_prefetch_reads_ahead_in_a_thread_and_keeps_errors_in_place():
    seen = []

    def produce():
        for i in range(5):
            seen.append(threading.current_thread().name)
            yield i

    assert list(predict.prefetch(produce(), size=2)) == [0, 1, 2, 3, 4]
    assert set(seen) == {"prefetch"}

    def broken():
        yield 1
        raise ValueError("page 2 is broken")

    it = predict.prefetch(broken())
    assert next(it) == 1
    with pytest.raises(ValueError, match="page 2 is broken"):
        next(it)
    closed = threading.Event()

    def endless():
        try:
            i = 0
            while True:
                yield i
                i += 1
        finally:
            closed.set()

    it = predict.prefetch(endless(), size=2)
    assert next(it) == 0
    it.close()  # the consumer stops early: the producer stops and closes its source
    assert closed.wait(5)


def test_model_threads_leave_a_core_to_the_page_threads(monkeypatch):
    """predict's default model threads: one per available core but one, at least one."""
    assert predict.model_threads(3) == 3
    for cores, expected in ((1, 1), (2, 1), (16, 15)):
        monkeypatch.setattr(predict.os, "sched_getaffinity", lambda _pid, n=cores: set(range(n)))
        assert predict.model_threads(0) == expected
