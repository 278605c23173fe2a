"""The Distiller: frozen teacher + student + graph builder + KD losses, as one detectron2 model.

In training it returns a dict of named losses (the student's detector losses plus
``loss_kd_*``), so detectron2's trainers, hooks, writers and AMP work unchanged. In eval mode it
is the student: ``distiller(batched_inputs)`` returns the student's detections.
"""

from __future__ import annotations

import dataclasses

import torch
from detectron2.modeling import GeneralizedRCNN
from detectron2.utils.events import get_event_storage
from torch import Tensor, nn
from torch_geometric.data import Batch

from detectors.build import freeze
from detectors.roi_features import RoIFeatures, extract_roi_features
from graph import GraphBuilder
from graphkd.core.losses import KDLoss
from graphkd.core.methods import METHODS, check_method, needs_graphs

__all__ = ["METHODS", "Distiller", "build_graph_pair"]


def build_graph_pair(
    builder: GraphBuilder, feats: RoIFeatures, *, update_stats: bool = True
) -> tuple[Batch, Batch]:
    """Teacher and student instance graphs of the RoIs in ``feats`` (identical node order)."""
    return builder.build_pair(
        feats.teacher_features,
        feats.student_features,
        feats.boxes,
        feats.gt_classes,
        feats.gt_instance,
        teacher_bg_prob=feats.teacher_bg_prob(),
        update_stats=update_stats,
    )


class Distiller(nn.Module):
    """Trains ``student`` to match a frozen ``teacher``.

    The teacher is deliberately NOT a registered submodule: it is frozen, so it must stay out of
    the optimizer, out of DistributedDataParallel's parameter sync and out of checkpoints (a
    resumable checkpoint holds the student, the adapters and the running covariance statistics;
    the teacher is reloaded from its own file). Build it on the same device as the student.

    Args:
        student: a detectron2 ``GeneralizedRCNN`` (trained).
        teacher: a detectron2 ``GeneralizedRCNN`` with the same classes, or None for ``none``.
        kd_loss: the KD terms (owns the student->teacher adapters).
        builder: the instance-graph builder (``dsig`` / ``graphkd``), else None.
        method: one of :data:`graphkd.core.methods.METHODS`.
        start_iter: KD terms are added from this iteration on (detector losses always).
    """

    def __init__(
        self,
        student: GeneralizedRCNN,
        teacher: GeneralizedRCNN | None,
        kd_loss: KDLoss | None,
        builder: GraphBuilder | None = None,
        *,
        method: str = "graphkd",
        start_iter: int = 0,
    ) -> None:
        super().__init__()
        check_method(method)
        if method != "none" and (teacher is None or kd_loss is None):
            raise ValueError(f"kd.method={method!r} needs a teacher and a KD loss")
        if needs_graphs(method) and builder is None:
            raise ValueError(f"kd.method={method!r} needs a GraphBuilder")
        if teacher is not None:
            t_k, s_k = teacher.roi_heads.num_classes, student.roi_heads.num_classes
            if t_k != s_k:
                raise ValueError(
                    f"teacher predicts {t_k} classes but the student {s_k}: train the teacher on "
                    "the same dataset (same class list) as the student"
                )
            freeze(teacher)
        self.student = student
        self._teacher = (teacher,)  # a tuple hides it from nn.Module's registry (see above)
        self.kd_loss = kd_loss if method != "none" else None
        self.builder = builder if needs_graphs(method) else None
        self.method = method
        self.start_iter = int(start_iter)

    @property
    def teacher(self) -> GeneralizedRCNN | None:
        return self._teacher[0]

    @property
    def device(self) -> torch.device:
        return self.student.device

    def forward(self, batched_inputs: list[dict]):
        if not self.training or self.method == "none":
            return self.student(batched_inputs)
        feats = extract_roi_features(self.student, self.teacher, batched_inputs)
        losses = dict(feats.losses)
        storage = get_event_storage()
        try:
            if storage.iter >= self.start_iter:
                losses.update(self._kd_losses(feats))
            elif self.builder is not None:  # KD terms off: keep the statistics warming up
                with torch.no_grad():
                    self._build_graphs(feats)
        # FloatingPointError: a non-finite loss term; ValueError: non-finite graph inputs
        # (e.g. NaN features). Same type, the message also names the iteration.
        except (FloatingPointError, ValueError) as e:
            raise type(e)(f"iteration {storage.iter}: {e}") from e
        return losses

    def _build_graphs(self, feats: RoIFeatures):
        return build_graph_pair(self.builder, feats, update_stats=True)

    def _kd_losses(self, feats: RoIFeatures) -> dict[str, Tensor]:
        # The graph code (covariances, w w^T products, medians) needs fp32 even under AMP.
        with torch.autocast(self.device.type, enabled=False):
            return self._kd_losses_fp32(_to_fp32(feats))

    def _kd_losses_fp32(self, feats: RoIFeatures) -> dict[str, Tensor]:
        teacher_graph = student_graph = None
        if self.builder is not None:
            teacher_graph, student_graph = self._build_graphs(feats)
            self._log_graph_stats()
        cat = torch.cat
        counts = torch.as_tensor([f.shape[0] for f in feats.teacher_features])
        roi_image = torch.repeat_interleave(torch.arange(len(counts)), counts).to(self.device)
        return self.kd_loss(
            teacher_graph,
            student_graph,
            student_logits=cat(feats.student_logits),
            teacher_logits=cat(feats.teacher_logits),
            student_deltas=cat(feats.student_deltas),
            teacher_deltas=cat(feats.teacher_deltas),
            gt_classes=cat(feats.gt_classes),
            student_fpn=feats.student_fpn,
            teacher_fpn=feats.teacher_fpn,
            teacher_rois=cat(feats.teacher_features),
            student_rois=cat(feats.student_features),
            roi_image=roi_image,
            roi_is_bg=~cat(feats.is_fg),
        )

    def _log_graph_stats(self) -> None:
        stats = getattr(self.builder, "last_stats", None) or {}
        scalars = {
            f"graph/{k}": float(v)
            for k, v in stats.items()
            if isinstance(v, (int, float)) or (torch.is_tensor(v) and v.numel() == 1)
        }
        if scalars:
            get_event_storage().put_scalars(**scalars, smoothing_hint=False)


def _to_fp32(feats: RoIFeatures) -> RoIFeatures:
    """``feats`` with every floating-point tensor in fp32 (AMP may hand over fp16 ones)."""

    def conv(v):
        if torch.is_tensor(v):
            return v.float() if v.is_floating_point() else v
        if isinstance(v, list):
            return [conv(x) for x in v]
        if isinstance(v, dict):
            return {k: conv(x) for k, x in v.items()}
        return v

    return dataclasses.replace(
        feats, **{f.name: conv(getattr(feats, f.name)) for f in dataclasses.fields(feats)}
    )
