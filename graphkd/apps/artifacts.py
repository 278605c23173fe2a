"""Find and load what a run left on disk: detector configs, weights, class names, graph statistics.

A *student run dir* (``graphkd.apps.run.distill_worker``) holds ``student_config.yaml``,
``model_student.pth``, ``label_map.json`` and the Distiller's last checkpoint ``model_final.pth``
(student + adapters + the graph builder's running statistics). A *teacher dir*
(``teacher_worker``) holds ``config.yaml`` and ``model_final.pth``. Any of these directories, a
config ``.yaml`` or a weights ``.pth`` next to its config can be named.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import torch
from detectron2.config import CfgNode
from detectron2.modeling import GeneralizedRCNN

from detectors.build import build_detector
from detectors.config import load_detector_cfg
from detectors.datasets import DATASETS
from graph import GraphBuilder, GraphConfig
from graphkd.apps.package import STUDENT_CHECKPOINT, STUDENT_CONFIG, read_classes
from graphkd.apps.rundir import CONFIG_RESOLVED, TEACHER_CONFIG
from graphkd.core.checkpoint import RunCheckpointer

__all__ = [
    "ModelFiles",
    "graph_config",
    "load_builder_state",
    "load_graph_builder",
    "load_model",
    "resolve_model",
]

_CONFIGS = (STUDENT_CONFIG, TEACHER_CONFIG)
_FINAL = "model_final.pth"  # detectron2's trainer: the weights after the last iteration
_WEIGHTS = (STUDENT_CHECKPOINT, _FINAL)


@dataclass
class ModelFiles:
    """A detector on disk.

    Attributes:
        config: the detectron2 config path; weights: the weights file actually used.
        cfg: the loaded config with ``MODEL.WEIGHTS = weights``.
        classes: class names in contiguous-id order; text_classes: the text subset.
        dataset_ids: contiguous id -> dataset (json) category id, when the label map has it.
        run_dir: the directory of ``config``.
    """

    config: Path
    weights: Path
    cfg: CfgNode
    classes: list[str]
    text_classes: list[str] = field(default_factory=list)
    dataset_ids: dict[int, int] = field(default_factory=dict)

    @property
    def run_dir(self) -> Path:
        return self.config.parent


def _find(folder: Path, names: tuple[str, ...]) -> Path | None:
    return next((folder / n for n in names if (folder / n).is_file()), None)


def _config_and_weights(path: Path) -> tuple[Path, Path | None]:
    """(config path, explicit weights path or None) for a dir, a ``.yaml`` or a ``.pth``."""
    if path.is_dir():
        cfg = _find(path, _CONFIGS)
        if cfg is None:
            raise FileNotFoundError(
                f"{path} has none of {list(_CONFIGS)}; pass a run dir written by "
                "scripts/distill.py / train_teacher.py, or the config .yaml itself."
            )
        return cfg, None
    if path.suffix in (".yaml", ".yml"):
        return path, None
    cfg = _find(path.parent, _CONFIGS)
    if cfg is None:
        raise FileNotFoundError(
            f"No detectron2 config next to {path} (looked for {list(_CONFIGS)} in {path.parent})."
        )
    return cfg, path


def _weights(config: Path, cfg: CfgNode, explicit: Path | None) -> Path:
    """The weights: explicit, else MODEL.WEIGHTS, else a known file beside the config.

    A run dir that was moved keeps a stale absolute MODEL.WEIGHTS: the file beside the config
    with the same name wins then. A *training* run's ``config.yaml`` (train_teacher.py's and
    detectron2's own dump) holds the initial weights in MODEL.WEIGHTS (e.g. ``pair.teacher.weights``
    to fine-tune from): its ``model_final.pth``, the trained weights, wins over them.
    """
    if explicit is not None:
        return explicit
    named = Path(cfg.MODEL.WEIGHTS) if cfg.MODEL.WEIGHTS else None
    trained = [config.parent / _FINAL] if config.name == TEACHER_CONFIG else []
    candidates = (
        trained
        + ([named, config.parent / named.name] if named else [])
        + [config.parent / n for n in _WEIGHTS]
    )
    found = next((p for p in candidates if p.is_file()), None)
    if found is None:
        raise FileNotFoundError(
            f"No weights for {config}: MODEL.WEIGHTS={cfg.MODEL.WEIGHTS!r} does not exist and "
            f"{config.parent} has none of {list(_WEIGHTS)}. Train the model first."
        )
    return found


def _label_map(config: Path, cfg: CfgNode) -> tuple[list[str], list[str], dict[int, int]]:
    """Class names from ``classes.json`` / ``label_map.json`` (beside the config or one level up,
    :func:`graphkd.apps.package.read_classes`), else from a
    known dataset named in ``cfg.DATASETS``, else ``class_0 ..``."""
    for folder in (config.parent, config.parent.parent):
        found = read_classes(folder)  # classes.json / label_map.json, old or new format
        if found is not None:
            return found
    k = int(cfg.MODEL.ROI_HEADS.NUM_CLASSES)
    for name in tuple(cfg.DATASETS.TEST) + tuple(cfg.DATASETS.TRAIN):
        spec = DATASETS.get(str(name).rsplit("_", 1)[0])
        if spec is not None and spec.num_classes == k:
            return list(spec.classes), list(spec.text_classes), {}
    return [f"class_{i}" for i in range(k)], [], {}


def resolve_model(path: str | os.PathLike) -> ModelFiles:
    """Config, weights and class names of a run dir, config ``.yaml`` or weights ``.pth``.

    Raises:
        FileNotFoundError: naming the missing path and what to pass instead.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(
            f"Checkpoint {str(path)!r} does not exist; pass a run dir (with student_config.yaml "
            "or config.yaml), a config .yaml, or a .pth next to its config."
        )
    config, explicit = _config_and_weights(path)
    cfg = load_detector_cfg(str(config))
    weights = _weights(config, cfg, explicit)
    cfg.MODEL.WEIGHTS = str(weights.resolve())
    cfg.MODEL.DEVICE = "cpu" if not torch.cuda.is_available() else cfg.MODEL.DEVICE
    classes, text, ids = _label_map(config, cfg)
    return ModelFiles(config, weights, cfg, classes, text, ids)


