"""Build detectors from configs, load local checkpoints with clear errors, count and freeze."""

from __future__ import annotations

import logging
import os
import pickle
from collections.abc import Mapping

import torch
from detectron2.checkpoint import DetectionCheckpointer
from detectron2.config import CfgNode
from detectron2.modeling import GeneralizedRCNN, build_model
from torch import nn

from . import backbones as _backbones  # noqa: F401  (registers the torchvision backbones)

__all__ = ["build_detector", "count_parameters", "freeze", "load_checkpoint"]

logger = logging.getLogger(__name__)

_CLS_SCORE = "roi_heads.box_predictor.cls_score.weight"
_BBOX_PRED = "roi_heads.box_predictor.bbox_pred.weight"
# Keys a checkpoint may lack or carry without meaning another architecture.
_IGNORED = ("pixel_mean", "pixel_std", "anchor_generator.cell_anchors", "num_batches_tracked")
_DEFAULT_HINT = (
    "Train it first (e.g. `python scripts/train_teacher.py dataset=<dataset> pair=<pair>`) or "
    "point the config's weights / checkpoint path at an existing file."
)


def build_detector(cfg: CfgNode) -> GeneralizedRCNN:
    """``detectron2.modeling.build_model(cfg)``, then load ``cfg.MODEL.WEIGHTS`` if set.

    The model is in training mode on ``cfg.MODEL.DEVICE``. Never downloads anything.
    """
    model = build_model(cfg)
    if cfg.MODEL.WEIGHTS:
        load_checkpoint(model, cfg.MODEL.WEIGHTS, cfg)
    return model


def _read_state_dict(path: str) -> tuple[Mapping[str, object] | None, str]:
    """The checkpoint's state dict with detectron2 key names, or None for Caffe2-named files
    (MSRA ``.pkl``), whose names only detectron2's matching heuristics can map. Also a format tag.
    """
    if path.endswith(".pkl"):
        with open(path, "rb") as f:
            data = pickle.load(f, encoding="latin1")
        if isinstance(data, dict) and "model" in data and "__author__" in data:
            return data["model"], "detectron2 .pkl"
        return None, "Caffe2 .pkl"
    data = torch.load(path, map_location="cpu")
    if not isinstance(data, Mapping):
        raise ValueError(f"{path!r} does not contain a state dict (found {type(data).__name__}).")
    state = data.get("model", data)
    return {k.removeprefix("module."): v for k, v in state.items()}, "torch"


def _describe(model: nn.Module, cfg: CfgNode | None) -> str:
    arch = ""
    if cfg is not None:
        arch = cfg.MODEL.BACKBONE.get("ARCH", "") or cfg.MODEL.BACKBONE.NAME
    return f"{arch or type(model).__name__} model"


def load_checkpoint(
    model: nn.Module,
    path: str,
    cfg: CfgNode | None = None,
    *,
    tolerance: float = 0.01,
    allow_partial: bool = False,
    hint: str | None = None,
) -> dict:
    """Load a local checkpoint into ``model`` with detectron2's :class:`DetectionCheckpointer`.

    Checked first, each with an error naming the file:

    - the file exists (``FileNotFoundError`` saying how to produce it, ``hint`` overrides);
    - its box predictor has the model's number of classes (``ValueError`` with both counts);
    - its keys/shapes describe this architecture: more than ``tolerance`` (fraction of the
      model's keys) missing, unexpected or mis-shaped keys raise ``ValueError`` with examples.
      ``allow_partial=True`` skips this (e.g. a backbone-only initialisation).

    Caffe2/MSRA ``.pkl`` files (backbone ImageNet weights) use detectron2's name heuristics and
    skip the key check.

    Returns:
        The checkpoint's extra entries (e.g. ``iteration``), as ``DetectionCheckpointer.load``.
    """
    path = os.fspath(path)
    if "://" in path:
        raise ValueError(f"Checkpoint {path!r} is a URL; GraphKD only loads local files.")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Checkpoint file {path!r} does not exist. {hint or _DEFAULT_HINT}")
    state, fmt = _read_state_dict(path)
    what = _describe(model, cfg)
    if state is not None:
        model_state = model.state_dict()
        masks = _mask_head_keys(state, model_state)
        if masks:
            # A Mask R-CNN: its backbone, RPN and box head are a Faster R-CNN's. The checkpointer
            # below then lists the mask-head keys as unused, and loads the rest.
            logger.warning(
                "%s is a Mask R-CNN checkpoint: its mask head (%d tensors, roi_heads.mask_head.*) "
                "is ignored; the box detector is loaded.",
                path,
                len(masks),
            )
            state = {k: v for k, v in state.items() if k not in masks}
        _check_num_classes(path, state, model_state, what)
        if not allow_partial:
            _check_architecture(path, state, model_state, what, tolerance)
    else:
        logger.info("%s is a %s; using detectron2's name-matching heuristics.", path, fmt)
    return DetectionCheckpointer(model).load(path)


