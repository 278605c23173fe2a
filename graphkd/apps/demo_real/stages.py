"""The recipe's two stages as lists of config overrides: synthetic pretraining (the demo's jobs)
and the real pages (teacher fine-tuning, student distillation).

A command-line override goes to the stage it is about: ``dataset.*`` to the pretraining (the
real stage's data are the real pages), the architecture (``pair``, FPN width, anchor ratios)
and the processes to both, everything else (schedule, page size, ``kd.*``, ...) to the real
stage. ``pretrain=`` lists further overrides of the pretraining alone.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from omegaconf import DictConfig

from graphkd.apps.cli import compose_config
from graphkd.apps.demo_real.pages import RealPages
from graphkd.core.config import fpn_channels_of

__all__ = [
    "REAL_DATASET",
    "REAL_TRAINER",
    "check_compatible",
    "init_from",
    "real_overrides",
    "route_overrides",
    "taught_by",
    "with_preset",
]

# The real stage's dataset name (its registered splits, the teacher's folder) and schedule preset.
REAL_DATASET = "real_pages"
REAL_TRAINER = "cpu_real"
# Keys that fix the models' shapes or processes: the same in both stages.
SHARED_KEYS = ("pair", "trainer.fpn_channels", "trainer.student_fpn_channels",
               "trainer.anchor_ratios", "trainer.device",
               "trainer.num_gpus", "trainer.num_workers_cpu", "trainer.num_machines",
               "trainer.machine_rank", "trainer.dist_url")  # fmt: skip


def _key(override: str) -> str:
    return override.lstrip("+~").partition("=")[0]


def _under(key: str, prefixes: Sequence[str]) -> bool:
    return any(key == p or key.startswith(p + ".") for p in prefixes)


def route_overrides(overrides: Sequence[str]) -> tuple[list[str], list[str]]:
    """``(pretraining, real stage)`` overrides of the user's command line (``outputs=`` left
    out: the recipe places both stages itself).

    Raises:
        ValueError: ``kd=`` (the recipe trains every method of the demo).
    """
    pretrain, real = [], []
    for o in overrides:
        key = _key(o)
        if key == "outputs":
            continue
        if key == "kd":
            raise ValueError(
                f"{o}: the recipe trains kd=none, graphkd and dsig; kd.* options apply to them all"
            )
        if _under(key, ("dataset",)):
            pretrain.append(o)
        elif _under(key, SHARED_KEYS):
            pretrain.append(o)
            real.append(o)
        else:
            real.append(o)
    return pretrain, real


def _hydra_str(value: str | os.PathLike) -> str:
    """A path or name as a Hydra override value (quoted unless plain)."""
    s = str(value)
    if s and all(c.isalnum() or c in "/._-+:@%~" for c in s):
        return s
    return "'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _list(values: Sequence[str]) -> str:
    return "[" + ",".join(_hydra_str(v) for v in values) + "]"


def real_overrides(
    outputs: str | os.PathLike,
    pages: RealPages,
    classes: Sequence[str],
    text_classes: Sequence[str],
    user: Sequence[str],
) -> list[str]:
    """The real stage's overrides: runs under ``outputs``, ``dataset=custom`` on ``pages`` with
    the pretrained models' classes, the :data:`REAL_TRAINER` schedule unless the user picks a
    trainer preset, then the user's real-stage overrides."""
    images = _hydra_str(pages.images.resolve())
    return [
        f"outputs={_hydra_str(os.path.abspath(outputs))}",
        "dataset=custom",
        f"dataset.name={REAL_DATASET}",
        f"dataset.train_json={_hydra_str(pages.train_json.resolve())}",
        f"dataset.train_images={images}",
        f"dataset.val_json={_hydra_str(pages.val_json.resolve())}",
        f"dataset.val_images={images}",
        f"dataset.classes={_list(classes)}",
        f"dataset.text_classes={_list(text_classes)}",
        *with_preset(user),
    ]


def init_from(role: str, weights: str | os.PathLike) -> str:
    """The override that starts ``role`` (teacher / student) from the ``weights`` file."""
    return f"pair.{role}.weights={_hydra_str(os.path.abspath(weights))}"


def taught_by(checkpoint: str | os.PathLike) -> str:
    """The override that makes the students learn from the teacher weights ``checkpoint``."""
    return f"teacher_checkpoint={_hydra_str(os.path.abspath(checkpoint))}"


def with_preset(user: Sequence[str]) -> list[str]:
    """``trainer=`` :data:`REAL_TRAINER` (unless ``user`` picks a trainer preset), then ``user``."""
    preset = [] if any(_key(o) == "trainer" for o in user) else [f"trainer={REAL_TRAINER}"]
    return [*preset, *user]


def _shapes(cfg: DictConfig, role: str) -> dict[str, object]:
    """What a checkpoint of ``role`` must match to load: backbone, norm, FPN width, anchors
    per location."""
    model, t = cfg.pair[role], cfg.trainer
    return {
        "backbone": model.backbone,
        "norm": model.norm,
        "fpn_channels": fpn_channels_of(cfg, role),
        "anchor_ratios": len(model.anchor_ratios or t.anchor_ratios),
    }


def check_compatible(pretrain: Sequence[str], real: Sequence[str], students: bool) -> None:
    """ValueError naming the difference when the real stage's teacher (or students, with
    ``students``) could not start from the pretrained weights, before anything trains."""
    a, b = compose_config(list(pretrain)), compose_config(list(real))
    for role in ("teacher", "student") if students else ("teacher",):
        pa, pb = _shapes(a, role), _shapes(b, role)
        diff = [f"{k}: {pa[k]} (pretraining) != {pb[k]} (real pages)" for k in pa if pa[k] != pb[k]]
        if diff:
            raise ValueError(
                f"the {role} of the real pages cannot start from the synthetic one ("
                + "; ".join(diff)
                + "). Set the key for both stages on the command line, or with pretrain=..."
            )
