"""``make demo-real``: GraphKD on real pages, from synthetic pretraining to a report.

    python scripts/demo_real.py [seeds=1] [outputs=outputs] [real_pages=DIR_OR_COCO_JSON]
        [real_images=DIR] [real_val=VAL_JSON] [folder=demo_real] [mix_synthetic=true]
        [pretrain_students=true] [pretrain=KEY=VALUE,...] [methods=[none,graphkd,dsig]]
        [teacher_from=FOLDER]
        [real-stage overrides, e.g.
        trainer.min_size=512 trainer.max_size=512 trainer.teacher_max_iter=2400]

1. Synthetic pretraining, the demo's jobs in the same places (``make demo``'s models are
   reused): the R50-FPN teacher and, per seed, the kd=none R18-FPN student.
2. The teacher fine-tuned on the real train pages from the synthetic teacher's weights
   (mix_synthetic=true: with the synthetic train pages mixed in).
3. Per seed, students kd=none, graphkd and dsig (``methods=``: the ones named) distilled from the
   fine-tuned teacher on the real train pages, each starting from the synthetic kd=none student
   of its seed (pretrain_students=false: from random weights).
   teacher_from=<folder>: the students learn from the teacher fine-tuned in that recipe folder
   (same pages and settings) instead of one fine-tuned in this folder.
4. Everything scored on the real val pages: <outputs>/<folder>/REPORT.md, in the demo's form,
   with the pretrained models' scores before fine-tuning.

real_pages: the shipped DocBank samples (samples/docbank, 60 train / 20 val pages) when not
given; a folder of DocBank token files (<stem>.txt + <stem>_ori.jpg: converted into
<outputs>/<folder>/docbank); a folder with COCO/train.json + COCO/val.json; or a COCO json of
your pages (val pages: real_val=, else a quarter split off by file name). The real stage
trains with the trainer=cpu_real schedule (480-px pages; hours for seed 0 on 2 CPU cores); overrides
on the command line go to it, dataset.* ones and pretrain= to the pretraining
(docs/real-pages.md).
"""

from __future__ import annotations

import json
import logging
import os
import platform
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from detectron2.data import MetadataCatalog
from omegaconf import DictConfig

from graphkd.apps.cli import compose_config
from graphkd.apps.demo import METHODS, demo_figures, eval_real_pages, training_overrides
from graphkd.apps.demo_real.pages import RealPages, check_classes, mix_coco, resolve_real_pages
from graphkd.apps.demo_real.stages import (
    check_compatible,
    init_from,
    real_overrides,
    route_overrides,
    taught_by,
    with_preset,
)
from graphkd.apps.jobs import config_diff, ensure_student, ensure_teacher
from graphkd.apps.package import STUDENT_CHECKPOINT
from graphkd.apps.tool import register_tool, run_tool
from graphkd.core.config import Config
from graphkd.core.data import DataSplits
from graphkd.core.models import teacher_dir

__all__ = ["DemoRealOptions", "Pretrained", "main", "run_demo_real"]

logger = logging.getLogger("graphkd")

# The pages and settings a recipe folder was made from (its runs are reused only for these).
INPUTS = "inputs.json"


@dataclass
class Pretrained:
    """The synthetic stage: the teacher (run dir, weights, metrics), its data, the kd=none
    students."""

    teacher: str
    checkpoint: str  # the teacher's weights file
    teacher_metrics: dict
    data: DataSplits
    students: dict[int, str] = field(default_factory=dict)  # seed -> run dir
    student_metrics: dict[int, dict] = field(default_factory=dict)


def pretrain(overrides: Sequence[str], seeds: int, students: bool) -> Pretrained:
    """The demo's synthetic teacher and (``students``) its kd=none student of each seed, in
    ``<outputs>/teachers`` and ``<outputs>/demo/runs/none/seed<N>``: reused when there."""
    cfg, data, metrics = ensure_teacher(list(overrides))
    done = Pretrained(teacher_dir(cfg), os.path.abspath(cfg.teacher_checkpoint), metrics, data)
    for seed in range(seeds) if students else ():
        run_dir = os.path.join(cfg.outputs, "demo", "runs", "none", f"seed{seed}")
        done.student_metrics[seed] = ensure_student(list(overrides), "none", seed, run_dir)
        done.students[seed] = run_dir
    return done


