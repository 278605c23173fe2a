"""RoI features of a student and a frozen teacher on the SAME sampled boxes, for distillation.

One call runs the student's training path of :class:`GeneralizedRCNN` step by step with
detectron2's stock components (backbone, RPN, ``StandardROIHeads.label_and_sample_proposals``,
``box_pooler``, ``box_head``, ``box_predictor`` and its ``losses``), then pools the student's
sampled boxes from the teacher's FPN with the teacher's own pooler (identical settings, checked).
``RoIFeatures.losses`` is exactly the dict ``student(batched_inputs)`` returns in training.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import NamedTuple

import torch
from detectron2.modeling import GeneralizedRCNN
from detectron2.structures import Boxes, Instances
from detectron2.utils.events import EventStorage, get_event_storage
from torch import Tensor

__all__ = ["RoIFeatures", "extract_roi_features", "pool_boxes"]


@dataclass
class RoIFeatures:
    """Per-image RoI tensors (lists of length B, the batch size) and both models' FPN maps.

    N_i RoIs in image i (``rois_per_image`` or fewer), C = FPN channels (256), K = num classes.
    Boxes are XYXY in the coordinates of the (resized) input images, ``image_sizes`` (h, w).
    """

    student_features: list[Tensor]  # (N_i, C, 7, 7), attached to the student's graph
    teacher_features: list[Tensor]  # (N_i, C, 7, 7), no grad
    boxes: list[Tensor]  # (N_i, 4) float, no grad, shared by both models
    gt_classes: list[Tensor]  # (N_i,) long in [0, K]; K = background
    gt_instance: list[Tensor]  # (N_i,) long: matched GT instance index in the image, -1 for bg
    student_logits: list[Tensor]  # (N_i, K + 1), grad
    teacher_logits: list[Tensor]  # (N_i, K + 1), no grad
    student_deltas: list[Tensor]  # (N_i, 4K) (or (N_i, 4) class-agnostic), grad
    teacher_deltas: list[Tensor]  # same shape, no grad
    proposal_losses: dict[str, Tensor]  # RPN: loss_rpn_cls, loss_rpn_loc
    detector_losses: dict[str, Tensor]  # box head: loss_cls, loss_box_reg
    student_fpn: dict[str, Tensor]  # "p2".."p6": (B, C, H_l, W_l), grad
    teacher_fpn: dict[str, Tensor]  # "p2".."p6": (B, C, H_l, W_l), no grad
    proposals: list[Instances]  # the sampled RoIs as detectron2 Instances (gt_* fields)
    image_sizes: list[tuple[int, int]]  # (h, w) of each image before padding
    num_classes: int  # K

    @property
    def losses(self) -> dict[str, Tensor]:
        """The student's detection losses, as ``GeneralizedRCNN.forward`` returns them."""
        return {**self.detector_losses, **self.proposal_losses}

    @property
    def num_rois(self) -> list[int]:
        return [len(b) for b in self.boxes]

    @property
    def is_fg(self) -> list[Tensor]:
        """(N_i,) bool: RoIs matched to a GT instance."""
        return [g >= 0 for g in self.gt_instance]

    def teacher_bg_prob(self) -> list[Tensor]:
        """(N_i,) teacher's softmax probability of background (for hard-background mining)."""
        return [logits.softmax(dim=-1)[:, -1] for logits in self.teacher_logits]


def _storage() -> contextlib.AbstractContextManager:
    # detectron2's RPN / RoI heads log to the current EventStorage; trainers provide one.
    try:
        get_event_storage()
        return contextlib.nullcontext()
    except AssertionError:
        return EventStorage()


def _pooler_signature(model: GeneralizedRCNN) -> tuple:
    heads = model.roi_heads
    pooler = heads.box_pooler
    return (
        tuple(heads.box_in_features),
        tuple(pooler.output_size),
        pooler.min_level,
        pooler.max_level,
        pooler.canonical_level,
        pooler.canonical_box_size,
        tuple(repr(m) for m in pooler.level_poolers),
    )


