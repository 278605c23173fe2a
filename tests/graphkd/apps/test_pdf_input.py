"""PDF input of graphkd.apps.predict (scripts/predict.py): pages rendered by pypdfium2 at a chosen dpi
in a background thread, one result set per page, and clear errors (missing renderer, broken file,
bad dpi).

The PDFs are written here with Pillow; the detector is a tiny random R18 student.
"""

from __future__ import annotations

import json
import re
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from detectors.build import build_detector  # noqa: E402
from detectors.config import get_detector_cfg  # noqa: E402
from detectors.datasets import get_spec  # noqa: E402
from graphkd.apps import predict  # noqa: E402
from graphkd.apps.run import save_student  # noqa: E402
from graphkd.core.data import DataSplits  # noqa: E402

CLASSES = get_spec("synthetic").classes

# Page sizes in points (1/72 inch): Pillow writes an image at resolution=72 as a page of its
# pixel size.
PORTRAIT, LANDSCAPE = (200, 300), (300, 200)
RED_BOX = (20, 40, 80, 100)  # x0, y0, x1, y1 in points on page 1


def write_pdf(path: Path) -> Path:
    """Two pages: a portrait page with a red box, a landscape page with a black bar."""
    first = Image.new("RGB", PORTRAIT, "white")
    ImageDraw.Draw(first).rectangle(RED_BOX, fill=(255, 0, 0))
    second = Image.new("RGB", LANDSCAPE, "white")
    ImageDraw.Draw(second).rectangle((30, 150, 270, 170), fill=(0, 0, 0))
    first.save(path, save_all=True, append_images=[second], resolution=72)
    return path


@pytest.fixture(scope="module")
def student(tmp_path_factory) -> Path:
    """A student run dir (student_config.yaml, model_student.pth, label_map.json), random init."""
    root = tmp_path_factory.mktemp("pdf_student")
    torch.manual_seed(0)
    cfg = get_detector_cfg(
        "R18", len(CLASSES), min_size=128, rois_per_image=32, fpn_channels=64,
        overrides={"MODEL.RPN.PRE_NMS_TOPK_TEST": 200, "MODEL.RPN.POST_NMS_TOPK_TEST": 50},
    )  # fmt: skip
    data = DataSplits("pdf_test_train", "pdf_test_val", CLASSES, ("text", "title", "list"))
    save_student(build_detector(cfg), cfg, data, str(root))
    return root


def test_render_pdf_pages_at_dpi(tmp_path):
    pdf = write_pdf(tmp_path / "doc.pdf")
    assert predict.pdf_page_count(pdf) == 2
    pages = list(predict.render_pdf(pdf, dpi=144))  # 2 pixels per point
    assert [p.shape for p in pages] == [(600, 400, 3), (400, 600, 3)]
    assert all(p.dtype == np.uint8 for p in pages)
    x0, y0, x1, y1 = (2 * v for v in RED_BOX)
    inside = pages[0][y0 + 4 : y1 - 4, x0 + 4 : x1 - 4].reshape(-1, 3).mean(0)
    assert inside[2] > 200 and inside[:2].max() < 60, "BGR order: red is the last channel"
    assert pages[0][5:30, 200:390].min() > 240  # white page outside the box
    assert pages[1][305:335, 70:530].max() < 60  # the black bar of page 2, scaled
    assert [p.shape for p in predict.render_pdf(pdf, dpi=72)] == [(300, 200, 3), (200, 300, 3)]


