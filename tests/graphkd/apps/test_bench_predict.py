"""scripts/bench_predict.py (graphkd.apps.bench.predict_pages): the PDF it builds, and its JSON
report on a tiny random student, with this checkout as the baseline; predict's drawn pages are
written by its background writer with the pixels of detectron2's Visualizer."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from detectron2.structures import Boxes, Instances
from PIL import Image

from detectors.build import build_detector
from detectors.config import get_detector_cfg
from graphkd.apps import predict
from graphkd.apps.bench import predict_pages
from graphkd.apps.package import LATENCY, MODEL_CARD, write_student_package
from graphkd.apps.visualize import draw_detections
from pagedata.synthetic import render_page

REPO = Path(__file__).resolve().parents[3]
CLASSES = ["text", "title", "list", "table", "figure"]


@pytest.fixture(scope="module")
def student(tmp_path_factory) -> Path:
    """A tiny random R18 student run dir (128 px input, few proposals)."""
    root = tmp_path_factory.mktemp("bench_predict") / "run"
    root.mkdir()
    test = {"post_nms_topk": 50, "detections_per_image": 30, "score_thresh": 0.05}
    cfg = get_detector_cfg("R18", len(CLASSES), test=test, min_size=128, fpn_channels=64,
                           rois_per_image=32)  # fmt: skip
    torch.manual_seed(0)
    write_student_package(build_detector(cfg).eval(), cfg, root, CLASSES, ["text"])
    return root


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    """Two page images 220 px high (synthetic pages)."""
    folder = tmp_path_factory.mktemp("pages")
    for i in range(2):
        render_page(0, i, image_size=220)[0].save(folder / f"p{i}.png")
    return folder


def test_make_pdf_repeats_the_pages_at_letter_height(source, tmp_path):
    pdf = predict_pages.make_pdf(source, 3, tmp_path / "three.pdf")
    assert predict.pdf_page_count(pdf) == 3
    pages = list(predict.render_pdf(pdf, dpi=72))  # one pixel per point
    assert [p.shape[0] for p in pages] == [792] * 3, "11 inches high"
    with pytest.raises(FileNotFoundError, match="no page images"):
        predict_pages.make_pdf(tmp_path, 3, tmp_path / "none.pdf")


def test_report_times_the_baseline_and_each_backend(student, source, tmp_path, monkeypatch):
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    out = tmp_path / "bench.json"
    report = predict_pages.main([f"checkpoint={student}", f"source={source}", "pages=3",
                                 "backends=auto", "threads=1", f"baseline={REPO}", "dpi=36",
                                 f"out={out}", f"work={tmp_path / 'work'}"])  # fmt: skip
    assert json.loads(out.read_text()) == report
    assert {"cpus", "threads", "torch", "load_avg_1min_at_end"} <= set(report["machine"])
    assert report["settings"]["pages"] == 3 and report["settings"]["dpi"] == 36
    base, auto = report["backends"]["baseline"], report["backends"]["auto"]
    for entry in (base, auto):
        assert entry["wall_s"] > 0 and entry["pages_per_s"] > 0 and len(entry["runs"]) == 1
    assert base["speedup_vs_first"] == 1.0
    assert auto["resolved"] == "onnx" and auto["exported_now"] and auto["export_s"] >= 0
    assert auto["loop_s"] > 0 and auto["runs"][0]["model_ms_per_page"] > 0
    assert auto["runs"][0]["omp_wait_policy"] == "PASSIVE"
    assert isinstance(auto["same_predictions_as_first"], bool)
    drawn = sorted(p.name for p in (tmp_path / "work" / "auto" / "rep0").glob("*.png"))
    assert drawn == [f"pages3_page00{i}.png" for i in (1, 2, 3)]
    # The export's seconds reach latency.json and the model card.
    assert json.loads((student / LATENCY).read_text())["onnx/fp32"]["export_s"] >= 0
    assert "exported in" in (student / MODEL_CARD).read_text()


def test_bad_options_are_named(student, source, tmp_path):
    with pytest.raises(ValueError, match="reps=0"):
        predict_pages.main([f"checkpoint={student}", "reps=0", f"out={tmp_path / 'b.json'}"])
    with pytest.raises(FileNotFoundError, match="baseline=.*no graphkd/apps/predict.py"):
        predict_pages.main([f"checkpoint={student}", f"source={source}", "pages=1",
                            f"baseline={tmp_path}", "backends=", f"out={tmp_path / 'b.json'}"])  # fmt: skip


def test_drawn_pages_are_written_in_the_background_with_visualizer_pixels(student, source,
                                                                          tmp_path, monkeypatch):  # fmt: skip
    threads = []
    draw = predict.draw_page

    def spy(*args, **kwargs):
        threads.append(threading.current_thread().name)
        return draw(*args, **kwargs)

    monkeypatch.setattr(predict, "draw_page", spy)
    out = tmp_path / "pred"
    predict.main([f"checkpoint={student}", f"input={source}", f"out={out}", "backend=eager",
                  "score_thresh=0.05"])  # fmt: skip
    assert threads == ["writer", "writer"]
    page = np.asarray(Image.open(source / "p0.png").convert("RGB"))[:, :, ::-1]
    inst = Instances(page.shape[:2], pred_boxes=Boxes(torch.tensor([[10.0, 20.0, 90.0, 60.0]])),
                     scores=torch.tensor([0.9]), pred_classes=torch.tensor([3]))  # fmt: skip
    predict.draw_page(page, inst, tmp_path / "one.png", CLASSES, 0.5)
    scale = 800 / max(page.shape[:2])
    expected = draw_detections(page, inst, CLASSES, score_thresh=0.5, scale=scale)
    assert np.array_equal(np.asarray(Image.open(tmp_path / "one.png")), expected)
