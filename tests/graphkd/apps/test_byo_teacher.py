"""Bring your own teacher: a stock detectron2 Faster R-CNN R50-FPN checkpoint (FrozenBN, 256-channel
FPN, default anchors, as layoutparser's PubLayNet models) loads as the teacher with teacher-only
settings; a Mask R-CNN checkpoint loads with its mask head ignored."""

from __future__ import annotations

import logging
from importlib import resources

import pytest
import torch
from detectron2.checkpoint import DetectionCheckpointer  # noqa: E402
from detectron2.config import get_cfg  # noqa: E402
from detectron2.modeling import build_model  # noqa: E402
from detectron2.utils.events import EventStorage  # noqa: E402
from hydra import compose, initialize_config_dir

from detectors.datasets import get_spec  # noqa: E402
from detectors.dummy import make_dummy_batch  # noqa: E402
from graphkd.apps.cli import CONFIG_DIR  # noqa: E402
from graphkd.core.d2config import detector_cfg  # noqa: E402
from graphkd.core.data import DataSplits  # noqa: E402
from graphkd.core.models import build_distiller, build_teacher  # noqa: E402

CLASSES = get_spec("synthetic").classes

DATA = DataSplits("byo_train", "byo_val", CLASSES, ("text", "title", "list"))
# The documented teacher-only settings of a stock detectron2 R50-FPN (README).
STOCK_TEACHER = [
    "pair.teacher.norm=FrozenBN",
    "pair.teacher.fpn_channels=256",
    "pair.teacher.anchor_sizes=[32,64,128,256,512]",
    "pair.teacher.anchor_ratios=[0.5,1.0,2.0]",
]
SMALL = ["trainer.min_size=128", "trainer.max_size=128", "trainer.rois_per_image=16"]


def _stock_checkpoint(folder, mask: bool):
    """What detectron2's own tools (or layoutparser's model zoo) write for R50-FPN."""
    cfg = get_cfg()
    base = resources.files("detectron2") / "model_zoo" / "configs" / "Base-RCNN-FPN.yaml"
    cfg.merge_from_file(str(base))
    cfg.MODEL.MASK_ON = mask
    cfg.MODEL.ROI_HEADS.NUM_CLASSES = len(CLASSES)
    cfg.MODEL.DEVICE = "cpu"
    torch.manual_seed(0)
    model = build_model(cfg)
    DetectionCheckpointer(model, str(folder)).save("model_final")
    return model, folder / "model_final.pth"


def _cfg(*overrides: str):
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        return compose("config", overrides=["pair=r50_r18", *SMALL, *overrides])


def test_stock_faster_rcnn_r50_fpn_is_a_teacher_and_the_student_keeps_its_settings(tmp_path):
    stock, path = _stock_checkpoint(tmp_path, mask=False)
    cfg = _cfg(*STOCK_TEACHER, f"teacher_checkpoint={path}")
    teacher = build_teacher(cfg, DATA)
    expected = stock.state_dict()
    assert all(torch.equal(v, expected[k]) for k, v in teacher.state_dict().items())
    s_cfg = detector_cfg(cfg, "student", DATA)  # teacher-only: the student is unchanged
    assert s_cfg.MODEL.FPN.OUT_CHANNELS == cfg.trainer.fpn_channels == 128
    assert len(s_cfg.MODEL.ANCHOR_GENERATOR.ASPECT_RATIOS[0]) == 5
    # One distillation step with it: 256-channel teacher, 128-channel student.
    distiller, _ = build_distiller(_cfg(*STOCK_TEACHER, "kd=graphkd"), DATA, teacher=teacher)
    distiller.train()
    with EventStorage(0):
        losses = distiller(make_dummy_batch(2, 128, 96))
    assert {"loss_kd_node", "loss_kd_edge"} <= set(losses)
    assert all(torch.isfinite(v) for v in losses.values())


def test_without_the_settings_the_stock_checkpoint_is_refused_with_the_fpn_hint(tmp_path):
    _, path = _stock_checkpoint(tmp_path, mask=False)
    with pytest.raises(ValueError, match="FPN width"):
        build_teacher(_cfg("pair.teacher.norm=FrozenBN", f"teacher_checkpoint={path}"), DATA)


def test_mask_rcnn_checkpoint_loads_as_a_teacher_without_its_mask_head(tmp_path, caplog):
    stock, path = _stock_checkpoint(tmp_path, mask=True)
    cfg = _cfg(*STOCK_TEACHER, f"teacher_checkpoint={path}")
    with caplog.at_level(logging.WARNING, logger="detectors.build"):
        teacher = build_teacher(cfg, DATA)
    assert "Mask R-CNN checkpoint" in caplog.text and "mask head" in caplog.text
    assert not any(k.startswith("roi_heads.mask_head") for k in teacher.state_dict())
    expected = stock.state_dict()
    assert all(torch.equal(v, expected[k]) for k, v in teacher.state_dict().items())
