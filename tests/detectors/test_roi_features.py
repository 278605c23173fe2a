"""extract_roi_features: same boxes for both models, gradients, GT roles, losses, errors."""

from __future__ import annotations

import pytest
import torch
from detectron2.utils.events import EventStorage

from detectors.build import build_detector, freeze
from detectors.config import get_detector_cfg
from detectors.dummy import make_dummy_batch
from detectors.roi_features import RoIFeatures, extract_roi_features

K = 5
ROIS = 24
SMALL = {
    "min_size": 256,
    "rois_per_image": ROIS,
    "overrides": {"MODEL.RPN.PRE_NMS_TOPK_TRAIN": 300, "MODEL.RPN.POST_NMS_TOPK_TRAIN": 100},
}


def cfg(backbone: str, **kw):
    return get_detector_cfg(backbone, K, **{**SMALL, **kw})


@pytest.fixture(scope="module")
def models():
    torch.manual_seed(0)
    # A small teacher keeps the suite fast; the R50 -> R18 pair runs in test_models.py.
    teacher = freeze(build_detector(cfg("MNV2")))
    student = build_detector(cfg("R18")).train()
    return student, teacher


@pytest.fixture(scope="module")
def batch():
    # Image 1 has no GT at all: every RoI is background.
    return make_dummy_batch(num_images=3, height=256, width=192, num_classes=K, empty_images=(1,))


@pytest.fixture(scope="module")
def rois(models, batch) -> RoIFeatures:
    student, teacher = models
    teacher.train()  # extract_roi_features must put it back in eval mode
    torch.manual_seed(0)
    return extract_roi_features(student, teacher, batch)


def test_shapes(rois, batch):
    assert len(rois.boxes) == len(batch) == len(rois.student_features)
    for i, n in enumerate(rois.num_rois):
        assert 0 < n <= ROIS
        assert rois.student_features[i].shape == rois.teacher_features[i].shape == (n, 256, 7, 7)
        assert rois.boxes[i].shape == (n, 4)
        assert rois.gt_classes[i].shape == rois.gt_instance[i].shape == (n,)
        assert rois.student_logits[i].shape == rois.teacher_logits[i].shape == (n, K + 1)
        assert rois.student_deltas[i].shape == rois.teacher_deltas[i].shape == (n, 4 * K)
        assert rois.teacher_bg_prob()[i].shape == (n,)
        assert rois.image_sizes[i] == (256, 192)
    assert set(rois.student_fpn) == set(rois.teacher_fpn) == {"p2", "p3", "p4", "p5", "p6"}
    for k, v in rois.student_fpn.items():
        assert v.shape == rois.teacher_fpn[k].shape and v.shape[:2] == (len(batch), 256)


def test_same_boxes_for_teacher_and_student(models, rois):
    """Re-pooling each model's FPN on the returned boxes reproduces both feature sets."""
    from detectron2.structures import Boxes

    boxes = [Boxes(b) for b in rois.boxes]
    with torch.no_grad():
        for model, fpn, feats in (
            (models[0], rois.student_fpn, rois.student_features),
            (models[1], rois.teacher_fpn, rois.teacher_features),
        ):
            heads = model.roi_heads
            pooled = heads.box_pooler([fpn[f] for f in heads.box_in_features], boxes)
            torch.testing.assert_close(pooled, torch.cat(feats))
    assert all(not b.requires_grad for b in rois.boxes)


def test_gradients(models, rois):
    student, teacher = models
    assert not teacher.training
    for t in rois.teacher_features + rois.teacher_logits + rois.teacher_deltas:
        assert not t.requires_grad and t.grad_fn is None
    assert all(not v.requires_grad for v in rois.teacher_fpn.values())
    for s in rois.student_features + rois.student_logits + rois.student_deltas:
        assert s.requires_grad
    assert all(v.requires_grad for v in rois.student_fpn.values())
    student.zero_grad()
    torch.cat(rois.student_features).square().mean().backward(retain_graph=True)
    assert student.backbone.bottom_up.stem.conv1.weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in teacher.parameters())


def test_gt_roles(rois, batch):
    for i, x in enumerate(batch):
        cls, inst = rois.gt_classes[i], rois.gt_instance[i]
        gt = x["instances"]
        bg = cls == K
        assert ((cls >= 0) & (cls <= K)).all()
        assert (inst[bg] == -1).all() and (inst[~bg] >= 0).all()
        assert torch.equal(rois.is_fg[i], ~bg)
        # The matched instance has the RoI's class and box.
        assert torch.equal(gt.gt_classes[inst[~bg]], cls[~bg])
        if len(gt) == 0:
            assert bg.all()
            continue
        assert (~bg).any()  # GT boxes are appended to the proposals
        fg_props = rois.proposals[i][~bg]
        assert torch.equal(gt.gt_boxes.tensor[inst[~bg]], fg_props.gt_boxes.tensor)


def test_losses_equal_student_forward(models, batch):
    """``.losses`` reproduces GeneralizedRCNN.forward's loss dict (same seed, same sampling)."""
    student, teacher = models
    with EventStorage():
        torch.manual_seed(123)
        rois = extract_roi_features(student, teacher, batch)
        torch.manual_seed(123)
        expected = student(batch)
    assert set(rois.losses) == set(expected)
    for k, v in expected.items():
        torch.testing.assert_close(rois.losses[k], v)


def test_errors(models, batch):
    student, teacher = models
    student.eval()
    try:
        with pytest.raises(ValueError, match="training mode"):
            extract_roi_features(student, teacher, batch)
    finally:
        student.train()
    with pytest.raises(ValueError, match="instances"):
        extract_roi_features(student, teacher, [{"image": batch[0]["image"]}])
    other_k = freeze(build_detector(get_detector_cfg("MNV2", K + 1, **SMALL)))
    with pytest.raises(ValueError, match="classes"):
        extract_roi_features(student, other_k, batch)
    other_pooler = freeze(
        build_detector(cfg("MNV2", overrides={"MODEL.ROI_BOX_HEAD.POOLER_RESOLUTION": 14}))
    )
    with pytest.raises(ValueError, match="pooler"):
        extract_roi_features(student, other_pooler, batch)