def _inputs_diff(folder: Path, record: dict) -> list[str] | None:
    """Where the pages and settings ``folder`` was made from (its :data:`INPUTS`) differ from
    ``record``; None when it has no record (it is no recipe folder yet)."""
    path = folder / INPUTS
    if not path.is_file():
        return None
    return config_diff(json.loads(path.read_text()), record)


def _check_inputs(out: Path, record: dict) -> None:
    """Remember what ``out`` is made from; RuntimeError when it was made from something else."""
    diff = _inputs_diff(out, record)
    if diff:
        raise RuntimeError(
            f"{out} holds runs made from other real pages or settings ({'; '.join(diff)}). "
            "Delete that folder, or pass folder=<another name>."
        )
    out.mkdir(parents=True, exist_ok=True)
    (out / INPUTS).write_text(json.dumps(record, indent=1))


def _teacher_folder(outputs: str, name: str, record: dict) -> Path:
    """The recipe folder ``name`` under ``outputs`` whose fine-tuned teacher a folder made from
    ``record`` (its :data:`INPUTS`) takes instead of fine-tuning its own.

    Raises:
        FileNotFoundError: ``name`` is no recipe folder.
        ValueError: it was made from other real pages or settings.
    """
    src = Path(outputs) / name
    diff = _inputs_diff(src, record)
    if diff is None:
        raise FileNotFoundError(
            f"teacher_from={name}: {src} is not a recipe folder (no {INPUTS}). Fine-tune the "
            f"teacher there first: python scripts/demo_real.py folder={name}"
        )
    if diff:
        raise ValueError(
            f"teacher_from={name}: {src} was made from other real pages or settings "
            f"({'; '.join(diff)}); its teacher cannot teach these students."
        )
    return src


def _require_teacher(folder: str, checkpoint: str) -> None:
    """FileNotFoundError unless the recipe folder ``folder`` holds a fine-tuned teacher at
    ``checkpoint`` (``teacher_from=`` reuses teachers, it never trains one elsewhere)."""
    if not os.path.isfile(checkpoint):
        raise FileNotFoundError(
            f"teacher_from={folder}: no fine-tuned teacher of these settings there ({checkpoint})."
            f" Fine-tune it first: python scripts/demo_real.py folder={folder} with the same "
            "settings."
        )


def _check_methods(methods: Sequence[str]) -> list[str]:
    """``methods`` without repeats; ValueError for none or for a name with no configs/kd/ preset,
    before anything trains."""
    from graphkd.apps.cli import compose_kd

    methods = list(dict.fromkeys(m for m in methods if m))
    if not methods:
        raise ValueError("methods=[]: name at least one kd method, e.g. methods=[none,graphkd]")
    for kd in methods:
        compose_kd(kd)
    return methods


def _real_stage(
    student_over: list[str],
    teacher_over: list[str],
    pre: Pretrained,
    seeds: int,
    out: Path,
    methods: Sequence[str],
) -> tuple[DictConfig, DataSplits, dict, dict[str, list[dict]], dict[str, str]]:
    """Fine-tune the teacher, then distill every method and seed; returns ``(cfg, data,
    teacher metrics, kd -> metrics per seed, kd -> seed-0 run dir)``."""
    cfg, data, teacher = ensure_teacher(teacher_over)
    # The students' teacher is the one just made or reused, wherever teacher_from= put it.
    student_over = [*student_over, taught_by(cfg.teacher_checkpoint)]
    students: dict[str, list[dict]] = {kd: [] for kd in methods}
    seed0: dict[str, str] = {}
    for seed in range(seeds):
        init = []
        if seed in pre.students:
            init = [init_from("student", os.path.join(pre.students[seed], STUDENT_CHECKPOINT))]
        for kd in methods:
            run_dir = str(out / "runs" / kd / f"seed{seed}")
            students[kd].append(ensure_student(student_over + init, kd, seed, run_dir))
            seed0.setdefault(kd, run_dir)
    return cfg, data, teacher, students, seed0


def _count(gt: Path) -> int:
    return len(json.loads(gt.read_text())["images"])


