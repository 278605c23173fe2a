"""The translation of a GraphKD config (``graphkd.core.config.Config``) to detectron2's config.

One function, :func:`detector_cfg`: the teacher's or the student's detectron2 ``CfgNode`` (model
from :func:`detectors.config.get_detector_cfg`, solver, data) for a composed config.
"""

from __future__ import annotations

from detectron2.config import CfgNode
from omegaconf import DictConfig

from detectors.config import get_detector_cfg
from graphkd.core.config import Config, fpn_channels_of
from graphkd.core.data import DataSplits

__all__ = ["detector_cfg"]


def detector_cfg(cfg: Config | DictConfig, role: str, data: DataSplits) -> CfgNode:
    """detectron2 config of the teacher or the student (model + solver + data) for ``cfg``."""
    model = cfg.pair.teacher if role == "teacher" else cfg.pair.student
    t = cfg.trainer
    d2 = get_detector_cfg(
        model.backbone,
        len(data.classes),
        norm=model.norm,
        min_size=t.min_size,
        max_size=t.max_size,
        rois_per_image=t.rois_per_image,
        # a model's own settings (e.g. a teacher trained elsewhere), else the shared ones
        fpn_channels=fpn_channels_of(cfg, role),
        anchor_sizes=list(model.anchor_sizes or t.anchor_sizes),
        aspect_ratios=list(model.anchor_ratios or t.anchor_ratios),
        weights=model.weights,
        device=t.device,
        test=t.test,  # InferenceSettings, or its DictConfig node
    )
    max_iter = t.teacher_max_iter if role == "teacher" else t.max_iter
    d2.DATASETS.TRAIN = (data.train,)
    d2.DATASETS.TEST = (data.val,)
    d2.DATALOADER.NUM_WORKERS = t.dataloader_workers
    d2.SOLVER.IMS_PER_BATCH = t.ims_per_batch
    d2.SOLVER.BASE_LR = t.base_lr
    d2.SOLVER.MOMENTUM = t.momentum
    d2.SOLVER.WEIGHT_DECAY = t.weight_decay
    d2.SOLVER.MAX_ITER = max_iter
    d2.SOLVER.WARMUP_ITERS = min(t.warmup_iters, max_iter)
    # fvcore wants strictly increasing milestones inside (0, max_iter).
    d2.SOLVER.STEPS = tuple(sorted({int(f * max_iter) for f in t.lr_steps} - {0} - {max_iter}))
    d2.SOLVER.CHECKPOINT_PERIOD = t.checkpoint_period
    d2.SOLVER.AMP.ENABLED = t.amp
    if t.clip_grad > 0:
        d2.SOLVER.CLIP_GRADIENTS.ENABLED = True
        d2.SOLVER.CLIP_GRADIENTS.CLIP_TYPE = "norm"
        d2.SOLVER.CLIP_GRADIENTS.CLIP_VALUE = t.clip_grad
    d2.TEST.EVAL_PERIOD = t.eval_period
    d2.SEED = t.seed
    return d2
