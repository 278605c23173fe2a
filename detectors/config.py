"""detectron2 configs for document-layout Faster R-CNN + FPN teachers and students.

``get_detector_cfg("R50", 5)`` starts from detectron2's packaged ``Base-RCNN-FPN.yaml`` and sets
the backbone, normalisation, image size, RoI sampling and document-shaped anchors; its options are
the fields of :class:`DetectorSpec`. Every model uses
the same RoI pooler (RoIAlignV2, 7x7, p2-p5) and StandardROIHeads, so a teacher and a student can
pool the same boxes. Weights only ever come from local files.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from importlib import resources
from typing import Any

from detectron2.config import CfgNode, get_cfg

from .backbones import add_torchvision_backbone_config

__all__ = [
    "BACKBONES",
    "DetectorSpec",
    "NORMS",
    "INFERENCE_KEYS",
    "InferenceSettings",
    "add_detector_config",
    "apply_inference_settings",
    "inference_settings",
    "default_anchor_sizes",
    "detector_cfg_from_spec",
    "get_detector_cfg",
    "load_detector_cfg",
    "parse_backbone",
]

RESNET_DEPTHS = (18, 34, 50, 101, 152)
BACKBONES = tuple(f"R{d}" for d in RESNET_DEPTHS) + ("MNV2", "EB0")
NORMS = ("FrozenBN", "GN", "BN", "SyncBN")
_TV_BUILDERS = {
    "MNV2": "build_mobilenetv2_fpn_backbone",
    "EB0": "build_efficientnet_b0_fpn_backbone",
}
# BGR, detectron2's default input format, for every model (torchvision trunk weights are adapted
# on load, see detectors.backbones). MSRA (Caffe2) ResNet weights expect std 1.
_PIXEL_MEAN_BGR = [103.530, 116.280, 123.675]
_PIXEL_STD_BGR = [57.375, 57.120, 58.395]
# Document regions are mostly wide and flat (text lines, titles, captions): height/width ratios.
DOC_ASPECT_RATIOS = (0.1, 0.25, 0.5, 1.0, 2.0)
# detectron2's packaged base config (read as a file: detectron2.model_zoo imports pkg_resources).
_BASE_CONFIG = resources.files("detectron2") / "model_zoo" / "configs" / "Base-RCNN-FPN.yaml"


@dataclass
class InferenceSettings:
    """Test-time settings of a Faster R-CNN, with defaults for pages (docs/deployment.md).

    A page has tens of regions, not COCO's hundreds of objects: 300 RPN proposals after NMS keep
    the AP of detectron2's 1000 (measured: demo teacher and a 200-iteration student; 100 keep
    the teacher's AP but cost that student 7 AP) while the RoI heads, which dominate a small
    page's latency, do less than a third of the work. They are written into the detectron2
    config (``INFERENCE_KEYS``), so every saved model carries the settings it was evaluated
    with; predict and export read them there.

    Attributes:
        pre_nms_topk: RPN proposals kept per FPN level before NMS (``MODEL.RPN.PRE_NMS_TOPK_TEST``).
        post_nms_topk: RPN proposals kept per image after NMS, all levels together
            (``MODEL.RPN.POST_NMS_TOPK_TEST``; detectron2's default 1000).
        detections_per_image: detections kept per image (``TEST.DETECTIONS_PER_IMAGE``).
        score_thresh: minimum class score of a detection (``MODEL.ROI_HEADS.SCORE_THRESH_TEST``;
            keep it low for AP, raise it for display).
    """

    pre_nms_topk: int = 1000
    post_nms_topk: int = 300
    detections_per_image: int = 100
    score_thresh: float = 0.05


# InferenceSettings field -> detectron2 config key.
INFERENCE_KEYS: dict[str, str] = {
    "pre_nms_topk": "MODEL.RPN.PRE_NMS_TOPK_TEST",
    "post_nms_topk": "MODEL.RPN.POST_NMS_TOPK_TEST",
    "detections_per_image": "TEST.DETECTIONS_PER_IMAGE",
    "score_thresh": "MODEL.ROI_HEADS.SCORE_THRESH_TEST",
}


def apply_inference_settings(
    cfg: CfgNode, settings: InferenceSettings | Mapping[str, Any]
) -> CfgNode:
    """Write test-time settings into ``cfg`` (in place; a mapping may set only some fields).

    Raises:
        ValueError: naming an unknown setting or an out-of-range value.
    """
    values = asdict(settings) if isinstance(settings, InferenceSettings) else dict(settings)
    unknown = set(values) - set(INFERENCE_KEYS)
    if unknown:
        raise ValueError(
            f"Unknown test settings {sorted(unknown)}; known: {sorted(INFERENCE_KEYS)}."
        )
    for name, value in values.items():
        if name == "score_thresh":
            if not 0.0 <= float(value) < 1.0:
                raise ValueError(f"test score_thresh={value} must be in [0, 1).")
            value = float(value)
        elif int(value) < 1:
            raise ValueError(f"test {name}={value} must be >= 1.")
        else:
            value = int(value)
        node, _, leaf = INFERENCE_KEYS[name].rpartition(".")
        setattr(_node(cfg, node), leaf, value)
    return cfg


def _node(cfg: CfgNode, dotted: str) -> CfgNode:
    for part in dotted.split("."):
        cfg = cfg[part]
    return cfg


def inference_settings(cfg: CfgNode) -> InferenceSettings:
    """The test-time settings recorded in ``cfg``."""
    values = {}
    for name, key in INFERENCE_KEYS.items():
        node, _, leaf = key.rpartition(".")
        values[name] = _node(cfg, node)[leaf]
    return InferenceSettings(**values)


def parse_backbone(backbone: str) -> tuple[str, int | None]:
    """``"R50" -> ("resnet", 50)``, ``"MNV2" -> ("MNV2", None)``; ValueError for anything else."""
    name = backbone.strip().upper()
    match = re.fullmatch(r"R-?(\d+)", name)
    if match:
        depth = int(match.group(1))
        if depth not in RESNET_DEPTHS:
            raise ValueError(
                f"ResNet depth {depth} ({backbone!r}) is not built by detectron2; "
                f"use one of {[f'R{d}' for d in RESNET_DEPTHS]}."
            )
        return "resnet", depth
    if name in _TV_BUILDERS:
        return name, None
    raise ValueError(f"Unknown backbone {backbone!r}; choose from {list(BACKBONES)}.")


def default_anchor_sizes(min_size: int) -> tuple[int, ...]:
    """One anchor size per FPN level p2-p6, scaled to the page size.

    Pages under 800 px (the CPU schedules) use 16..256 px; full-size pages (>= 800 px, the
    paper's setting) detectron2's 32..512. The trainer's defaults (``graphkd.core.config``) are these.
    """
    base = 16 if min_size < 800 else 32
    return tuple(base * 2**i for i in range(5))


def add_detector_config(cfg: CfgNode) -> CfgNode:
    """Add this project's extra keys (idempotent): ``MODEL.TV_BACKBONE.*`` and
    ``MODEL.BACKBONE.ARCH`` (the short backbone name, e.g. "R18"). Returns ``cfg``."""
    add_torchvision_backbone_config(cfg)
    if "ARCH" not in cfg.MODEL.BACKBONE:
        cfg.MODEL.BACKBONE.ARCH = ""
    return cfg


def load_detector_cfg(
    path: str, test: InferenceSettings | Mapping[str, Any] | None = None
) -> CfgNode:
    """Read a config saved with ``cfg.dump()`` (it may contain this project's extra keys).

    The test-time settings are the ones saved with the model; ``test`` overrides some or all.
    """
    cfg = add_detector_config(get_cfg())
    cfg.merge_from_file(path)
    if test:
        apply_inference_settings(cfg, test)
    return cfg


def _check_local(path: str | None, what: str) -> str:
    if not path:
        return ""
    if "://" in path:
        raise ValueError(
            f"{what}={path!r} looks like a URL; GraphKD never downloads weights. Download the file "
            "yourself and pass its local path."
        )
    return str(path)


@dataclass(frozen=True)
class DetectorSpec:
    """What :func:`get_detector_cfg` builds: a document-layout Faster R-CNN + FPN (validated).

    Attributes:
        backbone: "R18", "R34", "R50", "R101", "R152" (detectron2 ResNets; "R<depth>" for any
            depth detectron2 builds), "MNV2" (MobileNetV2) or "EB0" (EfficientNet-B0).
        num_classes: number of foreground classes K (box predictor outputs K + 1 scores).
        norm: "GN" or "BN" (also "SyncBN") to train from scratch; "FrozenBN" for pretrained
            BatchNorm weights (then the FPN and box head use no norm, as in detectron2's zoo).
            A checkpoint must be loaded with the norm it was trained with; FrozenBN from random
            init does not train (its statistics stay at identity).
        min_size: short side of training images (int or tuple for multi-scale training); the
            test size is the largest value.
        max_size: long-side cap; default ``round(max(min_size) * 1333 / 800)``.
        image_size: alias of ``min_size``.
        rois_per_image: RoIs sampled per image by the RoI heads (= RoIs seen by distillation).
        fpn_channels: FPN output channels C (detectron2's 256). The 3x3 FPN output and RPN convs
            on p2 cost most of a CPU step at small page sizes; 128 halves it.
        anchor_sizes: one size per level p2-p6; default :func:`default_anchor_sizes`.
        aspect_ratios: anchor height/width ratios, shared by all levels.
        weights: local detectron2 checkpoint (``.pth``/``.pkl``) for the whole model or an
            MSRA ImageNet ResNet ``.pkl``; stored in ``MODEL.WEIGHTS``, loaded by
            :func:`detectors.build.build_detector`.
        trunk_weights: local torchvision ImageNet state dict for "MNV2"/"EB0" trunks.
        freeze_at: frozen backbone stages; default 2 with "FrozenBN", else 0.
        box_head_convs: 3x3 convs before the two 1024-d FCs of the box head (0 = detectron2's
            standard 2fc head; convs use ``norm``).
        device: ``MODEL.DEVICE``.
        test: test-time settings (:class:`InferenceSettings`; a mapping may set some fields, the
            others keep the page defaults).
        overrides: extra ``{"KEY.PATH": value}`` (or detectron2's flat ``[key, value, ...]``
            list) merged last.

    Raises:
        ValueError: on construction, naming the unsupported value.
    """

    backbone: str
    num_classes: int
    norm: str = "GN"
    min_size: int | Sequence[int] = 512
    max_size: int | None = None
    image_size: int | None = None
    rois_per_image: int = 128
    fpn_channels: int = 256
    anchor_sizes: Sequence[int] | None = None
    aspect_ratios: Sequence[float] = DOC_ASPECT_RATIOS
    weights: str | None = None
    trunk_weights: str | None = None
    freeze_at: int | None = None
    box_head_convs: int = 0
    device: str = "cpu"
    test: InferenceSettings | Mapping[str, Any] | None = None
    overrides: Mapping[str, Any] | Sequence[Any] | None = None

    def __post_init__(self) -> None:
        kind, _ = parse_backbone(self.backbone)
        if self.norm not in NORMS:
            raise ValueError(f"norm={self.norm!r} is not supported; choose from {list(NORMS)}.")
        if int(self.num_classes) < 1:
            raise ValueError(f"num_classes must be >= 1, got {self.num_classes}.")
        if int(self.fpn_channels) < 1:
            raise ValueError(f"fpn_channels must be >= 1, got {self.fpn_channels}.")
        if self.norm == "GN" and int(self.fpn_channels) % 32:
            # detectron2's "GN" is GroupNorm(32, C) in the FPN.
            raise ValueError(
                f"fpn_channels={self.fpn_channels} must be a multiple of 32 with norm='GN'."
            )
        if self.rois_per_image < 1:
            raise ValueError(f"rois_per_image must be >= 1, got {self.rois_per_image}.")
        _check_local(self.weights, "weights")
        if _check_local(self.trunk_weights, "trunk_weights") and kind == "resnet":
            raise ValueError(
                "trunk_weights is for the torchvision trunks (MNV2, EB0); pass ImageNet ResNet "
                "weights (.pkl) as weights= instead."
            )
        if len(self.resolved_anchor_sizes) != 5:
            raise ValueError(
                f"anchor_sizes needs one size per level p2-p6 (5), got {self.anchor_sizes}."
            )

    @property
    def train_sizes(self) -> tuple[int, ...]:
        """Short sides of training images (``image_size`` wins over ``min_size``)."""
        size = self.min_size if self.image_size is None else self.image_size
        return (size,) if isinstance(size, int) else tuple(int(s) for s in size)

    @property
    def resolved_max_size(self) -> int:
        if self.max_size is None:
            return round(max(self.train_sizes) * 1333 / 800)
        return int(self.max_size)

    @property
    def resolved_anchor_sizes(self) -> Sequence[int]:
        if self.anchor_sizes is None:
            return default_anchor_sizes(min(self.train_sizes))
        return self.anchor_sizes

    @property
    def neck_norm(self) -> str:
        """Norm of the FPN and the box head: none with "FrozenBN" (detectron2's zoo)."""
        return "" if self.norm == "FrozenBN" else self.norm


def get_detector_cfg(backbone: str, num_classes: int, **options: Any) -> CfgNode:
    """Faster R-CNN + FPN config for a document-layout detector.

    Args:
        backbone: "R18", ..., "R152", "MNV2" or "EB0" (:class:`DetectorSpec`).
        num_classes: number of foreground classes K.
        **options: the other :class:`DetectorSpec` fields by keyword (``norm``, ``min_size``,
            ``max_size``, ``image_size``, ``rois_per_image``, ``fpn_channels``,
            ``anchor_sizes``, ``aspect_ratios``, ``weights``, ``trunk_weights``, ``freeze_at``,
            ``box_head_convs``, ``device``, ``test``, ``overrides``).

    Returns:
        A detectron2 CfgNode (with :func:`add_detector_config` keys).

    Raises:
        ValueError: an unsupported value; TypeError: an unknown option.
    """
    return detector_cfg_from_spec(DetectorSpec(backbone, num_classes, **options))


def detector_cfg_from_spec(spec: DetectorSpec) -> CfgNode:
    """The detectron2 config of ``spec``: detectron2's ``Base-RCNN-FPN.yaml``, then one
    section at a time, the test-time settings and the overrides last."""
    cfg = add_detector_config(get_cfg())
    cfg.merge_from_file(str(_BASE_CONFIG))
    _set_model(cfg, spec)
    _set_backbone(cfg, spec)
    cfg.MODEL.ANCHOR_GENERATOR.SIZES = [[int(s)] for s in spec.resolved_anchor_sizes]
    cfg.MODEL.ANCHOR_GENERATOR.ASPECT_RATIOS = [[float(r) for r in spec.aspect_ratios]]
    _set_roi_heads(cfg, spec)
    _set_input_sizes(cfg, spec)
    apply_inference_settings(cfg, InferenceSettings())
    if spec.test:
        apply_inference_settings(cfg, spec.test)
    if spec.overrides:
        if isinstance(spec.overrides, Mapping):
            flat: list[Any] = [x for kv in spec.overrides.items() for x in kv]
        else:
            flat = list(spec.overrides)
        cfg.merge_from_list(flat)
    return cfg


def _set_model(cfg: CfgNode, spec: DetectorSpec) -> None:
    """Device, weights, frozen stages and pixel normalisation (``MODEL.*``, ``INPUT.FORMAT``)."""
    kind, _ = parse_backbone(spec.backbone)
    freeze_at = spec.freeze_at
    if freeze_at is None:
        freeze_at = 2 if spec.norm == "FrozenBN" else 0
    cfg.MODEL.DEVICE = spec.device
    cfg.MODEL.WEIGHTS = _check_local(spec.weights, "weights")
    cfg.MODEL.MASK_ON = False
    cfg.MODEL.BACKBONE.ARCH = spec.backbone.strip().upper()
    cfg.MODEL.BACKBONE.FREEZE_AT = int(freeze_at)
    cfg.INPUT.FORMAT = "BGR"
    cfg.MODEL.PIXEL_MEAN = list(_PIXEL_MEAN_BGR)
    # MSRA ResNet weights were trained on [0, 255] pixels (std 1); everything else uses std.
    use_caffe_std = kind == "resnet" and spec.norm == "FrozenBN"
    cfg.MODEL.PIXEL_STD = [1.0, 1.0, 1.0] if use_caffe_std else list(_PIXEL_STD_BGR)


def _set_backbone(cfg: CfgNode, spec: DetectorSpec) -> None:
    """The trunk (detectron2 ResNet or torchvision trunk) and the FPN on it."""
    kind, depth = parse_backbone(spec.backbone)
    if kind == "resnet":
        cfg.MODEL.BACKBONE.NAME = "build_resnet_fpn_backbone"
        cfg.MODEL.RESNETS.DEPTH = depth
        cfg.MODEL.RESNETS.NORM = spec.norm
        cfg.MODEL.RESNETS.RES2_OUT_CHANNELS = 64 if depth in (18, 34) else 256
        # Caffe2-style stride in the 1x1 conv matches MSRA weights; torchvision style otherwise.
        cfg.MODEL.RESNETS.STRIDE_IN_1X1 = spec.norm == "FrozenBN"
    else:
        cfg.MODEL.BACKBONE.NAME = _TV_BUILDERS[kind]
        cfg.MODEL.TV_BACKBONE.NORM = spec.norm
        cfg.MODEL.TV_BACKBONE.WEIGHTS = _check_local(spec.trunk_weights, "trunk_weights")
    cfg.MODEL.FPN.NORM = spec.neck_norm
    cfg.MODEL.FPN.OUT_CHANNELS = int(spec.fpn_channels)


def _set_roi_heads(cfg: CfgNode, spec: DetectorSpec) -> None:
    """StandardROIHeads with the shared pooler (RoIAlignV2, 7x7, p2-p5) and the box head."""
    cfg.MODEL.ROI_HEADS.NAME = "StandardROIHeads"
    cfg.MODEL.ROI_HEADS.NUM_CLASSES = int(spec.num_classes)
    cfg.MODEL.ROI_HEADS.BATCH_SIZE_PER_IMAGE = int(spec.rois_per_image)
    cfg.MODEL.ROI_HEADS.IN_FEATURES = ["p2", "p3", "p4", "p5"]
    cfg.MODEL.ROI_BOX_HEAD.NAME = "FastRCNNConvFCHead"
    cfg.MODEL.ROI_BOX_HEAD.POOLER_TYPE = "ROIAlignV2"
    cfg.MODEL.ROI_BOX_HEAD.POOLER_RESOLUTION = 7
    cfg.MODEL.ROI_BOX_HEAD.POOLER_SAMPLING_RATIO = 0
    cfg.MODEL.ROI_BOX_HEAD.NUM_CONV = int(spec.box_head_convs)
    cfg.MODEL.ROI_BOX_HEAD.NUM_FC = 2
    cfg.MODEL.ROI_BOX_HEAD.NORM = spec.neck_norm


def _set_input_sizes(cfg: CfgNode, spec: DetectorSpec) -> None:
    """Train / test image sizes; no flips."""
    sizes = spec.train_sizes
    cfg.INPUT.MIN_SIZE_TRAIN = sizes
    cfg.INPUT.MIN_SIZE_TEST = max(sizes)
    cfg.INPUT.MAX_SIZE_TRAIN = spec.resolved_max_size
    cfg.INPUT.MAX_SIZE_TEST = spec.resolved_max_size
    # Mirrored pages are not documents (mirrored glyphs, reversed reading order).
    cfg.INPUT.RANDOM_FLIP = "none"