def _notes(cfg: DictConfig, pages: RealPages, pre: Pretrained, teacher: dict,
           students: dict[str, list[dict]], mixed: bool) -> list[str]:  # fmt: skip
    """REPORT.md's lines on the machine, the pages, the pretraining, the schedule and times."""
    t = cfg.trainer
    syn = "; ".join(f"seed {s}: {m.get('AP', 0):.1f}" for s, m in pre.student_metrics.items())
    minutes = {kd: sum(m.get("train_seconds", 0) for m in ms) / 60 / len(ms)
               for kd, ms in students.items() if ms}  # fmt: skip
    return [
        f"Machine: {platform.platform()}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads.",
        f"Real pages: {_count(pages.train_json)} train (`{pages.train_json}`) / "
        f"{_count(pages.val_json)} val (`{pages.val_json}`), images in `{pages.images}`.",
        f"Pretraining on synthetic pages: teacher `{pre.teacher}` (synthetic val AP "
        f"{pre.teacher_metrics.get('AP', 0):.1f}); kd=none students "
        + (f"`{pre.students[0]}` ... (synthetic val AP {syn})." if pre.students else "none."),
        f"Teacher {cfg.pair.teacher.backbone}-FPN fine-tuned {t.teacher_max_iter} iterations "
        "from the synthetic teacher"
        + (", synthetic train pages mixed in" if mixed else "")
        + f"; students {cfg.pair.student.backbone}-FPN: {t.max_iter} iterations from "
        + ("the synthetic kd=none student of their seed" if pre.students else "random weights")
        + f"; batch {t.ims_per_batch}, lr {t.base_lr}, pages {t.min_size}-{t.max_size} px, "
        f"FPN width {t.fpn_channels}, {len(next(iter(students.values())))} seed(s).",
        f"Training time: teacher {teacher.get('train_seconds', 0) / 60:.1f} min; students "
        + ", ".join(f"kd={kd} {v:.1f} min" for kd, v in minutes.items())
        + " (mean per seed).",
    ]


def _before_fine_tuning(out: Path, pages: RealPages, pre: Pretrained) -> str:
    """The pretrained models on the real val pages (the transfer the fine-tuning starts from)."""
    from graphkd.apps.tables.demo import real_pages_table

    models = {"synthetic teacher": pre.teacher}
    syn = {"synthetic teacher": [pre.teacher_metrics.get("AP")]}
    if pre.students:
        models["synthetic student kd=none"] = pre.students[min(pre.students)]
        syn["synthetic student kd=none"] = [pre.student_metrics[min(pre.students)].get("AP")]
    results, _ = eval_real_pages(out, str(pages.val_json), str(pages.images), models)
    table = real_pages_table({name: {0: m} for name, m in results.items()}, syn, once=list(models))
    return (
        "## Before fine-tuning: synthetic pretraining alone\n\n"
        "The synthetic teacher and the seed-0 kd=none student on the same real val pages: COCO "
        "box AP in percent, classes matched by name; the distance to their synthetic val AP is "
        f"what the synthetic pages do not teach about real documents. {table}\n"
    )


def _teacher_pages(pages: RealPages, pre: Pretrained, out: Path, mix: bool) -> RealPages:
    """The teacher's fine-tuning pages: the real train pages, with ``mix`` also the synthetic
    train pages (one json listing both, :func:`~graphkd.apps.demo_real.pages.mix_coco`)."""
    if not mix:
        return pages
    meta = MetadataCatalog.get(pre.data.train)
    mixed = mix_coco(pages, meta.json_file, meta.image_root, out / "pages" / "train_mixed.json")
    return RealPages(mixed, pages.val_json, pages.images)


def _write_report(out: Path, cfg: DictConfig, data: DataSplits, teacher: dict,
                  students: dict[str, list[dict]], seed0: dict[str, str], notes: list[str],
                  before: str) -> Path:  # fmt: skip
    """REPORT.md in the demo's form (table, verdicts, notes, figures), then ``before``."""
    from graphkd.apps.report import plot_ap_bars, write_report

    figures = {"AP of teacher and students": plot_ap_bars(teacher, students, out / "ap.png")}
    figures.update(demo_figures(out, cfg, data, seed0))
    report = write_report(
        out, teacher, students, figures, baseline="none", notes=notes,
        title="GraphKD distillation report: real pages", class_names=data.classes,
    )  # fmt: skip
    report.write_text(report.read_text().rstrip("\n") + "\n\n" + before)
    return report


