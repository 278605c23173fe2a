"""Real-page evaluation (graphkd.apps.real_pages) and the demo's real_pages= option, without ../shared:
the tests write a tiny DocBank-style COCO dataset themselves, from synthetic pages."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from graphkd.apps.real_pages import resolve_pages
from graphkd.apps.tables.demo import class_counts, real_pages_table
from pagedata.synthetic import generate_synthetic


def make_real_pages(root: Path, pages: int = 3, size: int = 128) -> Path:
    """``root/COCO/all.json`` + ``root/images/`` as scripts/docbank_to_coco.py lays them out, with
    category ids 11..15 in another order than the models' (so classes must match by name)."""
    js = generate_synthetic(root, pages, seed=7, image_size=size, split="images")
    coco = json.loads(js.read_text())
    new = {"text": 13, "title": 11, "list": 15, "table": 14, "figure": 12}
    old = {c["id"]: c["name"] for c in coco["categories"]}
    coco["categories"] = [{"id": i, "name": n} for n, i in sorted(new.items(), key=lambda t: t[1])]
    for a in coco["annotations"]:
        a["category_id"] = new[old[a["category_id"]]]
    (root / "COCO").mkdir()
    (root / "COCO" / "all.json").write_text(json.dumps(coco))
    js.unlink()
    return root


def test_resolve_pages_layouts(tmp_path):
    root = make_real_pages(tmp_path / "docbank", pages=1)
    gt, images = root / "COCO" / "all.json", root / "images"
    assert resolve_pages(root) == (gt, images)  # the converter's folder
    assert resolve_pages(gt) == (gt, images)  # its json: images one level up
    assert resolve_pages(gt, tmp_path) == (gt, tmp_path)  # explicit image folder
    flat = tmp_path / "flat"
    flat.mkdir()
    shutil.copy(gt, flat / "pages.json")
    for f in images.iterdir():
        shutil.copy(f, flat / f.name)
    assert resolve_pages(flat) == (flat / "pages.json", flat)  # one json, images beside it
    (flat / "other.json").write_text("{}")
    with pytest.raises(FileNotFoundError, match="exactly one"):
        resolve_pages(flat)
    lonely = tmp_path / "lonely"  # a json whose images are nowhere near it
    lonely.mkdir()
    shutil.copy(flat / "pages.json", lonely / "pages.json")
    with pytest.raises(FileNotFoundError, match="real_images"):
        resolve_pages(lonely / "pages.json")
    with pytest.raises(FileNotFoundError, match="neither a folder"):
        resolve_pages(tmp_path / "missing")


def test_real_pages_table_counts_the_ground_truth(tmp_path):
    root = make_real_pages(tmp_path / "r", pages=2)
    gt = root / "COCO" / "all.json"
    m = {"AP": 31.25, "AP50": 50, "AP75": None, "per_class": {"text": 40.0, "figure": 2.5},
         "num_pages": 2, "gt": str(gt)}  # fmt: skip
    md = real_pages_table({"synthetic teacher": {0: m}, "none": {0: m, 1: m}},
                          {"synthetic teacher": [69.4]}, once=["synthetic teacher"])  # fmt: skip
    assert md.startswith(f"2 pages of `{gt}` (title 2, figure 0, text ")
    assert "| model | seed 0 | seed 1 | AP mean ± std | synthetic val AP |" in md
    assert "| synthetic teacher |  |  | 31.2 | 69.4 | 50.0 | n/a | 40.0 | 2.5 |" in md
    assert "| student, kd=none | 31.2 | 31.2 | 31.2 ± 0.0 | n/a |" in md
    counts = class_counts(gt)
    assert sum(counts.values()) == len(json.loads(gt.read_text())["annotations"])


def test_real_pages_section_shows_every_seed(tmp_path, monkeypatch):
    """The demo's "Real pages" section: AP per seed, mean ± std over seeds and the synthetic val
    AP beside it; an earlier demo's seed-0 folder (``student_kd-<kd>``) is adopted as seed 0."""
    import graphkd.apps.demo as demo

    def fake_eval(out, spec, images, models):
        ap = {"teacher": 30.0, "student kd=none seed0": 10.0, "student kd=none seed1": 12.0,
              "student kd=graphkd seed0": 14.0, "student kd=graphkd seed1": 18.0}  # fmt: skip
        return {
            n: {"AP": ap[n], "AP50": ap[n] + 1, "num_pages": 2, "gt": spec} for n in models
        }, spec

    old = tmp_path / "real_pages" / "student_kd-none"
    old.mkdir(parents=True)
    (old / "metrics.json").write_text("{}")
    monkeypatch.setattr(demo, "eval_real_pages", fake_eval)
    runs = {kd: {0: f"runs/{kd}/seed0", 1: f"runs/{kd}/seed1"} for kd in ("none", "graphkd")}
    syn = {"teacher": [60.0], "none": [20.0, 22.0], "graphkd": [30.0, 34.0]}
    md = demo.real_pages_section(tmp_path, "gt.json", None, "teacher_dir", runs, syn)
    assert md.startswith("## Real pages") and "2 pages of `gt.json`" in md
    assert "| model | seed 0 | seed 1 | AP mean ± std | synthetic val AP | AP50 | AP75 |" in md
    assert "| teacher |  |  | 30.0 | 60.0 | 31.0 | n/a |" in md
    assert "| student, kd=none | 10.0 | 12.0 | 11.0 ± 1.4 | 21.0 ± 1.4 | 12.0 | n/a |" in md
    assert "| student, kd=graphkd | 14.0 | 18.0 | 16.0 ± 2.8 | 32.0 ± 2.8 |" in md
    assert (
        not old.exists() and (tmp_path / "real_pages/student_kd-none_seed0/metrics.json").is_file()
    )