def load_model(files: ModelFiles) -> GeneralizedRCNN:
    """The detector with its weights (checked by :func:`detectors.build.load_checkpoint`),
    in eval mode."""
    model = build_detector(files.cfg)
    return model.eval()


def load_builder_state(builder: torch.nn.Module, run_dir: str | os.PathLike) -> bool:
    """Load the graph builder's running statistics from a Distiller checkpoint in ``run_dir``.

    Reads the newest readable checkpoint as a resume would (:meth:`RunCheckpointer.read_last`:
    ``last_checkpoint``'s file, falling back to an earlier one when it is cut, else
    ``model_final.pth``) and its ``builder.*`` entries. Returns False (builder untouched) when
    there is none, e.g. for a ``kd=none`` run.

    Raises:
        CorruptCheckpointError: when checkpoints exist but none can be read.
    """
    state = RunCheckpointer(torch.nn.Module(), save_dir=str(run_dir)).read_last()
    if state is None:
        return False
    state = state.get("model", state)
    sub = {k[len("builder.") :]: v for k, v in state.items() if k.startswith("builder.")}
    if not sub:
        return False
    builder.load_state_dict(sub, strict=False)
    return True


def graph_config(
    kd: str | None = None, run_dir: str | os.PathLike | None = None
) -> tuple[str, GraphConfig]:
    """The :class:`graph.GraphConfig` of a student run, or of a ``kd`` preset.

    With ``run_dir`` and a graph method (``kd`` None or the run's own), the options come from the
    run's saved ``config_resolved.yaml`` (``kd.graph``): the builder it trained with. Otherwise
    they are those of ``configs/`` composed with ``kd=<kd>`` (default: ``graphkd``), as a new run
    would use.

    Returns:
        ``(kd, cfg)``: the kd preset the options belong to and the options.
    """
    from omegaconf import OmegaConf

    saved = Path(run_dir) / CONFIG_RESOLVED if run_dir else None
    run_cfg = OmegaConf.load(saved) if saved and saved.is_file() else None
    run_kd = str(OmegaConf.select(run_cfg, "kd.name", default="")) if run_cfg else ""
    if run_cfg is not None and run_kd != "none" and kd in (None, run_kd):
        return run_kd, GraphConfig.from_mapping(OmegaConf.to_container(run_cfg.kd.graph))
    kd = kd or "graphkd"
    # The checkout's configs/ or the installed package's copy.
    from graphkd.apps.cli import compose_kd

    composed = compose_kd(kd)
    return kd, GraphConfig.from_mapping(OmegaConf.to_container(composed.kd.graph, resolve=True))


def load_graph_builder(
    teacher: GeneralizedRCNN,
    student: GeneralizedRCNN,
    classes: list[str],
    text_classes: list[str],
    run_dir: str | os.PathLike,
    kd: str | None = None,
    overrides: dict | None = None,
) -> tuple[GraphBuilder, str, bool]:
    """The :class:`graph.GraphBuilder` a student run trained with, sized for this model pair.

    Options come from :func:`graph_config` (then ``overrides``, :class:`graph.GraphConfig`
    fields), node feature channels from each model's FPN, and the running statistics from the
    run's checkpoint (:func:`load_builder_state`).

    Returns:
        ``(builder, kd, loaded)``: the builder, the kd preset used, whether statistics were loaded.
    """
    kd, cfg = graph_config(kd, run_dir)
    builder = GraphBuilder(
        [classes.index(c) for c in text_classes],
        len(classes),
        cfg.replace(**(overrides or {})),
        teacher_channels=teacher.backbone.output_shape()["p2"].channels,
        student_channels=student.backbone.output_shape()["p2"].channels,
    )
    return builder, kd, load_builder_state(builder, run_dir)