def _check_models(student: GeneralizedRCNN, teacher: GeneralizedRCNN, batched_inputs) -> None:
    for name, model in (("student", student), ("teacher", teacher)):
        heads = getattr(model, "roi_heads", None)
        if heads is None or not hasattr(heads, "box_pooler") or model.proposal_generator is None:
            raise ValueError(
                f"The {name} must be a detectron2 GeneralizedRCNN with an RPN and "
                f"StandardROIHeads (got {type(model).__name__})."
            )
        if getattr(heads, "mask_on", False) or getattr(heads, "keypoint_on", False):
            raise ValueError(f"The {name} has mask/keypoint heads; only box detectors are handled.")
    if not student.training:
        raise ValueError(
            "The student must be in training mode (call student.train()): RoI sampling and the "
            "detection losses are training-time steps."
        )
    if student.roi_heads.num_classes != teacher.roi_heads.num_classes:
        raise ValueError(
            f"Teacher has {teacher.roi_heads.num_classes} classes, student has "
            f"{student.roi_heads.num_classes}; both must be trained on the same dataset."
        )
    if _pooler_signature(student) != _pooler_signature(teacher):
        raise ValueError(
            "Teacher and student RoI poolers differ; distillation needs identical pooler settings "
            f"(ROI_HEADS.IN_FEATURES and ROI_BOX_HEAD.POOLER_*):\n student: "
            f"{_pooler_signature(student)}\n teacher: {_pooler_signature(teacher)}"
        )
    if not batched_inputs:
        raise ValueError("batched_inputs is empty.")
    if any("instances" not in x for x in batched_inputs):
        raise ValueError(
            "Every batched input needs ground-truth 'instances' (a training batch from "
            "detectron2's DatasetMapper with is_train=True)."
        )


def _with_instance_ids(targets: list[Instances]) -> list[Instances]:
    """Shallow copies of the targets with a ``gt_instance`` field = arange(num GT).

    ``label_and_sample_proposals`` copies every ``gt_*`` target field onto the sampled proposals
    through its matcher's indices, so the matched GT index comes from detectron2's own matching.
    """
    out = []
    for t in targets:
        t = Instances(t.image_size, **t.get_fields())
        t.gt_instance = torch.arange(len(t), device=t.gt_classes.device)
        out.append(t)
    return out


def _teacher_inputs(batched_inputs: list[dict], student, teacher) -> list[dict]:
    # Both models read the same decoded images; reverse channels if their formats disagree.
    formats = {student.input_format, teacher.input_format}
    if formats == {"RGB", "BGR"}:
        return [{**x, "image": x["image"].flip(0)} for x in batched_inputs]
    return batched_inputs


def extract_roi_features(
    student: GeneralizedRCNN, teacher: GeneralizedRCNN, batched_inputs: list[dict]
) -> RoIFeatures:
    """Run the student's training forward and pool its sampled RoIs from both models.

    Args:
        student: detectron2 Faster R-CNN (FPN, StandardROIHeads) in training mode.
        teacher: same kind of model with the same classes and pooler settings; it is put in eval
            mode and run under ``torch.no_grad()`` (its own pixel mean/std, its own padding).
        batched_inputs: a training batch as for ``GeneralizedRCNN.forward``: dicts with "image"
            (3, H, W) in the student's ``INPUT.FORMAT`` and "instances" (gt_boxes, gt_classes).

    Returns:
        :class:`RoIFeatures`. Student tensors keep their graph; ``.losses`` can replace
        ``student(batched_inputs)``.
    """
    _check_models(student, teacher, batched_inputs)
    teacher.eval()
    s = _student_pass(student, batched_inputs)
    with torch.no_grad():
        t_heads = teacher.roi_heads
        t_images = teacher.preprocess_image(_teacher_inputs(batched_inputs, student, teacher))
        teacher_fpn = teacher.backbone(t_images.tensor)
        t_boxes = [b.to(teacher.device) for b in s.boxes]
        teacher_pooled = t_heads.box_pooler(
            [teacher_fpn[f] for f in t_heads.box_in_features], t_boxes
        )
        teacher_logits, teacher_deltas = t_heads.box_predictor(t_heads.box_head(teacher_pooled))
    num_classes = student.roi_heads.num_classes
    gt_classes, gt_instance = _matched_instances(s.sampled, num_classes)
    counts = [len(p) for p in s.sampled]
    device = student.device

    def split(x: Tensor) -> list[Tensor]:
        return list(x.to(device).split(counts))

    return RoIFeatures(
        student_features=split(s.pooled),
        teacher_features=split(teacher_pooled),
        boxes=[b.tensor for b in s.boxes],
        gt_classes=gt_classes,
        gt_instance=gt_instance,
        student_logits=split(s.logits),
        teacher_logits=split(teacher_logits),
        student_deltas=split(s.deltas),
        teacher_deltas=split(teacher_deltas),
        proposal_losses=s.proposal_losses,
        detector_losses=s.detector_losses,
        student_fpn=s.fpn,
        teacher_fpn={k: v.to(device) for k, v in teacher_fpn.items()},
        proposals=s.sampled,
        image_sizes=list(s.image_sizes),
        num_classes=num_classes,
    )


