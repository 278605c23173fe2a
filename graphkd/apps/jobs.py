"""Jobs that are trained once and reused: a teacher, or a student of one method and seed.

:func:`ensure_teacher` / :func:`ensure_student` compose the config like the CLIs, reuse a finished
job (one with the ``job_done.json`` marker its worker writes last) trained with the same settings,
resume a killed one, and refuse a directory trained with other settings. ``make demo`` and
:mod:`graphkd.apps.compare` run their jobs through them.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping

import yaml
from omegaconf import DictConfig, OmegaConf

from detectors.config import INFERENCE_KEYS
from graphkd.apps.cli import compose_config
from graphkd.apps.run import distill_worker, launch_job, teacher_worker
from graphkd.apps.rundir import CONFIG_RESOLVED, TEACHER_CONFIG, is_done, read_metrics
from graphkd.core.config import canonical_widths, flat_keys
from graphkd.core.d2config import detector_cfg
from graphkd.core.data import DataSplits, prepare_data
from graphkd.core.models import teacher_dir

__all__ = ["MISSING", "config_changes", "config_diff", "ensure_student", "ensure_teacher"]

logger = logging.getLogger("graphkd")


def _done(run_dir: str) -> dict | None:
    """The metrics of a finished job in ``run_dir``, None when it is missing or unfinished."""
    return read_metrics(run_dir) if is_done(run_dir) else None


# A key one config has and the other lacks.
MISSING = "<missing>"


def config_changes(
    saved: Mapping, current: Mapping, ignore: tuple[str, ...] = ()
) -> dict[str, tuple[object, object]]:
    """Dotted key -> ``(saved, current)`` for every key whose value differs (``ignore``:
    prefixes; :data:`MISSING` for a key one side lacks)."""
    a, b = flat_keys(saved), flat_keys(current)
    return {
        k: (a.get(k, MISSING), b.get(k, MISSING))
        for k in sorted(a.keys() | b.keys())
        if not k.startswith(ignore) and a.get(k) != b.get(k)
    }


def config_diff(saved: Mapping, current: Mapping, ignore: tuple[str, ...] = ()) -> list[str]:
    """``"key: saved != current"`` for every dotted key whose value differs (``ignore``: prefixes)."""
    return [f"{k}: {a!r} != {b!r}" for k, (a, b) in config_changes(saved, current, ignore).items()]


def _check_reusable(run_dir: str, diff: list[str]) -> None:
    """A finished (or half-finished: it would resume) run trained with other settings is an error,
    not something to reuse silently."""
    if diff:
        raise RuntimeError(
            f"{run_dir} holds a run trained with other settings ("
            + "; ".join(diff[:6])
            + (" ..." if len(diff) > 6 else "")
            + "). Delete that folder to retrain it, or pass outputs=<another folder>."
        )


def ensure_teacher(overrides: list[str]) -> tuple[DictConfig, DataSplits, dict]:
    """The teacher of the config composed with ``overrides``: reused when its run directory holds
    a finished job trained with the same settings, else trained (or resumed).

    Returns:
        ``(cfg, data, metrics)``: the composed config, its data splits, the teacher's metrics.

    Raises:
        RuntimeError: the directory holds a teacher trained with other settings.
    """
    cfg = compose_config(overrides + ["kd=none", "trainer.resume=true"])
    data = prepare_data(cfg.dataset)
    out = teacher_dir(cfg)
    saved = os.path.join(out, TEACHER_CONFIG)
    if os.path.isfile(saved):
        current = detector_cfg(cfg, "teacher", data)
        with open(saved) as f:
            # Test-time settings do not change the trained weights.
            ignore = ("OUTPUT_DIR", *INFERENCE_KEYS.values())
            diff = config_diff(yaml.safe_load(f), yaml.safe_load(current.dump()), ignore)
        _check_reusable(out, diff)
    metrics = _done(out) if os.path.isfile(cfg.teacher_checkpoint) else None
    if metrics is None:
        logger.info("demo: training the teacher (%s) -> %s", cfg.pair.teacher.backbone, out)
        metrics = launch_job(teacher_worker, cfg, out).metrics
    else:
        logger.info("demo: reusing the teacher in %s", out)
    return cfg, data, metrics


def ensure_student(overrides: list[str], kd: str, seed: int, run_dir: str) -> dict:
    """The metrics of the student ``kd`` / ``seed`` in ``run_dir``: reused when finished with the
    same settings, else trained (or resumed) there. RuntimeError for other settings."""
    cfg = compose_config(overrides + [f"kd={kd}", f"trainer.seed={seed}", "trainer.resume=true"])
    saved = os.path.join(run_dir, CONFIG_RESOLVED)
    if os.path.isfile(saved):
        keep = ("dataset", "pair", "kd", "trainer")
        old = {k: v for k, v in OmegaConf.to_container(OmegaConf.load(saved)).items() if k in keep}
        old.get("dataset", {}).setdefault("style", "classic")  # runs made before styles existed
        now = {k: v for k, v in OmegaConf.to_container(cfg, resolve=True).items() if k in keep}
        diff = config_diff(
            canonical_widths(old),
            canonical_widths(now),
            ignore=("trainer.resume", "trainer.test."),
        )
        _check_reusable(run_dir, diff)
    metrics = _done(run_dir)
    if metrics is None:
        logger.info("demo: kd=%s seed=%d -> %s", kd, seed, run_dir)
        metrics = launch_job(distill_worker, cfg, run_dir).metrics
    return metrics