def test_demo_real_pages_table(tmp_path, monkeypatch):
    """run_demo(real_pages=...) scores the teacher and every seed's students on the user's pages,
    adds the table to REPORT.md, and a second run reuses both the jobs and the evaluations (also
    an earlier demo's seed-0 scores in ``real_pages/student_kd-<kd>/``)."""
    from e2e_helpers import TINY

    import graphkd.apps.jobs as jobs
    import graphkd.apps.real_pages as rp
    from graphkd.apps.demo import METHODS, run_demo

    sizes = [o for o in TINY if not o.startswith(("dataset=", "pair=", "trainer=", "trainer.seed"))]
    real = make_real_pages(tmp_path / "docbank", pages=2)
    report = run_demo(seeds=1, outputs=str(tmp_path / "o"), overrides=sizes, real_pages=str(real))
    text = report.read_text()
    assert "## Real pages" in text and "2 pages of `" in text
    for name in ["teacher", *(f"student, kd={kd}" for kd in METHODS)]:
        assert f"| {name} | " in text
    scores = tmp_path / "o/demo/real_pages"
    metrics = json.loads((scores / "student_kd-graphkd_seed0/metrics.json").read_text())
    assert metrics["num_pages"] == 2 and set(metrics["per_class"]) == {
        "text", "title", "list", "table", "figure"
    }  # fmt: skip
    preds = json.loads((scores / "teacher/predictions.json").read_text())
    assert all(11 <= p["category_id"] <= 15 for p in preds)  # the json's ids, by class name

    def no_eval(*a, **k):
        raise AssertionError("the second demo run evaluated the real pages again")

    monkeypatch.setattr(rp, "evaluate_pages", no_eval)
    monkeypatch.setattr(jobs, "launch_job", no_eval)
    (scores / "student_kd-dsig_seed0").rename(scores / "student_kd-dsig")  # an earlier layout
    again = run_demo(seeds=1, outputs=str(tmp_path / "o"), overrides=sizes, real_pages=str(real))
    assert again.read_text() == text


def test_eval_pages_backends(tmp_path):
    """eval_pages scores the model as graphkd-predict runs it: ONNX gives the eager detections
    (within the export check's tolerance), int8 asks for calibration pages of its own."""
    import torch

    from detectors.build import build_detector
    from detectors.config import get_detector_cfg
    from graphkd.apps.package import write_student_package
    from graphkd.apps.real_pages import EvalPagesOptions, eval_pages

    classes = ["text", "title", "list", "table", "figure"]
    cfg = get_detector_cfg("R18", 5, test={"post_nms_topk": 50, "score_thresh": 0.05},
                           min_size=128, fpn_channels=64, rois_per_image=32)  # fmt: skip
    torch.manual_seed(0)
    model = build_detector(cfg).eval()
    with torch.no_grad():  # spread class scores: detections above 0.05 to compare
        model.roi_heads.box_predictor.cls_score.weight.normal_(0, 0.05)
    run = tmp_path / "run"
    run.mkdir()
    write_student_package(model, cfg, run, classes, ["text"], None)
    real = make_real_pages(tmp_path / "pages", pages=2)
    out = {}
    for backend in ("eager", "onnx"):
        opts = EvalPagesOptions(checkpoint=str(run), gt=str(real), out=str(tmp_path / backend),
                                backend=backend)  # fmt: skip
        out[backend] = eval_pages(opts)
        assert out[backend]["backend"] == backend and out[backend]["precision"] == "fp32"
    preds = {b: json.loads((tmp_path / b / "predictions.json").read_text()) for b in out}
    assert preds["eager"] and len(preds["onnx"]) == len(preds["eager"])
    assert out["onnx"]["AP"] == pytest.approx(out["eager"]["AP"], abs=0.5)
    int8 = EvalPagesOptions(checkpoint=str(run), gt=str(real), out=str(tmp_path / "int8"),
                            backend="onnx", precision="int8")  # fmt: skip
    with pytest.raises(ValueError, match="calibration="):
        eval_pages(int8)
    int8.calibration = str(real / "images")
    assert eval_pages(int8)["precision"] == "int8"
