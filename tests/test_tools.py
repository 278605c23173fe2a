"""The tools behind scripts/: one thin script per package function, Hydra's command line through
graphkd.apps.tool, and predict / visualize_graph end to end on tiny random detectors (with
graph_for_page's coordinates)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from detectron2.checkpoint import DetectionCheckpointer
from detectron2.data import MetadataCatalog
from PIL import Image

from detectors.build import build_detector
from detectors.config import get_detector_cfg
from detectors.datasets import get_spec
from graph import GraphBuilder
from graphkd.apps import predict
from graphkd.apps.artifacts import graph_config, load_model, resolve_model
from graphkd.apps.page_graphs import graph_for_page, page_input
from graphkd.apps.run import save_student
from graphkd.apps.tools import visualize_graph
from graphkd.core.data import DataSplits
from pagedata.synthetic import generate_synthetic

REPO = Path(__file__).resolve().parents[1]

CLASSES = get_spec("synthetic").classes
K = len(CLASSES)
SMALL = {
    "min_size": 128,
    "rois_per_image": 32,
    "overrides": {"MODEL.RPN.PRE_NMS_TOPK_TEST": 200, "MODEL.RPN.POST_NMS_TOPK_TEST": 50,
                  "MODEL.RPN.PRE_NMS_TOPK_TRAIN": 200, "MODEL.RPN.POST_NMS_TOPK_TRAIN": 50},
}  # fmt: skip


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """Synthetic pages (160 px high, models see 128 px), a teacher dir and a student run dir."""
    root = tmp_path_factory.mktemp("tools")
    gt_json = generate_synthetic(root / "data", 2, seed=0, image_size=160, split="val")
    torch.manual_seed(0)
    t_cfg = get_detector_cfg("R18", K, **SMALL)
    teacher_dir = root / "teacher"
    teacher_dir.mkdir()
    DetectionCheckpointer(build_detector(t_cfg), str(teacher_dir)).save("model_final")
    (teacher_dir / "config.yaml").write_text(t_cfg.dump())  # MODEL.WEIGHTS empty, as trained
    s_cfg = get_detector_cfg("R18", K, **SMALL)
    (root / "student").mkdir()
    # As for a registered COCO json: dataset category ids 1..K -> contiguous 0..K-1.
    MetadataCatalog.get("tools_test_val").thing_dataset_id_to_contiguous_id = {
        i + 1: i for i in range(K)
    }
    data = DataSplits("tools_test_train", "tools_test_val", CLASSES, ("text", "title", "list"))
    save_student(build_detector(s_cfg), s_cfg, data, str(root / "student"))
    return {"root": root, "gt": gt_json, "pages": sorted((root / "data" / "val").iterdir()),
            "teacher": teacher_dir, "student": root / "student"}  # fmt: skip


def test_resolve_model(tiny):
    s = resolve_model(tiny["student"])
    assert s.config.name == "student_config.yaml" and s.weights.name == "model_student.pth"
    assert s.classes == list(CLASSES) and s.text_classes == ["text", "title", "list"]
    t = resolve_model(tiny["teacher"] / "model_final.pth")
    assert t.config.name == "config.yaml" and t.weights.name == "model_final.pth"
    with pytest.raises(FileNotFoundError, match="nope"):
        resolve_model(tiny["root"] / "nope")
    assert graph_config(None, tiny["student"]) == graph_config("graphkd")  # no saved run config
    kd, dsig = graph_config("dsig")
    assert kd == "dsig" and dsig.edge_metric == "cosine" and dsig.split_mode == "none"


def test_resolve_model_fine_tuned_teacher(tiny, tmp_path):
    """A teacher trained from init weights (pair.teacher.weights) keeps them in its config's
    MODEL.WEIGHTS, as detectron2 dumps training configs: its run dir must give model_final.pth."""
    run = tmp_path / "finetuned"
    shutil.copytree(tiny["teacher"], run)
    init = tmp_path / "init.pth"
    shutil.copy(run / "model_final.pth", init)
    d = yaml.safe_load((run / "config.yaml").read_text())
    d["MODEL"]["WEIGHTS"] = str(init)
    (run / "config.yaml").write_text(yaml.safe_dump(d))
    for path in (run, run / "config.yaml"):
        assert resolve_model(path).weights == run / "model_final.pth"
    assert resolve_model(run / "model_final.pth").weights == run / "model_final.pth"


def test_predict(tiny, tmp_path):
    out = tmp_path / "pred"
    path = predict.main([f"checkpoint={tiny['student']}", f"input={tiny['pages'][0].parent}",
                         f"out={out}", "score_thresh=0.05"])  # fmt: skip
    preds = json.loads(path.read_text())
    assert preds, "a random detector still scores ~1/6 per class, above 0.05"
    names = {str(p) for p in tiny["pages"]}
    for p in preds:
        assert p["file_name"] in names and p["category_name"] in CLASSES
        assert p["score"] >= 0.05 and len(p["bbox"]) == 4 and p["bbox"][2] >= 0
        assert CLASSES[p["category_id"] - 1] == p["category_name"]  # dataset ids 1..K
    pngs = sorted(out.glob("*.png"))
    assert [p.stem for p in pngs] == [p.stem for p in tiny["pages"]]
    im = np.asarray(Image.open(pngs[0]))
    assert im.shape[0] == 800 and abs(im.shape[1] / im.shape[0] - 124 / 160) < 0.01  # enlarged


def test_predict_errors(tiny, tmp_path):
    with pytest.raises(FileNotFoundError, match="missing_run"):
        predict.main([f"checkpoint={tmp_path / 'missing_run'}", f"input={tiny['pages'][0]}",
                      f"out={tmp_path}"])  # fmt: skip
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"not an image")
    with pytest.raises(ValueError, match="broken.jpg"):
        predict.main([f"checkpoint={tiny['student']}", f"input={bad}", f"out={tmp_path / 'o'}"])
    with pytest.raises(SystemExit, match="checkpoint"):
        predict.main([f"input={bad}", f"out={tmp_path}"])


def test_predict_cli_error_message(tiny, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    r = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "predict.py"), f"checkpoint={tmp_path / 'x'}",
         f"input={tiny['pages'][0]}", f"out={tmp_path}"],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert r.returncode != 0 and "error: Checkpoint" in r.stderr and "x'" in r.stderr


def test_graph_for_page_boxes_in_original_pixels(tiny):
    t_files, s_files = resolve_model(tiny["teacher"]), resolve_model(tiny["student"])
    teacher, student = load_model(t_files), load_model(s_files)
    dd = visualize_graph.gt_dataset_dict(str(tiny["gt"]), tiny["pages"][0], list(CLASSES))
    cfg = s_files.cfg
    page = page_input(dd, cfg.INPUT.MIN_SIZE_TEST, cfg.INPUT.MAX_SIZE_TEST, cfg.INPUT.FORMAT)
    h, w = page["image"].shape[1:]
    assert (page["height"], page["width"]) == (160, 124) and w == 128  # resized: short side 128
    builder = GraphBuilder(text_classes=[0, 1, 2], num_classes=K)
    tg, sg = graph_for_page(teacher, student, builder, page, seed=0)
    assert not student.training and not teacher.training  # modes restored
    assert torch.equal(tg.node_type, sg.node_type) and torch.equal(tg.box, sg.box)
    scale = torch.tensor([124 / w, 160 / h, 124 / w, 160 / h])
    assert torch.allclose(tg.box, tg.box_input * scale)
    assert float(tg.box[:, 2].max()) <= 124 + 1e-3 and float(tg.box[:, 3].max()) <= 160 + 1e-3
    assert int(tg.num_nodes) > 0 and tg.edge_sim.shape == tg.edge_type.shape == (tg.num_edges,)
    tg2, _ = graph_for_page(teacher, student, builder, page, seed=0)
    assert torch.equal(tg.box, tg2.box)  # deterministic for a seed


def test_visualize_graph(tiny, tmp_path, capsys):
    out = visualize_graph.main([f"teacher={tiny['teacher']}", f"student={tiny['student']}",
                                f"image={tiny['pages'][1]}", f"gt={tiny['gt']}",
                                f"out={tmp_path / 'graph.png'}", "max_edges=50"])  # fmt: skip
    im = np.asarray(Image.open(out).convert("RGB"))
    assert im.shape[1] > im.shape[0] and im.std() > 5  # two pages side by side
    text = capsys.readouterr().out
    assert "teacher:" in text and "student:" in text and "nodes" in text
    with pytest.raises(ValueError, match="no image named"):
        visualize_graph.gt_dataset_dict(str(tiny["gt"]), tmp_path / "other.jpg", list(CLASSES))


def test_visualize_graph_takes_graph_config_fields(tiny, tmp_path, capsys):
    args = [f"teacher={tiny['teacher']}", f"student={tiny['student']}",
            f"image={tiny['pages'][1]}", f"gt={tiny['gt']}", f"out={tmp_path / 'g.png'}"]  # fmt: skip
    visualize_graph.main([*args, "merge=false", "bg_topk=2", "descriptor=meanmax"])
    assert "0 merged text" in capsys.readouterr().out  # merge=false reached the builder
    with pytest.raises(SystemExit, match="merge_ratoi"):  # a misspelt option: usage error
        visualize_graph.main([*args, "merge_ratoi=2"])
    with pytest.raises(SystemExit, match="bg_topk"):  # a wrongly typed value
        visualize_graph.main([*args, "bg_topk=many"])


def test_graph_config_of_a_past_run_comes_from_its_saved_config(tiny, tmp_path):
    """A run's config_resolved.yaml (not today's presets) rebuilds the builder it trained with."""
    from omegaconf import OmegaConf

    from graphkd.apps.artifacts import load_graph_builder
    from graphkd.apps.cli import compose_config

    run = tmp_path / "run"
    shutil.copytree(tiny["student"], run)
    cfg = compose_config(["kd=dsig", "kd.graph.bg_topk=5", "kd.graph.bg_threshold=0.3"])
    OmegaConf.save(cfg, run / "config_resolved.yaml", resolve=True)
    kd, saved = graph_config(None, run)
    assert kd == "dsig" and saved.bg_topk == 5 and saved.bg_threshold == 0.3
    assert graph_config("graphkd", run) == graph_config("graphkd")  # another preset: composed
    with pytest.raises(ValueError, match="no_such_kd"):
        graph_config("no_such_kd")
    s_files = resolve_model(run)
    model = load_model(s_files)
    builder, kd, loaded = load_graph_builder(
        model, model, s_files.classes, s_files.text_classes, run, overrides={"bg_topk": 7}
    )
    assert kd == "dsig" and builder.cfg == saved.replace(bg_topk=7) and not loaded
    assert builder.text_lut.tolist()[:K] == [True, True, True, False, False]  # + background


def test_page_input_checks_images_as_the_training_loader(tiny, tmp_path):
    dd = visualize_graph.gt_dataset_dict(str(tiny["gt"]), tiny["pages"][0], list(CLASSES))
    cut = tmp_path / "cut.jpg"
    data = tiny["pages"][0].read_bytes()
    cut.write_bytes(data[: len(data) // 2])  # truncated
    with pytest.raises(ValueError, match=r"Corrupt or unreadable image: .*cut\.jpg"):
        page_input({**dd, "file_name": str(cut)}, 128, 128)
    with pytest.raises(ValueError, match=r"Image size mismatch for .*\.jpg"):  # json != file
        page_input({**dd, "height": dd["height"] + 7}, 128, 128)


def test_every_script_is_a_thin_entry_point():
    """Each scripts/*.py imports one package function and calls it: no logic, no argparse."""
    scripts = sorted((REPO / "scripts").glob("*.py"))
    assert len(scripts) > 10
    for path in scripts:
        text = path.read_text()
        imports = [line for line in text.splitlines() if line.startswith(("from ", "import "))]
        assert len(imports) == 1 and imports[0].startswith("from "), path.name
        entry = imports[0].rsplit(" import ", 1)[1]
        assert f"    {entry}()" in text, path.name
        assert len(text.splitlines()) <= 12 and "argparse" not in text, path.name


def test_tool_command_line_conventions(tmp_path):
    """Unknown keys and bad values fail before the tool runs, list options take a,b, a missing
    mandatory key is named, and a tool extending the training config forwards the training
    overrides (not its own keys) in cfg.overrides."""
    from graphkd.apps.compare import CompareOptions  # noqa: F401  (registers "compare")
    from graphkd.apps.tool import compose_tool

    cfg = compose_tool("compare", ["methods=none,graphkd", "seeds=3", "trainer.max_iter=5",
                                   "dataset=docbank"])  # fmt: skip
    assert list(cfg.methods) == ["none", "graphkd"] and list(cfg.seeds) == [3]
    assert cfg.trainer.max_iter == 5 and cfg.dataset.name == "docbank"
    assert list(cfg.overrides) == ["trainer.max_iter=5", "dataset=docbank"]
    with pytest.raises(SystemExit, match="methdos"):
        compose_tool("compare", ["methdos=none"])
    with pytest.raises(SystemExit, match="seeds"):
        compose_tool("compare", ["seeds=a,b"])
    with pytest.raises(SystemExit, match="missing checkpoint"):
        predict.main([f"input={tmp_path}", f"out={tmp_path}"])


def test_tool_help_and_nothing_written_to_cwd(tmp_path):
    """``--help`` prints the tool's usage and options; a tool run leaves no Hydra folder or log."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    script = REPO / "scripts" / "bench_graph.py"
    r = subprocess.run([sys.executable, str(script), "-h"], capture_output=True, text=True,
                       cwd=tmp_path, env=env, timeout=120)  # fmt: skip
    assert (
        r.returncode == 0 and "sizes=64,128,256,512" in r.stdout and "naive_repeats: 1" in r.stdout
    )
    r = subprocess.run([sys.executable, str(script), "sizes=8,16", "channels=8", "repeats=1",
                        "batch=1"], capture_output=True, text=True, cwd=tmp_path, env=env,
                       timeout=300)  # fmt: skip
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert [x["rois_per_image"] for x in report["results"]] == [8, 16]
    assert all(x["agree"] for x in report["results"])
    assert not any(tmp_path.iterdir()), "nothing written to the working directory"
    r = subprocess.run([sys.executable, str(script), "--sizes", "64"], capture_output=True,
                       text=True, cwd=tmp_path, env=env, timeout=120)  # fmt: skip
    assert r.returncode != 0 and "--sizes" in r.stderr
