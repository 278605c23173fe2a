"""The student package: stock detectron2 loads a ResNet student written by GraphKD's own writer,
label maps, the model card, and the test-time settings recorded with the model."""

from __future__ import annotations

import json

import pytest
import torch
import yaml
from detectron2.checkpoint import DetectionCheckpointer  # noqa: E402
from detectron2.config import get_cfg  # noqa: E402
from detectron2.modeling import build_model  # noqa: E402
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf  # noqa: E402

from detectors.build import build_detector  # noqa: E402
from detectors.config import InferenceSettings, inference_settings, load_detector_cfg  # noqa: E402
from detectors.datasets import get_spec  # noqa: E402
from detectors.export import detect, preprocess  # noqa: E402
from graphkd.apps.artifacts import resolve_model  # noqa: E402
from graphkd.apps.cli import CONFIG_DIR  # noqa: E402
from graphkd.apps.package import (  # noqa: E402
    package_run,
    read_classes,
    write_model_card,
    write_student_package,
)
from graphkd.core.d2config import detector_cfg  # noqa: E402
from graphkd.core.data import DataSplits  # noqa: E402
from pagedata.synthetic import render_page  # noqa: E402

CLASSES = get_spec("synthetic").classes

TEXT = ("text", "title", "list")
DATA = DataSplits("pkg_train", "pkg_val", CLASSES, TEXT)
IDS = {i + 1: i for i in range(len(CLASSES))}  # dataset category id -> contiguous index


def _cfg(pair: str, *overrides: str):
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose(
            "config",
            overrides=[f"pair={pair}", "trainer.min_size=128", "trainer.max_size=128",
                       "trainer.fpn_channels=64", "trainer.rois_per_image=32", *overrides],
        )  # fmt: skip
    return cfg, detector_cfg(cfg, "student", DATA)


def _student_run(tmp_path, pair: str, *overrides: str):
    """A student run dir as distill_worker leaves it (package, resolved config, metrics, card)."""
    cfg, s_cfg = _cfg(pair, *overrides)
    torch.manual_seed(0)
    student = build_detector(s_cfg).eval()
    write_student_package(student, s_cfg, tmp_path, DATA.classes, DATA.text_classes, IDS)
    (tmp_path / "config_resolved.yaml").write_text(OmegaConf.to_yaml(cfg, resolve=True))
    metrics = {"AP": 12.3, "AP50": 45.6, "AP75": 7.8, "latency_s": 0.05, "params": 1.2e7,
               "per_class": dict.fromkeys(CLASSES, 1.0), "precision": "bf16"}  # fmt: skip
    (tmp_path / "metrics.json").write_text(json.dumps(metrics))
    write_model_card(tmp_path)
    return student, s_cfg


def test_stock_detectron2_loads_a_resnet_student_package(tmp_path):
    student, _ = _student_run(tmp_path, "r50_r18", "trainer.test.post_nms_topk=37")
    # What a user without GraphKD does (layoutparser's Detectron2LayoutModel does the same).
    cfg = get_cfg()
    cfg.merge_from_file(str(tmp_path / "student_config.yaml"))
    cfg.MODEL.WEIGHTS = str(tmp_path / "model_student.pth")
    cfg.MODEL.DEVICE = "cpu"
    model = build_model(cfg).eval()
    DetectionCheckpointer(model).load(cfg.MODEL.WEIGHTS)
    assert cfg.MODEL.RPN.POST_NMS_TOPK_TEST == 37  # the test-time settings travel with it
    page = render_page(0, 0, image_size=160)[0]
    x = preprocess(__import__("numpy").asarray(page)[:, :, ::-1].copy(), cfg)
    for ours, stock in zip(detect(student, x), detect(model, x)):
        assert torch.equal(ours, stock)
    saved = yaml.safe_load((tmp_path / "student_config.yaml").read_text())
    assert "ARCH" not in saved["MODEL"]["BACKBONE"] and "TV_BACKBONE" not in saved["MODEL"]

    labels = json.loads((tmp_path / "label_map.json").read_text())
    assert {int(k): v for k, v in labels.items()} == dict(enumerate(CLASSES))
    classes, text, ids = read_classes(tmp_path)
    assert (classes, text, ids) == (list(CLASSES), list(TEXT), {c: d for d, c in IDS.items()})
    card = (tmp_path / "MODEL_CARD.md").read_text()
    for expected in ("R18-FPN", "synthetic", "0 text", "12.3 / 45.6 / 7.8", "50 ms", "kd=graphkd",
                     "R50-FPN", "37 after", "Detectron2LayoutModel",
                     "seed 0, bfloat16 autocast (CPU)"):  # fmt: skip
        assert expected in card, expected


