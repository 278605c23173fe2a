"""One training job from a composed GraphKD config: teacher training, distillation, baseline.

Each ``*_worker`` runs in every process started by detectron2's ``launch`` and receives the
config already composed and resolved by the parent (a plain dict), so all ranks agree on it; it
turns it into the :class:`~graphkd.core.config.Config` dataclass tree once (:func:`_setup`), and
the core gets dataclasses from there on.
Only rank 0 writes files, each atomically, and ``job_done.json`` last (see :mod:`graphkd.apps.rundir`).
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

from detectors.build import build_detector, count_parameters
from graphkd.apps.package import (
    STUDENT_CHECKPOINT,
    write_labels,
    write_model_card,
    write_student_package,
)
from graphkd.apps.rundir import (
    CONFIG_RESOLVED,
    TEACHER_CONFIG,
    mark_done,
    open_run_dir,
    read_metrics,
    seconds_per_iter,
    write_metrics,
)
from graphkd.core import engine
from graphkd.core.checkpoint import write_text
from graphkd.core.config import Config, to_config
from graphkd.core.d2config import detector_cfg
from graphkd.core.data import DataSplits, prepare_data
from graphkd.core.models import build_distiller

__all__ = [
    "JobResult",
    "distill_worker",
    "launch_job",
    "log_to",
    "save_student",
    "teacher_worker",
]

logger = logging.getLogger("graphkd")


@dataclass
class JobResult:
    run_dir: str
    metrics: dict


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


def _setup(cfg_dict: dict) -> tuple[Config, DataSplits]:
    """The job's :class:`Config` (the one conversion of the resolved dict), its run directory
    opened, logging to it, and its registered data."""
    cfg = to_config(cfg_dict)
    # rank 0 also clears the done marker (not finished until this job says so again) and the
    # temporary files of a killed earlier job
    open_run_dir(cfg.run_dir, main_process=comm.is_main_process())
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
            params=count_parameters(model),
            train_seconds=train_s,
            precision=engine.precision_of(d2),
            role="teacher",
            run_dir=out,
        )
        write_text(os.path.join(out, TEACHER_CONFIG), d2.dump())
        # The label files let predict.py write the dataset's category ids for the teacher too.
        write_labels(
            Path(out),
            data.classes,
            data.text_classes,
            getattr(MetadataCatalog.get(data.val), "thing_dataset_id_to_contiguous_id", None),
        )
        write_metrics(out, metrics)
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
            seconds_per_iter=seconds_per_iter(out),
            precision=engine.precision_of(s_cfg),
            kd=cfg.kd.name,
            pair=cfg.pair.name,
            dataset=cfg.dataset.name,
            seed=cfg.trainer.seed,
            role="student",
            run_dir=out,
        )
        save_student(student, s_cfg, data, out)
        write_text(os.path.join(out, CONFIG_RESOLVED), OmegaConf.to_yaml(cfg, resolve=True))
        write_metrics(out, metrics)
        write_model_card(out)
        mark_done(out, role="student")  # last: the run is complete
        logger.info(
            "AP %.2f (AP50 %.2f) -> %s", metrics.get("AP", 0.0), metrics.get("AP50", 0.0), out
        )
    comm.synchronize()
    return JobResult(out, metrics)


def save_student(student: torch.nn.Module, s_cfg: CfgNode, data: DataSplits, out: str) -> str:
    """Student-only checkpoint + the detectron2 config and label maps that load it
    (:mod:`graphkd.apps.package`); returns the weights' path.

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
