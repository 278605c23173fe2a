"""Structured (dataclass) schema of the Hydra configs in ``configs/``.

The root schema types every group, so a misspelt key in a YAML file or on the command line fails
when Hydra composes the config, before any model is built.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
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
    docbank_labels, synthetic) bring their classes and on-disk layout; set the paths and classes
    only for your own data (``dataset=custom``). Paths are relative to ``root`` unless absolute.
    """

    # Registered dataset name; a known name brings its classes and layout.
    name: str = MISSING
    # Datasets root; empty = $DETECTRON2_DATASETS, else ./datasets
    root: str = ""
    # Class names in id order (null: the known dataset's, or the json's).
    classes: list[str] | None = None
    # Classes that are text nodes of the graph (the rest non-text).
    text_classes: list[str] | None = None
    train_json: str | None = None  # COCO json of the training split (relative to root).
    train_images: str | None = None  # Image folder of the training split.
    val_json: str | None = None  # COCO json of the evaluation split.
    val_images: str | None = None  # Image folder of the evaluation split.
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
    num_train: int = 96  # Synthetic pages in the training split.
    num_val: int = 32  # Synthetic pages in the val split.
    page_size: int = 320  # Synthetic page height in pixels.
    # Seed of the synthetic page generator (page i is the same for any count).
    data_seed: int = 0


@dataclass
class ModelConfig:
    """One detector: backbone name (R18/R34/R50/R101/R152/MNV2/EB0) and how it is initialised."""

    # R18, R34, R50, R101, R152, MNV2 (MobileNetV2) or EB0 (EfficientNet-B0).
    backbone: str = MISSING
    # FrozenBN for pretrained weights; GN (or BN) when training from scratch.
    norm: str = "GN"
    # Local .pth/.pkl file with initial weights (never a URL). None = random init.
    weights: str | None = None
    # This model's own FPN width and anchors, for a model trained elsewhere (e.g. a stock
    # detectron2 / layoutparser Faster R-CNN R50-FPN teacher: 256 channels, anchors 32..512,
    # ratios 0.5, 1, 2). None = the trainer's (trainer.fpn_channels; for the student
    # trainer.student_fpn_channels when set).
    fpn_channels: int | None = None
    anchor_sizes: list[int] | None = None  # This model's own anchor sizes (null: the trainer's).
    # This model's own anchor aspect ratios (null: the trainer's).
    anchor_ratios: list[float] | None = None


@dataclass
class PairConfig:
    """Teacher and student detectors (Faster R-CNN + FPN): backbones and initialisation."""

    name: str = MISSING  # Preset name; part of the run directory.
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

    name: str = MISSING  # Preset name; part of the run directory.
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
    """Schedule, image size, FPN width, processes, seed, resume and test-time settings."""

    device: str = "cpu"  # cpu or cuda.
    # Processes: num_gpus per machine on GPU; num_workers_cpu gloo processes on CPU.
    num_gpus: int = 0
    num_workers_cpu: int = 1  # gloo processes on CPU (detectron2's launch).
    num_machines: int = 1  # Machines of a multi-machine job.
    machine_rank: int = 0  # This machine's rank in a multi-machine job.
    # Rendezvous URL of distributed training (auto: a free local port).
    dist_url: str = "auto"
    ims_per_batch: int = 4  # Images per batch, all processes together.
    base_lr: float = 0.02  # SGD learning rate after warm-up.
    momentum: float = 0.9  # SGD momentum.
    weight_decay: float = 1e-4  # SGD weight decay.
    max_iter: int = 300  # Training iterations of a student.
    teacher_max_iter: int = 600  # Training iterations of the teacher.
    warmup_iters: int = 50  # Linear learning-rate warm-up iterations.
    # LR drops (x0.1) at these fractions of max_iter.
    lr_steps: list[float] = field(default_factory=lambda: [0.75, 0.9])
    min_size: int = 320  # Short side of the training and test images, in pixels.
    max_size: int = 320  # Upper bound of the long side, in pixels.
    # RoIs sampled per image by the RoI heads (the graph's nodes).
    rois_per_image: int = 128
    # FPN width of teacher and student (detectron2: 256); the graph nodes' feature channels.
    fpn_channels: int = 256
    # The student's own FPN width (None: fpn_channels). trainer=gpu: 128, the deploy-sized
    # student at about the AP of a 256-channel one (docs/deployment.md, "The student's FPN").
    student_fpn_channels: int | None = None
    # Anchors of both models; defaults from detectors.config for the page size (one source):
    # default_anchor_sizes(min_size) and DOC_ASPECT_RATIOS.
    anchor_sizes: list[int] = "${anchor_sizes:${.min_size}}"  # type: ignore[assignment]
    # Anchor aspect ratios (height / width) of both models.
    anchor_ratios: list[float] = field(default_factory=lambda: list(DOC_ASPECT_RATIOS))
    checkpoint_period: int = 100  # Iterations between checkpoints (resume points).
    eval_period: int = 0  # Iterations between val evaluations (0: only at the end).
    log_period: int = 20  # Iterations between train-log records.
    dataloader_workers: int = 0  # Data-loader worker processes.
    seed: int = 0  # Seed of initialisation, data order and RoI sampling.
    resume: bool = False  # Continue from the run directory's last checkpoint.
    # Mixed precision: fp16 on CUDA, bfloat16 on a CPU with native bfloat16 (else fp32); weights,
    # graph and KD terms stay fp32.
    amp: bool = False
    clip_grad: float = 0.0  # Gradient-norm clipping (0: off).
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
    # Root folder of everything a run writes (runs, teachers, synthetic pages).
    outputs: str = "outputs"
    # Where train_teacher.py writes the teacher and distill.py reads it.
    teacher_checkpoint: str = "${outputs}/teachers/${data_tag:${dataset.name},${dataset.style}}_${pair.teacher.backbone}_${trainer.min_size}px_fpn${trainer.fpn_channels}/model_final.pth"
    # Filled at run time: Hydra's job directory.
    run_dir: str = ""
    # Filled at run time: the command-line overrides of the job.
    overrides: list[str] = field(default_factory=list)