def test_mobilenet_student_keeps_its_backbone_keys_and_points_to_the_export(tmp_path):
    _student_run(tmp_path, "r50_mnv2", "kd=none")
    cfg = load_detector_cfg(str(tmp_path / "student_config.yaml"))
    assert (
        cfg.MODEL.BACKBONE.NAME == "build_mobilenetv2_fpn_backbone" and "TV_BACKBONE" in cfg.MODEL
    )
    card = (tmp_path / "MODEL_CARD.md").read_text()
    assert "model.ts" in card and "not a stock detectron2 backbone" in card
    assert "none (baseline)" in card


def test_inference_settings_are_config_keys_recorded_with_the_model(tmp_path):
    cfg, s_cfg = _cfg("r50_r18")
    assert inference_settings(s_cfg) == InferenceSettings()  # the page defaults
    assert s_cfg.MODEL.RPN.POST_NMS_TOPK_TEST == cfg.trainer.test.post_nms_topk == 300
    overrides = ("trainer.test.pre_nms_topk=500", "trainer.test.detections_per_image=20",
                 "trainer.test.score_thresh=0.3")  # fmt: skip
    _student_run(tmp_path, "r50_r18", *overrides)
    files = resolve_model(tmp_path)  # what predict / evaluation load
    assert inference_settings(files.cfg) == InferenceSettings(500, 300, 20, 0.3)
    assert files.dataset_ids == {c: d for d, c in IDS.items()}
    again = load_detector_cfg(str(files.config), test={"post_nms_topk": 5})
    assert inference_settings(again).post_nms_topk == 5
    with pytest.raises(ValueError, match="post_nms_topk=0"):
        load_detector_cfg(str(files.config), test={"post_nms_topk": 0})
    with pytest.raises(ValueError, match="Unknown test settings"):
        load_detector_cfg(str(files.config), test={"nms": 0.5})
    with pytest.raises(Exception, match="not_a_key"):
        _cfg("r50_r18", "trainer.test.not_a_key=1")


def test_package_run_upgrades_a_run_written_before_the_package(tmp_path):
    _, s_cfg = _student_run(tmp_path, "r50_r18")
    # The format runs had before: project keys in the config, {"classes": [...]} label map.
    (tmp_path / "student_config.yaml").write_text(s_cfg.dump())
    assert "ARCH" in yaml.safe_load(s_cfg.dump())["MODEL"]["BACKBONE"]
    (tmp_path / "classes.json").unlink()
    (tmp_path / "MODEL_CARD.md").unlink()
    old = {"classes": list(CLASSES), "text_classes": list(TEXT),
           "dataset_id_to_contiguous_id": {str(d): c for d, c in IDS.items()}}  # fmt: skip
    (tmp_path / "label_map.json").write_text(json.dumps(old))
    assert resolve_model(tmp_path).classes == list(CLASSES)  # old runs still resolve
    package_run(tmp_path)
    saved = yaml.safe_load((tmp_path / "student_config.yaml").read_text())
    assert "ARCH" not in saved["MODEL"]["BACKBONE"]
    labels = json.loads((tmp_path / "label_map.json").read_text())
    assert labels == {str(i): c for i, c in enumerate(CLASSES)}
    files = resolve_model(tmp_path)
    assert files.text_classes == list(TEXT) and files.dataset_ids[0] == 1
    assert (tmp_path / "MODEL_CARD.md").is_file()
