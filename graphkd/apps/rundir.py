"""The run directory of a job: its file names, one owner each, and the finished-job marker.

Owners (only rank 0 writes):

- checkpoints and ``train_log.json``: the training engine (:mod:`graphkd.core.checkpoint`);
- ``coco_instances_results.json``: the evaluator (``detectors.evaluation.COCOBoxEvaluator``);
- ``metrics.json``, ``config_resolved.yaml`` (the composed GraphKD config), ``config.yaml`` (a
  teacher's detectron2 config) and the student package (``graphkd.apps.package``): the job
  (``graphkd.apps.run``);
- ``job_done.json``: the job, written LAST (:func:`mark_done`). A run directory is finished
  exactly when it holds this marker; a killed job never does (:func:`clear_done` removes it
  when a job starts).

Every file is written atomically (:func:`graphkd.core.checkpoint.atomic_write`); the temporary
files a killed process leaves are removed when a job next opens the directory
(:func:`open_run_dir`).
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any

from graphkd.core.checkpoint import TMP_SUFFIX, TRAIN_LOG, read_train_log, write_json

__all__ = [
    "CONFIG_RESOLVED",
    "DONE",
    "METRICS",
    "TEACHER_CONFIG",
    "clear_done",
    "is_done",
    "mark_done",
    "open_run_dir",
    "read_metrics",
    "remove_stale_temporaries",
    "seconds_per_iter",
    "write_metrics",
]

logger = logging.getLogger(__name__)

METRICS = "metrics.json"
DONE = "job_done.json"
CONFIG_RESOLVED = "config_resolved.yaml"  # a student run's composed, resolved GraphKD config
TEACHER_CONFIG = "config.yaml"  # a teacher run's detectron2 config


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    return True


def remove_stale_temporaries(run_dir: str | os.PathLike) -> list[Path]:
    """Remove the ``*.tmp<pid>`` files of :func:`atomic_write` left in ``run_dir`` by processes
    that no longer run (killed mid-write); returns the removed paths."""
    removed = []
    for path in Path(run_dir).glob("*.tmp*"):
        m = TMP_SUFFIX.search(path.name)
        if m and path.is_file() and not _pid_alive(int(m.group(1))):
            path.unlink(missing_ok=True)
            removed.append(path)
    if removed:
        logger.info("%s: removed %d temporary file(s) of killed writes", run_dir, len(removed))
    return removed


def open_run_dir(run_dir: str | os.PathLike, main_process: bool = True) -> Path:
    """Create ``run_dir`` for a job that starts (or resumes) in it.

    The main process also removes stale temporary files (:func:`remove_stale_temporaries`) and
    the finished-job marker (:func:`clear_done`): until the job says so again, it is not done.
    """
    path = Path(run_dir)
    path.mkdir(parents=True, exist_ok=True)
    if main_process:
        remove_stale_temporaries(path)
        clear_done(path)
    return path


# ------------------------------------------------------------------------ finished-job marker
def mark_done(run_dir: str | os.PathLike, **info: Any) -> None:
    """Mark ``run_dir`` finished: call after every other file of the job is written."""
    write_json(Path(run_dir) / DONE, {"finished_unix": time.time(), **info})


def is_done(run_dir: str | os.PathLike) -> bool:
    return (Path(run_dir) / DONE).is_file()


def clear_done(run_dir: str | os.PathLike) -> None:
    """Called when a job starts in ``run_dir``: until it finishes, the directory is not done."""
    Path(run_dir, DONE).unlink(missing_ok=True)


def read_metrics(run_dir: str | os.PathLike) -> dict:
    """``metrics.json`` of a run directory."""
    return json.loads((Path(run_dir) / METRICS).read_text())


def write_metrics(run_dir: str | os.PathLike, metrics: dict) -> None:
    """Write ``metrics.json`` (atomically, strict JSON); its one writer is the job, rank 0."""
    write_json(Path(run_dir) / METRICS, metrics)


def seconds_per_iter(run_dir: str | os.PathLike) -> float | None:
    """Mean logged ``time`` per iteration of a run's train log; None without a log or times."""
    if not (Path(run_dir) / TRAIN_LOG).is_file():
        return None
    times = [rec["time"] for rec in read_train_log(run_dir, require="time")]
    return sum(times) / len(times) if times else None
