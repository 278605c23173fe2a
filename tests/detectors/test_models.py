"""Detector configs, builders, checkpoints and one training step per teacher -> student pair."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest
import torch
import yaml
from detectron2.checkpoint import DetectionCheckpointer
from detectron2.utils.events import EventStorage
from torchvision.models import mobilenet_v2

from detectors.build import build_detector, count_parameters, freeze, load_checkpoint
from detectors.config import BACKBONES, get_detector_cfg, load_detector_cfg
from detectors.dummy import make_dummy_batch
from detectors.roi_features import extract_roi_features

K = 5
# Small and fast: 256 px pages, few proposals and RoIs.
SMALL = {
    "min_size": 256,
    "rois_per_image": 32,
    "overrides": {"MODEL.RPN.PRE_NMS_TOPK_TRAIN": 300, "MODEL.RPN.POST_NMS_TOPK_TRAIN": 100},
}


def _config_pairs() -> dict[str, tuple[str, str]]:
    """name -> (teacher, student) backbone of every ``pair=`` the CLI knows (configs/pair/)."""
    out = {}
    for path in sorted((Path(__file__).resolve().parents[2] / "configs" / "pair").glob("*.yaml")):
        pair = yaml.safe_load(path.read_text())
        out[pair["name"]] = (pair["teacher"]["backbone"], pair["student"]["backbone"])
    return out


PAIRS = _config_pairs()


def small_cfg(backbone: str, num_classes: int = K, **kw):
    return get_detector_cfg(backbone, num_classes, **{**SMALL, **kw})


@functools.cache
def num_params(backbone: str) -> int:
    return count_parameters(build_detector(small_cfg(backbone)))


# ---------------------------------------------------------------- configs


def test_config_pooler_anchors_and_norms():
    cfg = get_detector_cfg("R18", 7)
    assert cfg.MODEL.RESNETS.DEPTH == 18 and cfg.MODEL.RESNETS.RES2_OUT_CHANNELS == 64
    assert cfg.MODEL.ROI_HEADS.NUM_CLASSES == 7
    assert cfg.MODEL.ROI_BOX_HEAD.POOLER_TYPE == "ROIAlignV2"
    assert cfg.MODEL.ROI_BOX_HEAD.POOLER_RESOLUTION == 7
    assert list(cfg.MODEL.ROI_HEADS.IN_FEATURES) == ["p2", "p3", "p4", "p5"]
    assert cfg.MODEL.ROI_HEADS.NAME == "StandardROIHeads"
    assert min(cfg.MODEL.ANCHOR_GENERATOR.ASPECT_RATIOS[0]) <= 0.2  # wide, flat regions
    assert len(cfg.MODEL.ANCHOR_GENERATOR.SIZES) == 5
    assert cfg.MODEL.RESNETS.NORM == cfg.MODEL.FPN.NORM == "GN"
    assert cfg.MODEL.WEIGHTS == "" and cfg.MODEL.DEVICE == "cpu"

    frozen = get_detector_cfg("R50", 5, norm="FrozenBN")
    assert frozen.MODEL.RESNETS.NORM == "FrozenBN" and frozen.MODEL.FPN.NORM == ""
    assert frozen.MODEL.BACKBONE.FREEZE_AT == 2
    assert get_detector_cfg("MNV2", 5, norm="BN").MODEL.TV_BACKBONE.NORM == "BN"
    assert get_detector_cfg("R34", 5, image_size=320).INPUT.MIN_SIZE_TEST == 320


def test_config_roundtrip(tmp_path):
    cfg = get_detector_cfg("EB0", 3, overrides={"MODEL.RPN.POST_NMS_TOPK_TRAIN": 77})
    path = tmp_path / "config.yaml"
    path.write_text(cfg.dump())
    loaded = load_detector_cfg(str(path))
    assert loaded.MODEL.BACKBONE.ARCH == "EB0"
    assert loaded.MODEL.RPN.POST_NMS_TOPK_TRAIN == 77


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"backbone": "R26"}, "ResNet depth 26"),
        ({"backbone": "VGG16"}, "Unknown backbone"),
        ({"norm": "LN"}, "norm='LN'"),
        ({"weights": "https://dl.fbaipublicfiles.com/x.pkl"}, "URL"),
        ({"weights": "detectron2://ImageNetPretrained/MSRA/R-50.pkl"}, "URL"),
        ({"trunk_weights": "w.pth"}, "trunk_weights is for the torchvision"),
        ({"num_classes": 0}, "num_classes"),
        ({"fpn_channels": 0}, "fpn_channels"),
        ({"fpn_channels": 48}, "multiple of 32"),
    ],
)
def test_config_errors(kwargs, match):
    args = {"backbone": "R50", "num_classes": K, **kwargs}
    with pytest.raises(ValueError, match=match):
        get_detector_cfg(args.pop("backbone"), args.pop("num_classes"), **args)


def test_config_pairs_are_the_papers_and_buildable():
    assert PAIRS == {
        "r50_r18": ("R50", "R18"),
        "r101_r50": ("R101", "R50"),
        "r152_r101": ("R152", "R101"),
        "r101_eb0": ("R101", "EB0"),
        "r50_mnv2": ("R50", "MNV2"),
    }
    assert {b for pair in PAIRS.values() for b in pair} <= set(BACKBONES)


# ---------------------------------------------------------------- builders


@pytest.mark.parametrize("backbone", ["MNV2", "EB0", "R18"])
def test_backbone_fpn_outputs(backbone):
    model = build_detector(small_cfg(backbone)).eval()
    shapes = model.backbone.output_shape()
    assert list(shapes) == ["p2", "p3", "p4", "p5", "p6"]
    assert {s.channels for s in shapes.values()} == {256}
    assert [s.stride for s in shapes.values()] == [4, 8, 16, 32, 64]
    with torch.no_grad():
        feats = model.backbone(torch.zeros(1, 3, 128, 96))
    assert feats["p2"].shape == (1, 256, 32, 24) and feats["p6"].shape == (1, 256, 2, 2)


def test_fpn_width_sets_every_level_and_the_pooled_rois():
    student = build_detector(small_cfg("R18", fpn_channels=64)).train()
    teacher = build_detector(small_cfg("MNV2", fpn_channels=32))
    for model, width in ((student, 64), (teacher, 32)):
        assert {s.channels for s in model.backbone.output_shape().values()} == {width}
    batch = make_dummy_batch(num_images=1, height=256, width=192, num_classes=K)
    with EventStorage(0):
        rois = extract_roi_features(student, teacher, batch)
    assert rois.student_features[0].shape[1:] == (64, 7, 7)
    assert rois.teacher_features[0].shape[1:] == (32, 7, 7)


def test_teacher_larger_than_student_for_every_pair():
    for name, (teacher, student) in PAIRS.items():
        assert num_params(teacher) > num_params(student), name


def test_freeze_and_count_parameters():
    model = freeze(build_detector(small_cfg("MNV2")))
    assert not model.training
    assert count_parameters(model, trainable_only=True) == 0
    assert count_parameters(model) == num_params("MNV2") > 0


def test_torchvision_trunk_weights(tmp_path):
    torch.manual_seed(0)
    reference = mobilenet_v2(weights=None)
    path = tmp_path / "mobilenet_v2_imagenet.pth"
    torch.save(reference.state_dict(), path)
    model = build_detector(small_cfg("MNV2", norm="FrozenBN", trunk_weights=str(path)))
    trunk = model.backbone.bottom_up.features
    stem = reference.features[0][0].weight
    assert torch.equal(trunk[0][0].weight, stem.flip(1))  # RGB filters read BGR input
    assert torch.equal(trunk[5].conv[1][0].weight, reference.features[5].conv[1][0].weight)
    assert not trunk[0][0].weight.requires_grad  # FREEZE_AT=2 with pretrained weights
    with pytest.raises(FileNotFoundError, match="missing.pth"):
        build_detector(
            small_cfg("MNV2", norm="FrozenBN", trunk_weights=str(tmp_path / "missing.pth"))
        )
    with pytest.raises(ValueError, match="GroupNorm"):
        build_detector(small_cfg("MNV2", norm="GN", trunk_weights=str(path)))


# ---------------------------------------------------------------- checkpoints


@pytest.fixture(scope="module")
def r18_checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    model = build_detector(small_cfg("R18"))
    out = tmp_path_factory.mktemp("ckpt")
    DetectionCheckpointer(model, save_dir=str(out)).save("model_final")
    return model, str(out / "model_final.pth")


def test_checkpoint_roundtrip(r18_checkpoint):
    model, path = r18_checkpoint
    torch.manual_seed(1)
    loaded = build_detector(small_cfg("R18", weights=path))
    for (k, a), b in zip(model.state_dict().items(), loaded.state_dict().values()):
        assert torch.equal(a, b), k


def test_checkpoint_missing_file(tmp_path):
    path = str(tmp_path / "teacher" / "model_final.pth")
    model = build_detector(small_cfg("R18"))
    with pytest.raises(FileNotFoundError, match="model_final.pth") as err:
        load_checkpoint(model, path)
    assert "train_teacher.py" in str(err.value)
    with pytest.raises(FileNotFoundError, match="make it with X"):
        load_checkpoint(model, path, hint="make it with X")


def test_checkpoint_class_count_mismatch(r18_checkpoint):
    _, path = r18_checkpoint
    cfg = small_cfg("R18", num_classes=11)
    with pytest.raises(ValueError, match=f"{K} classes.*expects 11") as err:
        load_checkpoint(build_detector(cfg), path, cfg)
    assert "model_final.pth" in str(err.value)


def test_checkpoint_wrong_architecture(r18_checkpoint):
    _, path = r18_checkpoint
    cfg = small_cfg("MNV2")
    with pytest.raises(ValueError, match="does not match the MNV2 model's architecture") as err:
        load_checkpoint(build_detector(cfg), path, cfg)
    msg = str(err.value)
    assert "model_final.pth" in msg and "backbone.bottom_up" in msg
    # Same backbone, other norm: a GN checkpoint lacks the BN running statistics.
    cfg = small_cfg("R18", norm="BN")
    with pytest.raises(ValueError, match="architecture"):
        load_checkpoint(build_detector(cfg), path, cfg)
    # A backbone-only initialisation may opt out of the check.
    load_checkpoint(build_detector(cfg), path, cfg, allow_partial=True)
    # Same backbone and norm, other FPN width: the message names the key to check.
    cfg = small_cfg("R18", fpn_channels=128)
    with pytest.raises(
        ValueError, match=r"fpn_lateral2.*\(256, 64, 1, 1\) vs \(128, 64, 1, 1\)"
    ) as err:
        load_checkpoint(build_detector(cfg), path, cfg)
    assert "MODEL.FPN.OUT_CHANNELS" in str(err.value)


def test_checkpoint_rejects_url():
    with pytest.raises(ValueError, match="URL"):
        load_checkpoint(torch.nn.Linear(1, 1), "https://example.com/model_final.pth")


# ---------------------------------------------------------------- one training step per pair


@pytest.mark.parametrize("pair", list(PAIRS))
def test_training_step(pair):
    """A distillation-style step at 256 px: detector losses + an RoI feature MSE."""
    teacher_name, student_name = PAIRS[pair]
    torch.manual_seed(0)
    teacher = freeze(build_detector(small_cfg(teacher_name)))
    student = build_detector(small_cfg(student_name))
    student.train()
    batch = make_dummy_batch(num_images=2, height=256, width=192, num_classes=K)
    optimizer = torch.optim.SGD(student.parameters(), lr=0.01, momentum=0.9)
    before = {k: v.detach().clone() for k, v in student.named_parameters()}
    teacher_before = {k: v.clone() for k, v in teacher.state_dict().items()}

    with EventStorage():
        rois = extract_roi_features(student, teacher, batch)
        kd = sum(
            torch.nn.functional.mse_loss(s, t)
            for s, t in zip(rois.student_features, rois.teacher_features)
        )
        loss = sum(rois.losses.values()) + kd
    assert set(rois.losses) == {"loss_cls", "loss_box_reg", "loss_rpn_cls", "loss_rpn_loc"}
    assert torch.isfinite(loss)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()

    changed = [k for k, v in student.named_parameters() if not torch.equal(v, before[k])]
    assert any(k.startswith("backbone.bottom_up") for k in changed)
    assert any(k.startswith("roi_heads.box_predictor") for k in changed)
    assert all(p.grad is None for p in teacher.parameters())
    assert all(torch.equal(v, teacher_before[k]) for k, v in teacher.state_dict().items())
