"""TorchScript / ONNX exports of tiny random students: they run without detectron2 or GraphKD
(TorchScript with torch + torchvision, ONNX with onnxruntime, each in a fresh process) and match
the eager model."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from detectors.build import build_detector  # noqa: E402
from detectors.config import get_detector_cfg  # noqa: E402
from detectors.export import (  # noqa: E402
    BOX_ATOL,
    OnnxRunner,
    TorchScriptRunner,
    compare_detections,
    detect,
    export_model,
    export_torchscript,
    preprocess,
    quantize_box_head,
    run_onnx,
    run_torchscript,
    stock_config,
)
from pagedata.synthetic import render_page  # noqa: E402

SMALL = {"min_size": 128, "fpn_channels": 64, "rois_per_image": 32}
# Few, well-spread scores: a random box predictor scores every class ~1/(K+1), and near-equal
# scores would make which detections survive the cap a coin toss between runtimes.
TEST = {"post_nms_topk": 50, "detections_per_image": 30, "score_thresh": 0.05}
PROJECT = ("detectron2", "detectors", "graphkd", "graph")
REPO = Path(__file__).resolve().parents[2]


def _pages() -> list[np.ndarray]:
    """Two BGR pages of different shapes: a portrait synthetic page and a landscape crop of
    another (the trace must generalise to sizes it was not traced at)."""
    a = np.asarray(render_page(0, 0, image_size=160)[0])[:, :, ::-1].copy()
    b = np.asarray(render_page(0, 1, image_size=224)[0])[:100, :, ::-1].copy()
    return [a, b]


def _model(backbone: str):
    cfg = get_detector_cfg(backbone, 5, test=TEST, **SMALL)
    torch.manual_seed(0)
    model = build_detector(cfg).eval()
    with torch.no_grad():  # spread the class scores (see TEST)
        model.roi_heads.box_predictor.cls_score.weight.normal_(0, 0.05)
    return cfg, model


def _run_isolated(code: str, tmp_path) -> None:
    """Run ``code`` in a fresh interpreter and check it imported nothing of this project."""
    check = f"\nimport sys\nbad = [m for m in sys.modules if m.split('.')[0] in {PROJECT!r}]\n"
    check += "assert not bad, bad\n"
    res = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code) + check],
        cwd=tmp_path,  # not the repository: its packages must not be importable from the cwd
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stderr[-3000:]


def _save_inputs(cfg, pages, tmp_path) -> list[torch.Tensor]:
    inputs = [preprocess(p, cfg) for p in pages]
    for i, x in enumerate(inputs):
        np.save(tmp_path / f"input{i}.npy", x.numpy())
    assert inputs[0].shape[1:] != inputs[1].shape[1:]
    return inputs


def _load_outputs(tmp_path, name: str, n: int) -> list[tuple[torch.Tensor, ...]]:
    return [
        tuple(torch.from_numpy(np.load(tmp_path / f"{name}{i}_{k}.npy")) for k in range(3))
        for i in range(n)
    ]


RUNNERS = {
    "torchscript": """
        import numpy as np, torch, torchvision  # torchvision registers nms / roi_align
        model = torch.jit.load("model.ts")
        for i in range(2):
            out = model(torch.from_numpy(np.load(f"input{i}.npy")))
            for k, t in enumerate(out):
                np.save(f"out{i}_{k}.npy", t.numpy())
        """,
    "onnx": """
        import numpy as np, onnxruntime as ort
        s = ort.InferenceSession("model.onnx", providers=["CPUExecutionProvider"])
        for i in range(2):
            out = s.run(["boxes", "scores", "classes"], {"image": np.load(f"input{i}.npy")})
            for k, t in enumerate(out):
                np.save(f"out{i}_{k}.npy", t)
        assert "torch" not in sys.modules
        """,
}


@pytest.mark.parametrize("fmt", ["torchscript", "onnx"])
def test_r18_export_matches_eager_without_project_code(tmp_path, fmt):
    if fmt == "onnx":  # the `export` extra: make setup installs it, so a missing one fails here
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    cfg, model = _model("R18")
    pages = _pages()
    info = export_model(model, cfg, pages[:1], tmp_path, [fmt], classes=["a", "b", "c", "d", "e"])
    assert info["files"] == {fmt: {"torchscript": "model.ts", "onnx": "model.onnx"}[fmt]}
    assert info["test_settings"]["post_nms_topk"] == 50
    assert json.loads((tmp_path / "export.json").read_text())["classes"][0] == "a"
    inputs = _save_inputs(cfg, pages, tmp_path)
    _run_isolated("import sys\n" + textwrap.dedent(RUNNERS[fmt]), tmp_path)
    for x, got in zip(inputs, _load_outputs(tmp_path, "out", 2)):
        ref = detect(model, x)
        assert len(ref[1]) > 0
        result = compare_detections(ref, got)
        assert result["match"], result
        assert got[2].dtype == torch.int64 and got[0].shape[1] == 4


@pytest.mark.parametrize("backbone", ["MNV2", "EB0"])
def test_torchvision_trunk_students_export_to_torchscript(tmp_path, backbone):
    cfg, model = _model(backbone)
    info = export_model(model, cfg, _pages(), tmp_path, formats=["torchscript"])
    assert [c["match"] for c in info["checks"]["torchscript"]] == [True, True]
    with pytest.raises(ValueError, match="TorchScript"):
        stock_config(cfg)  # no stock detectron2 config can build this trunk


def test_compare_detections_ignores_order_and_catches_differences():
    boxes = torch.tensor([[0.0, 0, 10, 10], [5, 5, 20, 20], [1, 1, 4, 4]])
    scores = torch.tensor([0.9, 0.5, 0.5])
    classes = torch.tensor([0, 1, 1])
    ref = (boxes, scores, classes)
    swapped = (boxes[[0, 2, 1]], scores[[0, 2, 1]], classes[[0, 2, 1]])
    assert compare_detections(ref, swapped)["match"]
    moved = (boxes + torch.tensor([[0.0, 0, 0, 2 * BOX_ATOL]]), scores, classes)
    assert not compare_detections(ref, moved)["match"]
    relabelled = (boxes, scores, torch.tensor([0, 1, 2]))
    assert compare_detections(ref, relabelled)["unmatched"] == 1
    assert not compare_detections(ref, (boxes[:2], scores[:2], classes[:2]))["match"]


def test_export_rejects_a_training_model_and_unknown_formats(tmp_path):
    cfg, model = _model("R18")
    with pytest.raises(ValueError, match="choose from"):
        export_model(model, cfg, _pages()[:1], tmp_path, formats=["tflite"])
    model.train()
    with pytest.raises(ValueError, match="eval mode"):
        export_model(model, cfg, _pages()[:1], tmp_path, formats=["torchscript"])


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full (Linux)")
def test_torchscript_export_to_a_full_disk_raises():
    """A failed write (/dev/full: ENOSPC) is an OSError the caller sees; torch's C++ writer,
    given the path itself, aborted the whole process instead (a CI run died of it)."""
    cfg, model = _model("R18")
    with pytest.raises(OSError, match="No space left"):
        export_torchscript(model, preprocess(_pages()[0], cfg), "/dev/full")


def test_int8_box_head_keeps_detections_close(tmp_path):
    cfg, model = _model("R18")
    x = preprocess(_pages()[0], cfg)
    ref = detect(model, x)
    quantize_box_head(model)
    assert isinstance(model.roi_heads.box_head.fc1, torch.ao.nn.quantized.dynamic.Linear)
    boxes, scores, classes = detect(model, x)
    assert len(scores) > 0
    # int8 weights move scores by ~1e-3 here: the top detection stays the same region.
    assert int(classes[0]) == int(ref[2][0])
    assert float((boxes[0] - ref[0][0]).abs().max()) < 2.0
    info = export_model(model, cfg, _pages()[:1], tmp_path, formats=["torchscript"])
    assert info["checks"]["torchscript"][0]["match"]


def test_export_script_on_a_student_run(tmp_path):
    sys.path.insert(0, str(REPO / "scripts"))
    import export as export_script

    from graphkd.apps.package import write_student_package

    cfg, model = _model("R18")
    classes = ["text", "title", "list", "table", "figure"]
    write_student_package(model, cfg, tmp_path, classes, ["text"])
    info = export_script.main([f"checkpoint={tmp_path}", "formats=torchscript"])
    assert (tmp_path / "model.ts").is_file() and (tmp_path / "MODEL_CARD.md").is_file()
    assert info["classes"] == classes and info["quantized_box_head"] is False
    # the second default page is landscape: the trace is checked at a size it was not made at
    shapes = [tuple(c["input_hw"]) for c in info["checks"]["torchscript"]]
    assert shapes[0] != shapes[1] and all(c["match"] for c in info["checks"]["torchscript"])
    with pytest.raises(ValueError, match="TorchScript only"):
        export_script.main([f"checkpoint={tmp_path}", "quantize=true"])


def test_runners_load_once_and_detect_as_the_one_shot_functions(tmp_path):
    import onnxruntime  # noqa: F401  (the `export` extra, as above)

    cfg, model = _model("R18")
    pages = _pages()
    export_model(model, cfg, pages[:1], tmp_path, ["torchscript", "onnx"])
    inputs = [preprocess(p, cfg) for p in pages]
    runners = [
        (TorchScriptRunner(tmp_path / "model.ts"), run_torchscript),
        (OnnxRunner(tmp_path / "model.onnx"), run_onnx),
    ]
    one_thread = OnnxRunner(tmp_path / "model.onnx", threads=1)
    for x in inputs:  # pages of two sizes through the same loaded file
        ref = detect(model, x)
        for runner, once in runners:
            got = runner(x)
            assert all(torch.equal(a, b) for a, b in zip(got, once(runner.path, x)))
            assert compare_detections(ref, got)["match"]
        assert compare_detections(ref, one_thread(x))["match"]


def test_onnx_runner_without_onnxruntime_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import onnxruntime -> ImportError
    with pytest.raises(ImportError, match=r"needs onnxruntime: pip install -e '\.\[export\]'"):
        OnnxRunner(tmp_path / "model.onnx")