def test_predict_pdf_results_per_page(student, tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    write_pdf(inputs / "doc.pdf")
    Image.new("RGB", (124, 160), "white").save(inputs / "scan.png")
    (inputs / "notes.txt").write_text("ignored: not a page")
    out = tmp_path / "pred"
    path = predict.main(
        [f"checkpoint={student}", f"input={inputs}", f"out={out}", "score_thresh=0.05", "dpi=72"]
    )
    preds = json.loads(path.read_text())
    by_image: dict[int, list[dict]] = {}
    for p in preds:
        by_image.setdefault(p["image_id"], []).append(p)
    # sorted inputs: doc.pdf (pages 1, 2 -> image ids 1, 2), then scan.png (image id 3)
    assert sorted(by_image) == [1, 2, 3], "a random detector scores ~1/6 per class, above 0.05"
    sizes = {1: PORTRAIT, 2: LANDSCAPE, 3: (124, 160)}  # (width, height) in pixels at 72 dpi
    for image_id, dets in by_image.items():
        if image_id < 3:
            assert {d["file_name"] for d in dets} == {str(inputs / "doc.pdf")}
            assert {d["page"] for d in dets} == {image_id}
        else:
            assert {d["file_name"] for d in dets} == {str(inputs / "scan.png")}
            assert all("page" not in d for d in dets)
        w, h = sizes[image_id]
        for d in dets:
            x, y, bw, bh = d["bbox"]
            assert -0.01 <= x and x + bw <= w + 0.01 and -0.01 <= y and y + bh <= h + 0.01
            assert d["category_name"] in CLASSES and d["score"] >= 0.05
    assert sorted(p.name for p in out.glob("*.png")) == [
        "doc_page001.png",
        "doc_page002.png",
        "scan.png",
    ]
    # the drawn pages keep each page's orientation (enlarged to 800 px on the long side)
    assert Image.open(out / "doc_page001.png").size == (533, 800)
    assert Image.open(out / "doc_page002.png").size == (800, 533)


def test_pdf_without_pypdfium2_names_the_extra(student, tmp_path, monkeypatch, capsys):
    pdf = write_pdf(tmp_path / "doc.pdf")
    monkeypatch.setitem(sys.modules, "pypdfium2", None)  # import pypdfium2 -> ImportError
    argv = [f"checkpoint={student}", f"input={pdf}", f"out={tmp_path / 'o'}"]
    with pytest.raises(ImportError, match=r"doc\.pdf.*pypdfium2.*graphkd\[pdf\]"):
        predict.main(argv)
    assert not (tmp_path / "o").exists(), "fails before any output is written"
    monkeypatch.setattr(sys, "argv", ["graphkd-predict", *argv])
    with pytest.raises(SystemExit, match=r"^error: .*pip install 'graphkd\[pdf\]'"):
        predict.main()


def test_pdf_input_errors(student, tmp_path):
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(b"%PDF-1.4 not really a pdf")
    with pytest.raises(ValueError, match="broken.pdf"):
        predict.main([f"checkpoint={student}", f"input={broken}", f"out={tmp_path / 'o'}"])
    pdf = write_pdf(tmp_path / "doc.pdf")
    with pytest.raises(ValueError, match="dpi=0"):
        predict.main([f"checkpoint={student}", f"input={pdf}", f"out={tmp_path}", "dpi=0"])
    notes = tmp_path / "notes.txt"
    notes.write_text("x")
    with pytest.raises(ValueError, match=r"notes\.txt.*neither an image.*nor a PDF"):
        predict.main([f"checkpoint={student}", f"input={notes}", f"out={tmp_path}"])


def test_pdf_pages_stream_from_a_background_thread(student, tmp_path, monkeypatch, capsys):
    """PDF pages render in the prefetch thread while the model runs; the run reports pages/s."""
    threads = []
    render = predict.render_pdf

    def spy(path, dpi):
        for image in render(path, dpi):
            threads.append(threading.current_thread().name)
            yield image

    monkeypatch.setattr(predict, "render_pdf", spy)
    pdf = write_pdf(tmp_path / "doc.pdf")
    out = tmp_path / "pred"
    predict.main([f"checkpoint={student}", f"input={pdf}", f"out={out}", "backend=eager",
                  "score_thresh=0.05", "dpi=72"])  # fmt: skip
    assert threads == ["prefetch", "prefetch"]
    said = capsys.readouterr()
    assert "predict (eager)" in said.err and "2/2" in said.err, "the progress bar"
    assert re.search(
        r"on 2 page\(s\) in [\d.]+ s \([\d.]+ pages/s; model \d+ ms/page, eager", said.out
    )
    coco = json.loads((out / "coco_results.json").read_text())
    assert {c["image_id"] for c in coco} == {1, 2}
