"""Helpers of the graphkd end-to-end tests: tiny config overrides, Hydra compose, script env.

A plain module rather than a conftest.py: tests/graph has a conftest.py that its tests import with
``from conftest import ...``, which a second conftest.py on the path would shadow.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from graphkd.apps.cli import CONFIG_DIR, register_configs

REPO = Path(__file__).resolve().parents[3]

# Overrides shared by every end-to-end test (teacher and students alike).
TINY = [
    "dataset=synthetic",
    "pair=r50_r18",  # an R50 teacher, bigger than its R18 student, as in the paper
    "dataset.num_train=8",
    "dataset.num_val=4",
    "dataset.page_size=128",
    "trainer=cpu",
    "trainer.min_size=128",
    "trainer.max_size=128",
    "trainer.ims_per_batch=2",
    "trainer.rois_per_image=32",
    "trainer.teacher_max_iter=2",
    "trainer.max_iter=2",
    "trainer.warmup_iters=1",
    "trainer.log_period=1",
    "trainer.checkpoint_period=100",
    "trainer.seed=0",
]


def compose_cfg(*overrides: str) -> DictConfig:
    """configs/config.yaml composed with ``overrides`` through Hydra's compose API."""
    register_configs()
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        return compose(config_name="config", overrides=list(overrides))


def script_env() -> dict[str, str]:
    """Environment for ``scripts/*.py`` subprocesses: 1 thread each, the repo importable."""
    env = dict(os.environ)
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONHASHSEED="0")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


PYTHON = sys.executable
