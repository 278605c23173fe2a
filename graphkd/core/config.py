"""Structured (dataclass) schema of the Hydra configs in ``configs/``.

The root schema types every group, so a misspelt key in a YAML file or on the command line fails
when Hydra composes the config, before any model is built.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from omegaconf import MISSING, DictConfig, OmegaConf

from detectors.config import DOC_ASPECT_RATIOS, InferenceSettings, default_anchor_sizes
from graph.config import GraphConfig

from graphkd.core.losses import KD_TERMS, KDLossConfig
from graphkd.core.methods import check_method, method_uses


@dataclass
class DatasetConfig:
    """A COCO-format layout dataset.

    Known names (``detectors.datasets.DATASETS``: publaynet, doclaynet, prima, hj, docbank,
    docbank_labels, synthetic) bring their classes and on-disk layout; set the paths and classes only for your own data
    (``dataset=custom``). Paths are relative to ``root`` unless absolute.
    """

    name: str = MISSING
    # Datasets root; empty = $DETECTRON2_DATASETS, else ./datasets
    root: str = ""
    classes: list[str] | None = None
    text_classes: list[str] | None = None
    train_json: str | None = None
    train_images: str | None = None
    val_json: str | None = None
    val_images: str | None = None
    # Images decoded and checked against the json's size when it is loaded: an int sample size
    # or "all". The data loaders check every image they read in any case.
    check_images: Any = 8
    # A missing, undecodable (e.g. truncated) or wrongly sized image: "error" (naming the file)
    # or "skip" (every image is then checked on load; bad ones are left out with a warning).
    bad_images: str = "error"
    # Only for `synthetic`: pages rendered on first use under root/synthetic and reused after.
    # style: realistic (real words, LaTeX fonts, paper-like floats; under root/synthetic_realistic)
    # or classic (the original glyph-run pages, bit-identical; under root/synthetic).
    style: str = "classic"
    num_train: int = 96
    num_val: int = 32
    page_size: int = 320
    data_seed: int = 0


@dataclass
class ModelConfig:
    """One detector: backbone name (R18/R34/R50/R101/R152/MNV2/EB0) and how it is initialised."""

    backbone: str = MISSING
    # FrozenBN for pretrained weights; GN (or BN) when training from scratch.
    norm: str = "GN"
    # Local .pth/.pkl file with initial weights (never a URL). None = random init.
    weights: str | None = None
    # This model's own FPN width and anchors, for a model trained elsewhere (e.g. a stock
    # detectron2 / layoutparser Faster R-CNN R50-FPN teacher: 256 channels, anchors 32..512,
    # ratios 0.5, 1, 2). None = the trainer's value, shared by teacher and student.
    fpn_channels: int | None = None
    anchor_sizes: list[int] | None = None
    anchor_ratios: list[float] | None = None


@dataclass
class PairConfig:
    name: str = MISSING
    teacher: ModelConfig = field(default_factory=ModelConfig)
    student: ModelConfig = field(default_factory=ModelConfig)


def _loss_of_method() -> KDLossConfig:
    """``kd.loss`` whose term switches follow ``kd.method`` (``METHOD_TERMS``) unless set.

    The switches hold ``${kd_term:<method>,<term>}`` interpolations (resolved by
    :func:`graphkd.core.methods.method_uses`), like the trainer's ``anchor_sizes``.
    """
    return KDLossConfig(**{t: f"${{kd_term:${{..method}},{t}}}" for t in KD_TERMS})


@dataclass
class KDConfig:
    """Which distillation method, its loss terms (:class:`KDLossConfig`) and its graphs
    (:class:`graph.GraphConfig`, the builder's own options and defaults).

    Both dataclasses' defaults are ``kd=graphkd``'s; the loss term switches default to what
    ``method`` uses (:data:`graphkd.core.methods.METHOD_TERMS`).
    """

    name: str = MISSING
    method: str = MISSING  # one of graphkd.core.methods.METHODS
    # KD terms start after this many iterations (lets the running statistics warm up).
    start_iter: int = 0
    loss: KDLossConfig = field(default_factory=_loss_of_method)
    graph: GraphConfig = field(default_factory=GraphConfig)

    def __post_init__(self) -> None:
        if self.method != MISSING:
            check_method(self.method)


@dataclass
class TrainerConfig:
    device: str = "cpu"
    # Processes: num_gpus per machine on GPU; num_workers_cpu gloo processes on CPU.
    num_gpus: int = 0
    num_workers_cpu: int = 1
    num_machines: int = 1
    machine_rank: int = 0
    dist_url: str = "auto"
    ims_per_batch: int = 4
    base_lr: float = 0.02
    momentum: float = 0.9
    weight_decay: float = 1e-4
    max_iter: int = 300
    teacher_max_iter: int = 600
    warmup_iters: int = 50
    # LR drops (x0.1) at these fractions of max_iter.
    lr_steps: list[float] = field(default_factory=lambda: [0.75, 0.9])
    min_size: int = 320
    max_size: int = 320
    rois_per_image: int = 128
    # FPN width of teacher and student (detectron2: 256); the graph nodes' feature channels.
    fpn_channels: int = 256
    # Anchors of both models; defaults from detectors.config for the page size (one source):
    # default_anchor_sizes(min_size) and DOC_ASPECT_RATIOS.
    anchor_sizes: list[int] = "${anchor_sizes:${.min_size}}"  # type: ignore[assignment]
    anchor_ratios: list[float] = field(default_factory=lambda: list(DOC_ASPECT_RATIOS))
    checkpoint_period: int = 100
    eval_period: int = 0
    log_period: int = 20
    dataloader_workers: int = 0
    seed: int = 0
    resume: bool = False
    amp: bool = False
    clip_grad: float = 0.0
    # Test-time settings (RPN proposals before / after NMS, detections per image, score
    # threshold): saved in the models' detectron2 configs, so evaluation, predict and export
    # use them. They do not change training.
    test: InferenceSettings = field(default_factory=InferenceSettings)


@dataclass
class Config:
    dataset: DatasetConfig = MISSING
    pair: PairConfig = MISSING
    kd: KDConfig = MISSING
    trainer: TrainerConfig = MISSING
    outputs: str = "outputs"
    # Where train_teacher.py writes the teacher and distill.py reads it.
    teacher_checkpoint: str = "${outputs}/teachers/${data_tag:${dataset.name},${dataset.style}}_${pair.teacher.backbone}_${trainer.min_size}px_fpn${trainer.fpn_channels}/model_final.pth"
    # Filled at run time: Hydra's job directory and the command-line overrides.
    run_dir: str = ""
    overrides: list[str] = field(default_factory=list)


def _anchor_sizes(min_size: int) -> list[int]:
    return list(default_anchor_sizes(int(min_size)))


# ``${anchor_sizes:<min_size>}`` in the schema: the trainer's anchor defaults are detectors'.
if not OmegaConf.has_resolver("anchor_sizes"):
    OmegaConf.register_new_resolver("anchor_sizes", _anchor_sizes)


def data_tag(name: str, style: str = "classic") -> str:
    """The dataset's part of the teacher's folder name: ``synthetic`` for the classic synthetic
    pages (the folder the README's runs used), ``synthetic-realistic`` for the realistic ones,
    the dataset name for every other dataset (where ``style`` means nothing)."""
    return f"{name}-{style}" if name == "synthetic" and style != "classic" else name


# Train pages of each synthetic style when dataset.num_train is not set: the classic style keeps
# the 96 pages of the README's GraphKD-vs-DSIG runs; realistic pages are more varied and cheap to
# make (480 pages: +1.5 DocBank AP over 96 for the demo's teacher, see the README).
SYNTHETIC_TRAIN_PAGES = {"classic": 96, "realistic": 480}


def synthetic_train_pages(style: str) -> int:
    return SYNTHETIC_TRAIN_PAGES.get(style, 96)


if not OmegaConf.has_resolver("kd_term"):
    OmegaConf.register_new_resolver("kd_term", method_uses)
if not OmegaConf.has_resolver("data_tag"):
    OmegaConf.register_new_resolver("data_tag", data_tag)
if not OmegaConf.has_resolver("synthetic_train_pages"):
    OmegaConf.register_new_resolver("synthetic_train_pages", synthetic_train_pages)


def to_config(cfg: DictConfig | dict) -> Config:
    """The :class:`Config` dataclass tree of a resolved config (e.g. the dict passed to worker
    processes), validated against the schema: the one conversion before the core builds models.

    Raises:
        ValueError: an unsupported option value (e.g. ``kd.method``, ``kd.graph.shrinkage``).
        omegaconf.errors.ValidationError: an unknown key or a value of the wrong type.
    """
    return OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(Config), cfg))