class _StudentPass(NamedTuple):
    """The student's training forward up to its box losses (B images, N = sum N_i RoIs)."""

    image_sizes: list[tuple[int, int]]  #: (h, w) of each image before padding
    fpn: dict[str, Tensor]  #: "p2".."p6": (B, C, H_l, W_l)
    proposal_losses: dict[str, Tensor]  #: RPN losses
    sampled: list[Instances]  #: the sampled RoIs with their gt_* fields
    boxes: list[Boxes]  #: (N_i, 4) proposal boxes of the sampled RoIs
    pooled: Tensor  #: (N, C, 7, 7)
    logits: Tensor  #: (N, K + 1)
    deltas: Tensor  #: (N, 4K) or (N, 4)
    detector_losses: dict[str, Tensor]  #: box head losses


def _student_pass(student: GeneralizedRCNN, batched_inputs: list[dict]) -> _StudentPass:
    """``GeneralizedRCNN.forward``'s training path, step by step with detectron2's components,
    keeping what distillation needs (RoI sampling draws from torch's RNG, as in ``forward``)."""
    heads = student.roi_heads
    with _storage():
        images = student.preprocess_image(batched_inputs)
        targets = [x["instances"].to(student.device) for x in batched_inputs]
        fpn = student.backbone(images.tensor)
        proposals, proposal_losses = student.proposal_generator(images, fpn, targets)
        sampled = heads.label_and_sample_proposals(proposals, _with_instance_ids(targets))
        boxes = [p.proposal_boxes for p in sampled]
        pooled = heads.box_pooler([fpn[f] for f in heads.box_in_features], boxes)
        logits, deltas = heads.box_predictor(heads.box_head(pooled))
        detector_losses = heads.box_predictor.losses((logits, deltas), sampled)
    return _StudentPass(
        images.image_sizes, fpn, proposal_losses, sampled, boxes, pooled, logits, deltas,
        detector_losses,
    )  # fmt: skip


def _matched_instances(
    sampled: list[Instances], num_classes: int
) -> tuple[list[Tensor], list[Tensor]]:
    """Per image (N_i,) gt_classes in [0, K] and (N_i,) matched GT instance (-1 for bg).

    Sets each proposal's ``gt_instance`` to -1 where it is background (class K or none).
    """
    gt_classes, gt_instance = [], []
    for p in sampled:
        fg = (p.gt_classes >= 0) & (p.gt_classes < num_classes)
        ids = p.gt_instance if p.has("gt_instance") else torch.full_like(p.gt_classes, -1)
        p.gt_instance = torch.where(fg, ids, torch.full_like(ids, -1))
        gt_classes.append(p.gt_classes)
        gt_instance.append(p.gt_instance)
    return gt_classes, gt_instance


def pool_boxes(model: GeneralizedRCNN, batched_inputs: list[dict], boxes: list) -> Tensor:
    """RoI features of given boxes (e.g. a page's ground-truth regions) from ``model``'s FPN,
    pooled by its own ``box_pooler`` (the settings of :func:`extract_roi_features`).

    Args:
        model: detectron2 Faster R-CNN (FPN, StandardROIHeads); run as it is (no mode change,
            gradients as the caller's context says).
        batched_inputs: dicts with "image" (3, H, W) in the model's ``INPUT.FORMAT``.
        boxes: per image, detectron2 ``Boxes`` (N_i, 4) XYXY in the input image's coordinates.

    Returns:
        (sum N_i, C, 7, 7), the images' boxes in order.
    """
    heads = model.roi_heads
    fpn = model.backbone(model.preprocess_image(batched_inputs).tensor)
    features = [fpn[f] for f in heads.box_in_features]
    return heads.box_pooler(features, [b.to(model.device) for b in boxes])
