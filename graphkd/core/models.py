"""The models of a job, built from a composed GraphKD config: the frozen teacher and the
:class:`~graphkd.core.distiller.Distiller` (student + teacher + graph builder + KD losses).

The teacher is found where ``scripts/train_teacher.py`` writes it (:func:`teacher_dir`); when it
is missing, the error names the command that makes it (:func:`teacher_command`).
"""

from __future__ import annotations

import os

import torch
from detectron2.config import CfgNode
from detectron2.utils.env import seed_all_rng
from omegaconf import DictConfig

from detectors.build import build_detector, freeze, load_checkpoint
from graph import GraphBuilder
from graphkd.core.config import Config
from graphkd.core.d2config import detector_cfg
from graphkd.core.data import DataSplits
from graphkd.core.distiller import Distiller
from graphkd.core.losses import KDLoss
from graphkd.core.methods import check_method, needs_graphs

__all__ = ["build_distiller", "build_teacher", "teacher_command", "teacher_dir"]


# Overrides that change the student run but not which teacher it needs.
_STUDENT_ONLY = (
    "kd",
    "trainer.seed",
    "trainer.resume",
    "trainer.max_iter",
    "trainer.student_fpn_channels",
    "pair=",
    "dataset=",
    "pair.student",
)


def teacher_command(cfg: Config | DictConfig) -> str:
    """The command that trains the teacher ``cfg`` expects (with the run's relevant overrides)."""
    extra = [o for o in cfg.overrides if not o.lstrip("+~").startswith(_STUDENT_ONLY)]
    return " ".join(
        ["python scripts/train_teacher.py", f"dataset={cfg.dataset.name}", f"pair={cfg.pair.name}"]
        + extra
    )


def teacher_dir(cfg: Config | DictConfig) -> str:
    """The teacher's run directory (``train_teacher.py`` writes it, distillation reads it)."""
    return os.path.dirname(cfg.teacher_checkpoint)


def build_teacher(cfg: Config | DictConfig, data: DataSplits) -> torch.nn.Module:
    """The frozen teacher from ``cfg.teacher_checkpoint`` (clear error with the fix if missing)."""
    d2 = detector_cfg(cfg, "teacher", data)
    d2.MODEL.WEIGHTS = ""
    teacher = build_detector(d2)
    path = cfg.teacher_checkpoint
    hint = f"Train the teacher first:\n    {teacher_command(cfg)}"
    load_checkpoint(teacher, path, d2, hint=hint)
    return freeze(teacher)


def build_distiller(
    cfg: Config, data: DataSplits, teacher: torch.nn.Module | None = None
) -> tuple[Distiller, CfgNode]:
    """Student (+ teacher, graph builder and KD losses unless ``kd=none``) and its d2 config.

    ``cfg`` is the :class:`~graphkd.core.config.Config` dataclass tree
    (:func:`~graphkd.core.config.to_config`): ``cfg.kd.loss`` (a :class:`~graphkd.core.losses.KDLossConfig`) and
    ``cfg.kd.graph`` (a :class:`graph.GraphConfig`) go to :class:`KDLoss` and
    :class:`graph.GraphBuilder` as they are. ``teacher`` defaults to the frozen model loaded from
    ``cfg.teacher_checkpoint``.
    """
    s_cfg = detector_cfg(cfg, "student", data)
    seed_all_rng(cfg.trainer.seed)  # same student init for every kd method
    student = build_detector(s_cfg)
    method = check_method(cfg.kd.method)
    if method == "none":
        return Distiller(student, None, None, method="none"), s_cfg
    if teacher is None:
        teacher = build_teacher(cfg, data)
    channels = s_cfg.MODEL.FPN.OUT_CHANNELS
    t_channels = teacher.backbone.output_shape()["p2"].channels
    kd_loss = KDLoss(
        cfg.kd.loss,
        student_channels=channels,
        teacher_channels=t_channels,
        num_classes=len(data.classes),
    ).to(s_cfg.MODEL.DEVICE)
    builder = None
    if needs_graphs(method):
        builder = GraphBuilder(
            data.text_class_ids,
            len(data.classes),
            cfg.kd.graph,
            teacher_channels=t_channels,
            student_channels=channels,
        ).to(s_cfg.MODEL.DEVICE)
    distiller = Distiller(
        student, teacher, kd_loss, builder, method=method, start_iter=cfg.kd.start_iter
    )
    return distiller, s_cfg
