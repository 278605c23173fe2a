"""One training job from a composed GraphKD config: teacher training, distillation, baseline.

Each ``*_worker`` runs in every process started by detectron2's ``launch`` and receives the
config already composed and resolved by the parent (a plain dict), so all ranks agree on it.
Only rank 0 writes files, each atomically, and ``job_done.json`` last (see :mod:`graphkd.rundir`).
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from detectron2.config import CfgNode
from detectron2.data import MetadataCatalog
from detectron2.engine import launch
from detectron2.utils import comm
from detectron2.utils.env import seed_all_rng
from detectron2.utils.logger import setup_logger
from omegaconf import DictConfig, OmegaConf

from detectors.build import build_detector, count_parameters, load_checkpoint
from detectors.config import get_detector_cfg
from graph import GraphBuilder

from . import engine
from .config import Config, to_config
from .data import DataSplits, prepare_data
from .distiller import Distiller
from .losses import KDLoss, KDLossConfig
from .package import (
    STUDENT_CHECKPOINT,
    STUDENT_CONFIG,
    write_labels,
    write_model_card,
    write_student_package,
)
from .rundir import (
    METRICS,
    clear_done,
    mark_done,
    read_metrics,
    read_train_log,
    write_json,
    write_text,
)

__all__ = [
    "STUDENT_CHECKPOINT",
    "STUDENT_CONFIG",
    "build_distiller",
    "detector_cfg",
    "distill_worker",
    "launch_job",
    "teacher_command",
    "teacher_worker",
]

logger = logging.getLogger("graphkd")


@dataclass
class JobResult:
    run_dir: str
    metrics: dict


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
        fpn_channels=model.fpn_channels or t.fpn_channels,
        anchor_sizes=list(model.anchor_sizes or t.anchor_sizes),
        aspect_ratios=list(model.anchor_ratios or t.anchor_ratios),
        weights=model.weights,
        device=t.device,
        test=OmegaConf.to_container(t.test, resolve=True),
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


# Overrides that change the student run but not which teacher it needs.
_STUDENT_ONLY = (
    "kd",
    "trainer.seed",
    "trainer.resume",
    "trainer.max_iter",
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
    return os.path.dirname(cfg.teacher_checkpoint)


def build_teacher(cfg: Config | DictConfig, data: DataSplits) -> torch.nn.Module:
    """The frozen teacher from ``cfg.teacher_checkpoint`` (clear error with the fix if missing)."""
    d2 = detector_cfg(cfg, "teacher", data)
    d2.MODEL.WEIGHTS = ""
    teacher = build_detector(d2)
    path = cfg.teacher_checkpoint
    hint = f"Train the teacher first:\n    {teacher_command(cfg)}"
    load_checkpoint(teacher, path, d2, hint=hint)
    teacher.eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    return teacher


def build_distiller(
    cfg: Config | DictConfig, data: DataSplits, teacher: torch.nn.Module | None = None
) -> tuple[Distiller, CfgNode]:
    """Student (+ teacher, graph builder and KD losses unless ``kd=none``) and its d2 config.

    ``teacher`` defaults to the frozen model loaded from ``cfg.teacher_checkpoint``.
    """
    s_cfg = detector_cfg(cfg, "student", data)
    seed_all_rng(cfg.trainer.seed)  # same student init for every kd method
    student = build_detector(s_cfg)
    method = cfg.kd.method
    if method == "none":
        return Distiller(student, None, None, method="none"), s_cfg
    if teacher is None:
        teacher = build_teacher(cfg, data)
    channels = s_cfg.MODEL.FPN.OUT_CHANNELS
    t_channels = teacher.backbone.output_shape()["p2"].channels
    loss_cfg = KDLossConfig.from_mapping(OmegaConf.to_container(cfg.kd.loss, resolve=True))
    kd_loss = KDLoss(
        loss_cfg,
        student_channels=channels,
        teacher_channels=t_channels,
        num_classes=len(data.classes),
    ).to(s_cfg.MODEL.DEVICE)
    builder = None
    if method in ("dsig", "graphkd"):
        g = OmegaConf.to_container(cfg.kd.graph, resolve=True)
        builder = GraphBuilder(
            text_classes=data.text_class_ids,
            num_classes=len(data.classes),
            teacher_channels=t_channels,
            student_channels=channels,
            **g,
        ).to(s_cfg.MODEL.DEVICE)
    distiller = Distiller(
        student, teacher, kd_loss, builder, method=method, start_iter=cfg.kd.start_iter
    )
    return distiller, s_cfg


_LOGGERS = {"detectron2": "d2", "graphkd": "gkd", "detectors": "detectors"}


def log_to(run_dir: str) -> None:
    """Send the loggers' records to ``run_dir/log.txt`` (and the console), and nowhere else.

    detectron2's ``setup_logger`` only adds handlers, so a process that runs several jobs
    (``make demo``) would otherwise copy every later job's log into each earlier job's log.txt
    and print each line once per job so far.
    """
    for name in _LOGGERS:
        logging.getLogger(name).handlers.clear()
    setup_logger.cache_clear()  # it is lru_cached: a cleared logger would not be set up again
    for name, abbrev in _LOGGERS.items():
        setup_logger(run_dir, distributed_rank=comm.get_rank(), name=name, abbrev_name=abbrev)


def _setup(cfg_dict: dict) -> tuple[DictConfig, DataSplits]:
    cfg = to_config(cfg_dict)
    os.makedirs(cfg.run_dir, exist_ok=True)
    if comm.is_main_process():  # not finished until this job says so again
        clear_done(cfg.run_dir)
    log_to(cfg.run_dir)
    data = prepare_data(cfg.dataset)
    return cfg, data


def teacher_worker(cfg_dict: dict) -> JobResult:
    """Train the teacher of ``cfg.pair`` on ``cfg.dataset`` into ``cfg.run_dir``.

    Callers run it with ``run_dir = teacher_dir(cfg)``, where distillation looks for it.
    """
    cfg, data = _setup(cfg_dict)
    out = cfg.run_dir
    d2 = detector_cfg(cfg, "teacher", data)
    seed_all_rng(cfg.trainer.seed)
    model = build_detector(d2)
    t0 = time.perf_counter()
    engine.train(
        model,
        d2,
        out,
        resume=cfg.trainer.resume,
        log_period=cfg.trainer.log_period,
        eval_model=model,
    )
    train_s = time.perf_counter() - t0
    # Every rank predicts its shard of the val set (detectron2's InferenceSampler) and the
    # evaluator gathers them: rank 0 alone gets the metrics and writes files.
    metrics = engine.evaluate(model, d2, data.val, out)
    if comm.is_main_process():
        metrics.update(
            params=count_parameters(model), train_seconds=train_s, role="teacher", run_dir=out
        )
        write_text(os.path.join(out, "config.yaml"), d2.dump())
        # The label files let predict.py write the dataset's category ids for the teacher too.
        write_labels(
            Path(out),
            data.classes,
            data.text_classes,
            getattr(MetadataCatalog.get(data.val), "thing_dataset_id_to_contiguous_id", None),
        )
        write_json(os.path.join(out, METRICS), metrics)
        mark_done(out, role="teacher")  # last: the run is complete
    comm.synchronize()
    return JobResult(out, metrics)


def distill_worker(cfg_dict: dict) -> JobResult:
    """Train the student of ``cfg.pair`` with ``cfg.kd`` (``none`` = baseline), then evaluate."""
    cfg, data = _setup(cfg_dict)
    distiller, s_cfg = build_distiller(cfg, data)
    out = cfg.run_dir
    t0 = time.perf_counter()
    engine.train(
        distiller,
        s_cfg,
        out,
        resume=cfg.trainer.resume,
        log_period=cfg.trainer.log_period,
        eval_model=distiller.student,  # validated every trainer.eval_period iterations
    )
    train_s = time.perf_counter() - t0
    student = distiller.student
    metrics = engine.evaluate(student, s_cfg, data.val, out)  # on every rank, as above
    if comm.is_main_process():
        metrics.update(
            params=count_parameters(student),
            train_seconds=train_s,
            seconds_per_iter=_seconds_per_iter(out),
            kd=cfg.kd.name,
            pair=cfg.pair.name,
            dataset=cfg.dataset.name,
            seed=cfg.trainer.seed,
            role="student",
            run_dir=out,
        )
        save_student(student, s_cfg, data, out)
        write_text(os.path.join(out, "config_resolved.yaml"), OmegaConf.to_yaml(cfg, resolve=True))
        write_json(os.path.join(out, METRICS), metrics)
        write_model_card(out)
        mark_done(out, role="student")  # last: the run is complete
        logger.info(
            "AP %.2f (AP50 %.2f) -> %s", metrics.get("AP", 0.0), metrics.get("AP50", 0.0), out
        )
    comm.synchronize()
    return JobResult(out, metrics)


def save_student(student: torch.nn.Module, s_cfg: CfgNode, data: DataSplits, out: str) -> str:
    """Student-only checkpoint + the detectron2 config and label maps that load it
    (:mod:`graphkd.package`); returns the weights' path.

    ``DefaultPredictor(detectors.config.load_detector_cfg(out/student_config.yaml))`` predicts
    with it; no teacher weights, adapters or statistics are inside.
    """
    config = write_student_package(
        student,
        s_cfg,
        out,
        data.classes,
        data.text_classes,
        # dataset category id -> detectron2 class index (set when the json was loaded)
        getattr(MetadataCatalog.get(data.val), "thing_dataset_id_to_contiguous_id", None),
    )
    return os.path.abspath(os.path.join(os.path.dirname(config), STUDENT_CHECKPOINT))


def _seconds_per_iter(out: str) -> float | None:
    if not os.path.isfile(os.path.join(out, engine.TRAIN_LOG)):
        return None
    times = [rec["time"] for rec in read_train_log(out) if "time" in rec]
    return sum(times) / len(times) if times else None


def launch_job(worker, cfg: DictConfig, run_dir: str):
    """Run ``worker`` in 1..N processes through detectron2's ``launch``.

    The config is resolved once here, in the parent, and the same dict goes to every rank.
    GPU: ``trainer.num_gpus`` processes per machine (NCCL). CPU: ``trainer.num_workers_cpu``
    processes (gloo).
    """
    cfg.run_dir = os.path.abspath(run_dir)
    cfg_dict = OmegaConf.to_container(cfg, resolve=True)
    t = cfg.trainer
    on_gpu = str(t.device).startswith("cuda")
    if on_gpu and not torch.cuda.is_available():
        raise RuntimeError(
            f"trainer.device={t.device} but no CUDA device is visible; use trainer=cpu"
        )
    procs = int(t.num_gpus if on_gpu else t.num_workers_cpu)
    if procs < 1:
        raise ValueError(f"need at least one process per machine, got {procs}")
    if t.ims_per_batch % (procs * t.num_machines):
        raise ValueError(
            f"trainer.ims_per_batch={t.ims_per_batch} must be divisible by the number of "
            f"processes ({procs * t.num_machines})"
        )
    if procs == 1 and t.num_machines == 1:
        return worker(cfg_dict)
    launch(
        worker,
        procs,
        num_machines=t.num_machines,
        machine_rank=t.machine_rank,
        dist_url=t.dist_url,
        args=(cfg_dict,),
    )
    # Workers' return values are not passed back by launch: read what rank 0 wrote.
    return JobResult(cfg.run_dir, read_metrics(cfg.run_dir))