_MASK_HEAD = "roi_heads.mask_head."


def _mask_head_keys(state: Mapping, model_state: Mapping) -> set[str]:
    """Mask-head keys of a Mask R-CNN checkpoint loaded into a model without a mask head."""
    if any(k.startswith(_MASK_HEAD) for k in model_state):
        return set()
    return {k for k in state if k.startswith(_MASK_HEAD)}


def _check_num_classes(path: str, state: Mapping, model_state: Mapping, what: str) -> None:
    if _CLS_SCORE not in state or _CLS_SCORE not in model_state:
        return
    found = tuple(state[_CLS_SCORE].shape)
    expected = tuple(model_state[_CLS_SCORE].shape)
    if found[0] != expected[0]:
        raise ValueError(
            f"Checkpoint {path!r} was trained for {found[0] - 1} classes, but the {what} expects "
            f"{expected[0] - 1} (box predictor cls_score {found} vs {expected}). Use the dataset "
            "the checkpoint was trained on, or a checkpoint trained on this dataset."
        )


def _check_architecture(
    path: str, state: Mapping, model_state: Mapping, what: str, tolerance: float
) -> None:
    def kept(keys):
        return [k for k in keys if not any(s in k for s in _IGNORED)]

    missing = kept(k for k in model_state if k not in state)
    unexpected = kept(k for k in state if k not in model_state)
    shapes = [
        f"{k}: {tuple(state[k].shape)} vs {tuple(v.shape)}"
        for k, v in model_state.items()
        if k in state and hasattr(state[k], "shape") and tuple(state[k].shape) != tuple(v.shape)
    ]
    bad = len(missing) + len(unexpected) + len(shapes)
    if bad > tolerance * max(len(kept(model_state)), 1):
        parts = []
        if missing:
            parts.append(f"{len(missing)} model keys missing from the file, e.g. {missing[:3]}")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected keys in the file, e.g. {unexpected[:3]}")
        if shapes:
            parts.append(f"{len(shapes)} shape mismatches (file vs model), e.g. {shapes[:3]}")
        raise ValueError(
            f"Checkpoint {path!r} does not match the {what}'s architecture: "
            + "; ".join(parts)
            + ". Check the backbone, norm (GN/BN/FrozenBN) and FPN width (MODEL.FPN.OUT_CHANNELS) "
            "the checkpoint was trained with."
        )
    if bad:
        logger.warning(
            "%s: %d missing / %d unexpected / %d mis-shaped keys (within tolerance): %s",
            path,
            len(missing),
            len(unexpected),
            len(shapes),
            (missing + unexpected + shapes)[:5],
        )


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters (FrozenBN statistics are buffers and are not counted)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def freeze(model: nn.Module) -> nn.Module:
    """Make ``model`` a teacher: eval mode, no parameter requires grad. Returns ``model``."""
    model.eval()
    model.requires_grad_(False)
    return model
