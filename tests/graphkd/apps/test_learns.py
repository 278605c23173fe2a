"""Training learns: a tiny, deterministic teacher run must reach an AP floor on its val pages.

The other end-to-end tests train 2-4 iterations and check files, keys and finiteness; a training
path that stopped learning (a wrong LR schedule, a loss of the wrong sign, labels off by one)
would pass them all. This one trains the R50 teacher of ``pair=r50_r18`` from scratch for 120
iterations on 16 classic synthetic 128-px pages, one thread, fixed seed, and scores it on 16 val
pages.

Measured once (``python tests/graphkd/apps/test_learns.py 0 1 2 3 4``; trainer.seed =
dataset.data_seed = s): the teacher's AP per seed is SWEEP below; the floor is half the smallest.
75 s at a load average of ~4 on 2 cores (280 s at ~10).

A kd=graphkd student that beats its kd=none baseline is NOT asserted: on this teacher it did not
(60 student iterations, seed 0: graphkd 1.3 vs none 1.7 AP, seed 1: 0.9 vs 4.1; 120 iterations,
seed 0: 5.6 vs 11.0, where the student alone matches the 10.9-AP teacher). A teacher good enough
for distillation to pay off did not fit this test's budget (see docs/ci.md).
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import torch
from e2e_helpers import compose_cfg

from graphkd.apps.run import launch_job, teacher_worker
from graphkd.core.models import teacher_dir

LEARNS = [
    "dataset=synthetic",
    "pair=r50_r18",
    "dataset.style=classic",
    "dataset.num_train=16",
    "dataset.num_val=16",
    "dataset.page_size=128",
    "trainer=cpu",
    "trainer.min_size=128",
    "trainer.max_size=128",
    "trainer.ims_per_batch=2",
    "trainer.rois_per_image=32",
    "trainer.teacher_max_iter=120",
    "trainer.warmup_iters=5",
    "trainer.log_period=20",
    "trainer.checkpoint_period=1000",
]
SEED = 0
# Teacher AP per seed (trainer.seed = dataset.data_seed), measured once with this module's sweep.
SWEEP = {0: 10.89, 1: 7.79, 2: 8.43, 3: 3.84, 4: 5.94}
# x the smallest seed's AP (1.9): seeds spread 3x, and another CPU's kernels may round otherwise.
# An untrained detector scores ~0; this schedule scored 1.3 AP at iteration 40 (seed 0, 8 val pages).
MARGIN = 0.5
TEACHER_MIN_AP = MARGIN * min(SWEEP.values())


def teacher_ap(root: Path, seed: int) -> float:
    """Train the LEARNS teacher under ``root`` with ``seed`` (one thread); its val AP."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        cfg = compose_cfg(
            *LEARNS,
            f"outputs={root}",
            f"dataset.root={root / 'data'}",
            f"trainer.seed={seed}",
            f"dataset.data_seed={seed}",
        )
        return float(launch_job(teacher_worker, cfg, teacher_dir(cfg)).metrics["AP"])
    finally:
        torch.set_num_threads(threads)


def test_teacher_learns(tmp_path):
    ap = teacher_ap(tmp_path, SEED)
    assert ap >= TEACHER_MIN_AP, f"teacher AP {ap:.2f} < {TEACHER_MIN_AP:.2f} (seed {SEED})"


if __name__ == "__main__":  # the seed sweep: python tests/graphkd/apps/test_learns.py 0 1 2 3 4
    for s in map(int, sys.argv[1:]):
        with tempfile.TemporaryDirectory() as tmp:
            print(json.dumps({"seed": s, "teacher_AP": round(teacher_ap(Path(tmp), s), 2)}))