def _anchor_sizes(min_size: int) -> list[int]:
    return list(default_anchor_sizes(int(min_size)))


# ``${anchor_sizes:<min_size>}`` in the schema: the trainer's anchor defaults are detectors'.
if not OmegaConf.has_resolver("anchor_sizes"):
    OmegaConf.register_new_resolver("anchor_sizes", _anchor_sizes)


def data_tag(name: str, style: str = "classic") -> str:
    """The dataset's part of the teacher's folder name: ``synthetic`` for the classic synthetic
    pages (the folder the runs of docs/experiments.md used), ``synthetic-realistic`` for the
    realistic ones, the dataset name for every other dataset (where ``style`` means nothing)."""
    return f"{name}-{style}" if name == "synthetic" and style != "classic" else name


# Train pages of each synthetic style when dataset.num_train is not set: the classic style keeps
# the 96 pages of the GraphKD-vs-DSIG runs; realistic pages are more varied and cheap to make
# (480 pages: +1.5 DocBank AP over 96 for the demo's teacher, docs/experiments.md).
SYNTHETIC_TRAIN_PAGES = {"classic": 96, "realistic": 480}


def synthetic_train_pages(style: str) -> int:
    return SYNTHETIC_TRAIN_PAGES.get(style, 96)


if not OmegaConf.has_resolver("kd_term"):
    OmegaConf.register_new_resolver("kd_term", method_uses)
if not OmegaConf.has_resolver("data_tag"):
    OmegaConf.register_new_resolver("data_tag", data_tag)
if not OmegaConf.has_resolver("synthetic_train_pages"):
    OmegaConf.register_new_resolver("synthetic_train_pages", synthetic_train_pages)


def fpn_channels_of(cfg: Config | DictConfig | dict, role: str) -> int:
    """The FPN width of ``role`` (teacher / student): the model's own, else (student)
    ``trainer.student_fpn_channels``, else ``trainer.fpn_channels``."""

    def get(node, key: str):  # dataclass, DictConfig or a plain dict (saved before a key existed)
        return node.get(key) if isinstance(node, Mapping) else getattr(node, key)

    t = get(cfg, "trainer")
    own = get(get(get(cfg, "pair"), role), "fpn_channels")
    student = get(t, "student_fpn_channels") if role == "student" else None
    return int(own or student or get(t, "fpn_channels"))


def canonical_widths(tree: dict) -> dict:
    """``tree``, a resolved config as a plain dict, with the FPN widths in one canonical place:
    ``pair.<role>.fpn_channels`` holds a model's width where it differs from
    ``trainer.fpn_channels`` (None where equal), ``trainer.student_fpn_channels`` is dropped.
    Configs that build the same models then compare and hash alike (e.g. a run saved before
    ``student_fpn_channels`` existed and today's config of the same models)."""
    pair, trainer = tree.get("pair"), tree.get("trainer")
    if not isinstance(pair, dict) or not isinstance(trainer, dict) or "fpn_channels" not in trainer:
        return tree
    widths = {r: fpn_channels_of(tree, r) for r in ("teacher", "student") if r in pair}
    pair = {**pair, **{r: {**pair[r], "fpn_channels": None if w == trainer["fpn_channels"] else w}
                       for r, w in widths.items()}}  # fmt: skip
    trainer = {k: v for k, v in trainer.items() if k != "student_fpn_channels"}
    return {**tree, "pair": pair, "trainer": trainer}


def flat_keys(tree: Mapping, prefix: str = "") -> dict[str, Any]:
    """Dotted key -> value of every leaf of a plain config tree (tuples as lists)."""
    out: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, Mapping):
            out.update(flat_keys(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = list(value) if isinstance(value, (list, tuple)) else value
    return out


def as_override(key: str, value: Any) -> str:
    """``key=value`` as Hydra parses it back (strings as they are, the rest as JSON)."""
    return f"{key}={value if isinstance(value, str) else json.dumps(value)}"


def to_config(cfg: DictConfig | dict) -> Config:
    """The :class:`Config` dataclass tree of a resolved config (e.g. the dict passed to worker
    processes), validated against the schema: the one conversion before the core builds models.

    Raises:
        ValueError: an unsupported option value (e.g. ``kd.method``, ``kd.graph.shrinkage``).
        omegaconf.errors.ValidationError: an unknown key or a value of the wrong type.
    """
    return OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(Config), cfg))
