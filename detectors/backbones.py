"""torchvision trunks (MobileNetV2, EfficientNet-B0) as detectron2 backbones under detectron2's FPN.

The trunks are torchvision's own model definitions (built with ``weights=None``, so nothing is
downloaded), cut into four stages with strides 4, 8, 16, 32 named ``res2`` .. ``res5`` like
detectron2's ResNet, so detectron2's stock :class:`FPN` (256 channels, p2-p6 with
:class:`LastLevelMaxPool`) and every ResNet-FPN config key apply unchanged.

Config keys (added by :func:`add_torchvision_backbone_config`):

- ``MODEL.TV_BACKBONE.NORM``: "FrozenBN" | "BN" | "SyncBN" | "GN" for the trunk.
- ``MODEL.TV_BACKBONE.WEIGHTS``: optional local torchvision state-dict file (``.pth``) of the full
  ImageNet classifier (``features.*`` keys are used, the classifier is ignored).
- ``MODEL.TV_BACKBONE.STOCHASTIC_DEPTH``: EfficientNet's stochastic-depth probability.
- ``MODEL.BACKBONE.FREEZE_AT``: 1 freezes the stem, k >= 2 also ``res2`` .. ``res<k>``.

Images are fed in detectron2's default BGR order; when ImageNet trunk weights are loaded the stem
convolution's input channels are reversed once, so the RGB-trained filters see the right colours.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

import torch
from detectron2.config import CfgNode
from detectron2.layers import FrozenBatchNorm2d, ShapeSpec
from detectron2.modeling import BACKBONE_REGISTRY, Backbone
from detectron2.modeling.backbone.fpn import FPN, LastLevelMaxPool
from torch import nn
from torchvision.models import efficientnet_b0, mobilenet_v2

__all__ = [
    "TorchvisionTrunk",
    "add_torchvision_backbone_config",
    "build_efficientnet_b0_fpn_backbone",
    "build_mobilenetv2_fpn_backbone",
    "group_norm",
    "TRUNK_SPECS",
]

# Per architecture: index of the first torchvision `features` block of res2..res5 and the end
# (exclusive) of res5. The 1x1 "last conv" to 1280 channels (ImageNet head) is dropped.
TRUNK_SPECS: dict[str, dict] = {
    "mobilenet_v2": {"starts": (0, 4, 7, 14), "end": 18, "channels": (24, 32, 96, 320)},
    "efficientnet_b0": {"starts": (0, 3, 4, 6), "end": 8, "channels": (24, 40, 112, 320)},
}
_STRIDES = (4, 8, 16, 32)
_NAMES = ("res2", "res3", "res4", "res5")


def add_torchvision_backbone_config(cfg: CfgNode) -> CfgNode:
    """Add the ``MODEL.TV_BACKBONE`` keys (idempotent). Returns ``cfg``."""
    if "TV_BACKBONE" not in cfg.MODEL:
        cfg.MODEL.TV_BACKBONE = CfgNode()
        cfg.MODEL.TV_BACKBONE.NORM = "GN"
        cfg.MODEL.TV_BACKBONE.WEIGHTS = ""
        cfg.MODEL.TV_BACKBONE.STOCHASTIC_DEPTH = 0.2
    return cfg


def group_norm(num_channels: int, max_groups: int = 32, min_group_size: int = 8) -> nn.GroupNorm:
    """GroupNorm for the odd channel counts of mobile trunks (16, 24, 40, 112, ...).

    detectron2's ``get_norm("GN", C)`` needs C % 32 == 0. Here: the largest number of groups
    <= ``max_groups`` that divides C and leaves at least ``min_group_size`` channels per group.
    """
    limit = max(1, min(max_groups, num_channels // min_group_size))
    groups = max(g for g in range(1, limit + 1) if num_channels % g == 0)
    return nn.GroupNorm(groups, num_channels)


def _norm_layer(norm: str) -> Callable[[int], nn.Module]:
    # FrozenBN is built as BatchNorm2d and converted after the weights are loaded, so that
    # torchvision state dicts (with running stats) load without key juggling.
    if norm in ("BN", "FrozenBN"):
        return nn.BatchNorm2d
    if norm == "SyncBN":
        return nn.SyncBatchNorm
    if norm == "GN":
        return group_norm
    raise ValueError(
        f"MODEL.TV_BACKBONE.NORM={norm!r} is not supported; use 'FrozenBN', 'BN', 'SyncBN' or 'GN'."
    )


class TorchvisionTrunk(Backbone):
    """A torchvision ``features`` trunk cut into res2..res5 (strides 4, 8, 16, 32).

    ``forward(x: (B, 3, H, W)) -> {"res2": (B, C2, H/4, W/4), ..., "res5": (B, C5, H/32, W/32)}``
    (only the names in ``out_features``). ``self.features`` keeps torchvision's module names, so
    ``features.*`` keys of a torchvision state dict load as they are.
    """

    def __init__(
        self,
        arch: str,
        *,
        norm: str = "GN",
        weights: str = "",
        out_features: Sequence[str] = _NAMES,
        freeze_at: int = 0,
        stochastic_depth: float = 0.2,
    ):
        super().__init__()
        if arch not in TRUNK_SPECS:
            raise ValueError(
                f"Unknown torchvision trunk {arch!r}; choose from {list(TRUNK_SPECS)}."
            )
        if weights and norm == "GN":
            raise ValueError(
                f"Trunk weights {weights!r} were trained with BatchNorm and cannot initialise a "
                "GroupNorm trunk; use norm='FrozenBN' (or 'BN') with pretrained trunks."
            )
        spec = TRUNK_SPECS[arch]
        kwargs = {"weights": None, "norm_layer": _norm_layer(norm)}
        if arch == "efficientnet_b0":
            kwargs["stochastic_depth_prob"] = stochastic_depth
        full = {"mobilenet_v2": mobilenet_v2, "efficientnet_b0": efficientnet_b0}[arch](**kwargs)
        self.arch = arch
        self.features = full.features[: spec["end"]]
        del full
        if weights:
            self.load_torchvision_weights(weights)
        if norm == "FrozenBN":
            self.features = FrozenBatchNorm2d.convert_frozen_batchnorm(self.features)

        unknown = set(out_features) - set(_NAMES)
        if unknown:
            raise ValueError(f"Unknown trunk out_features {sorted(unknown)}; use {list(_NAMES)}.")
        # Block index after which each stage ends, e.g. MobileNetV2 res2 = features[0:4].
        ends = list(spec["starts"][1:]) + [spec["end"]]
        self._stage_end = {name: end - 1 for name, end in zip(_NAMES, ends)}
        self._stage_start = dict(zip(_NAMES, spec["starts"]))
        self._out_features = [n for n in _NAMES if n in out_features]
        self._out_feature_strides = {n: s for n, s in zip(_NAMES, _STRIDES)}
        self._out_feature_channels = {n: c for n, c in zip(_NAMES, spec["channels"])}
        self._last = max(self._stage_end[n] for n in self._out_features)
        self.freeze(freeze_at)

    def load_torchvision_weights(self, path: str) -> None:
        """Load ``features.*`` from a local torchvision ImageNet state dict (no download)."""
        if "://" in path:
            raise ValueError(f"Trunk weights must be a local file, not a URL: {path!r}.")
        if not os.path.isfile(path):
            raise FileNotFoundError(
                f"Trunk weights file {path!r} does not exist. Save torchvision's "
                f"`{self.arch}` ImageNet state dict there (torch.save(model.state_dict(), path)) "
                "or leave MODEL.TV_BACKBONE.WEIGHTS empty to train from scratch."
            )
        state = torch.load(path, map_location="cpu")
        state = state.get("state_dict", state.get("model", state))
        own = self.state_dict()
        trunk = {k: v for k, v in state.items() if k in own}
        missing = [k for k in own if k not in trunk and not k.endswith("num_batches_tracked")]
        if missing:
            raise ValueError(
                f"{path!r} is not a torchvision {self.arch} state dict: {len(missing)} trunk keys "
                f"are missing, e.g. {missing[:3]}."
            )
        # The detector reads BGR images; torchvision weights expect RGB.
        stem = "features.0.0.weight"
        trunk[stem] = trunk[stem].flip(1)
        self.load_state_dict(trunk, strict=False)

    def freeze(self, freeze_at: int = 0) -> TorchvisionTrunk:
        """Freeze the stem (freeze_at >= 1) and stages res2..res<freeze_at> (detectron2 style)."""
        if freeze_at <= 0:
            return self
        last_frozen = 0 if freeze_at == 1 else self._stage_end[_NAMES[min(freeze_at, 5) - 2]]
        for block in self.features[: last_frozen + 1]:
            block.requires_grad_(False)
            FrozenBatchNorm2d.convert_frozen_batchnorm(block)
        return self

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        outputs = {}
        ends = {self._stage_end[n]: n for n in self._out_features}
        for idx, block in enumerate(self.features[: self._last + 1]):
            x = block(x)
            if idx in ends:
                outputs[ends[idx]] = x
        return outputs

    def output_shape(self) -> dict[str, ShapeSpec]:
        return {
            n: ShapeSpec(
                channels=self._out_feature_channels[n], stride=self._out_feature_strides[n]
            )
            for n in self._out_features
        }


def _build_trunk_fpn(arch: str, cfg: CfgNode, input_shape: ShapeSpec) -> FPN:
    if input_shape.channels != 3:
        raise ValueError(f"{arch} expects 3 input channels, got {input_shape.channels}.")
    add_torchvision_backbone_config(cfg)
    bottom_up = TorchvisionTrunk(
        arch,
        norm=cfg.MODEL.TV_BACKBONE.NORM,
        weights=cfg.MODEL.TV_BACKBONE.WEIGHTS,
        out_features=cfg.MODEL.FPN.IN_FEATURES,
        freeze_at=cfg.MODEL.BACKBONE.FREEZE_AT,
        stochastic_depth=cfg.MODEL.TV_BACKBONE.STOCHASTIC_DEPTH,
    )
    return FPN(
        bottom_up=bottom_up,
        in_features=cfg.MODEL.FPN.IN_FEATURES,
        out_channels=cfg.MODEL.FPN.OUT_CHANNELS,
        norm=cfg.MODEL.FPN.NORM,
        top_block=LastLevelMaxPool(),
        fuse_type=cfg.MODEL.FPN.FUSE_TYPE,
    )


@BACKBONE_REGISTRY.register()
def build_mobilenetv2_fpn_backbone(cfg: CfgNode, input_shape: ShapeSpec) -> FPN:
    """MobileNetV2 (torchvision) + detectron2 FPN: p2-p6, ``MODEL.FPN.OUT_CHANNELS`` channels."""
    return _build_trunk_fpn("mobilenet_v2", cfg, input_shape)


@BACKBONE_REGISTRY.register()
def build_efficientnet_b0_fpn_backbone(cfg: CfgNode, input_shape: ShapeSpec) -> FPN:
    """EfficientNet-B0 (torchvision) + detectron2 FPN: p2-p6, ``MODEL.FPN.OUT_CHANNELS`` channels."""
    return _build_trunk_fpn("efficientnet_b0", cfg, input_shape)