def run_demo_real(
    seeds: int = 1,
    outputs: str = "outputs",
    overrides: Sequence[str] = (),
    *,
    real_pages: str | None = None,
    real_images: str | None = None,
    real_val: str | None = None,
    folder: str = "demo_real",
    mix_synthetic: bool = True,
    pretrain_students: bool = True,
    pretrain_overrides: Sequence[str] = (),
    methods: Sequence[str] = METHODS,
    teacher_from: str | None = None,
) -> Path:
    """Run the recipe (see the module docstring) and write ``<outputs>/<folder>/REPORT.md``;
    returns its path. Arguments as the command line's options; ``overrides``: the training
    overrides of the command line, routed to the stages by
    :func:`~graphkd.apps.demo_real.stages.route_overrides`.

    Raises:
        FileNotFoundError, ValueError: bad real pages, an unknown kd method or incompatible stage
            settings (before anything trains, except a class mismatch, found once the
            pretraining's data is known).
        RuntimeError: the folder holds runs made from other pages or settings.
        FileNotFoundError, ValueError: ``teacher_from`` names no recipe folder, one made from
            other pages or settings, or one without a teacher of these settings.
    """
    out = Path(outputs) / folder
    methods = _check_methods(methods)
    pages = resolve_real_pages(real_pages, out, real_images, real_val)
    pre_user, real_user = route_overrides(overrides)
    pre_over = [f"outputs={outputs}", *pre_user, *pretrain_overrides]
    check_compatible(pre_over, with_preset(real_user), pretrain_students)
    record = {**pages.fingerprint(), "mix_synthetic": bool(mix_synthetic)}
    teacher_out = _teacher_folder(outputs, teacher_from, record) if teacher_from else out
    pre = pretrain(pre_over, int(seeds), pretrain_students)
    check_classes(pages, pre.data.classes)
    _check_inputs(out, record)
    classes, text = pre.data.classes, pre.data.text_classes
    t_over = real_overrides(teacher_out, _teacher_pages(pages, pre, out, mix_synthetic), classes,
                            text, real_user)  # fmt: skip
    t_over.append(init_from("teacher", pre.checkpoint))
    if teacher_from:
        _require_teacher(teacher_from, compose_config(t_over).teacher_checkpoint)
    s_over = real_overrides(out, pages, classes, text, real_user)
    cfg, data, teacher, students, seed0 = _real_stage(s_over, t_over, pre, int(seeds), out, methods)
    notes = _notes(cfg, pages, pre, teacher, students, mix_synthetic)
    before = _before_fine_tuning(out, pages, pre)
    report = _write_report(out, cfg, data, teacher, students, seed0, notes, before)
    logger.info("demo_real: wrote %s", report)
    return report


USAGE = __doc__


@dataclass
class DemoRealOptions(Config):
    """The training config (``configs/config.yaml``) plus the recipe's own keys."""

    seeds: int = 1
    # None: the shipped samples/docbank pages.
    real_pages: str | None = None
    real_images: str | None = None
    real_val: str | None = None
    # The recipe's folder under `outputs`.
    folder: str = "demo_real"
    # Synthetic train pages mixed into the teacher's fine-tuning (false: the real pages alone).
    mix_synthetic: bool = True
    # Students start from the synthetic kd=none student of their seed (false: random weights).
    pretrain_students: bool = True
    # Overrides of the synthetic pretraining alone, e.g. pretrain=trainer.teacher_max_iter=1800.
    pretrain: list[str] = field(default_factory=list)
    # The kd methods distilled on the real pages; the report pairs them with kd=none when it is
    # among them.
    methods: list[str] = field(default_factory=lambda: list(METHODS))
    # Another recipe folder (same pages and settings) whose fine-tuned teacher the students of
    # this one learn from, e.g. to add students' seeds or kd settings without fine-tuning again.
    teacher_from: str | None = None


register_tool("demo_real", DemoRealOptions, USAGE)


def _demo_real(cfg: DictConfig) -> Path:
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s %(name)s] %(message)s")
    report = run_demo_real(
        seeds=cfg.seeds,
        outputs=cfg.outputs,
        overrides=training_overrides(cfg),
        real_pages=cfg.real_pages,
        real_images=cfg.real_images,
        real_val=cfg.real_val,
        folder=cfg.folder,
        mix_synthetic=cfg.mix_synthetic,
        pretrain_students=cfg.pretrain_students,
        pretrain_overrides=list(cfg.pretrain),
        methods=list(cfg.methods),
        teacher_from=cfg.teacher_from,
    )
    print(report)
    return report


def main(argv: Sequence[str] | None = None) -> Path:
    """``scripts/demo_real.py``: the command line (``argv`` None) or a list of overrides."""
    return run_tool("demo_real", _demo_real, argv)
