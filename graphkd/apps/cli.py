"""Hydra entry points behind ``scripts/*.py`` (and the ``graphkd-*`` console scripts).

``graphkd-evaluate`` and ``graphkd-predict`` are the small key=value tools in
:mod:`graphkd.apps.evaluate` and :mod:`graphkd.apps.predict`.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

import hydra
from hydra import compose, initialize_config_dir
from hydra.core.config_store import ConfigStore
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from graphkd.core.config import Config


def find_config_dir() -> str:
    """The Hydra config directory: the copy installed inside the package (``graphkd/configs``,
    a wheel) or else the source checkout's ``configs/`` (``scripts/*.py``, editable installs)."""
    candidates = [
        Path(str(resources.files("graphkd") / "configs")),
        Path(__file__).resolve().parents[2] / "configs",
    ]
    for path in candidates:
        if (path / "config.yaml").is_file():
            return str(path)
    raise FileNotFoundError(
        "GraphKD's Hydra configs are missing: looked for config.yaml in "
        + " and ".join(str(p) for p in candidates)
        + ". Reinstall the package (pip install graphkd / pip install -e <checkout>)."
    )


def register_configs() -> None:
    """Register the schema so that ``configs/*.yaml`` are validated against it."""
    # The root schema types every group node, which is enough to validate the group files.
    ConfigStore.instance().store(name="config_schema", node=Config)


CONFIG_DIR = find_config_dir()

register_configs()
logger = logging.getLogger("graphkd")


def compose_config(overrides: Sequence[str] = ()) -> DictConfig:
    """``configs/config.yaml`` composed with ``overrides``, as the CLIs do, from library code
    (Hydra's compose API), also inside a running Hydra app such as a tool's command line."""
    if GlobalHydra.instance().is_initialized():  # the app's search path starts at CONFIG_DIR
        return compose(config_name="config", overrides=list(overrides))
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        return compose(config_name="config", overrides=list(overrides))


def compose_kd(kd: str, overrides: Sequence[str] = ()) -> DictConfig:
    """:func:`compose_config` with ``kd=<kd>``; ValueError naming ``configs/kd/`` when there is
    no such preset."""
    from hydra.errors import HydraException

    try:
        return compose_config([*overrides, f"kd={kd}"])
    except HydraException as e:
        raise ValueError(f"kd={kd!r}: no such preset in configs/kd/ ({e})") from None


def _run_dir() -> str:
    return HydraConfig.get().runtime.output_dir


def _record_overrides(cfg: DictConfig) -> None:
    cfg.overrides = list(HydraConfig.get().overrides.task)


def _distill(cfg: DictConfig) -> float:
    from graphkd.apps.run import distill_worker, launch_job

    _record_overrides(cfg)
    result = launch_job(distill_worker, cfg, _run_dir())
    return float(result.metrics.get("AP", 0.0))


def _train_teacher(cfg: DictConfig) -> float:
    from graphkd.apps.run import launch_job, teacher_worker
    from graphkd.core.models import teacher_dir

    _record_overrides(cfg)
    result = launch_job(teacher_worker, cfg, teacher_dir(cfg))
    return float(result.metrics.get("AP", 0.0))


def _hydra_main(task):
    return hydra.main(config_path=CONFIG_DIR, config_name="config", version_base="1.3")(task)


distill_main = _hydra_main(_distill)
train_teacher_main = _hydra_main(_train_teacher)


def train_student_main() -> None:
    """The baseline: ``distill`` with ``kd=none`` (the student alone, same schedule)."""
    if not any(a.startswith("kd=") for a in sys.argv[1:]):
        sys.argv.append("kd=none")
    distill_main()
