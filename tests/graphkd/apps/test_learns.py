"""Training learns, with and without distillation, on a tiny deterministic run (one thread).

The other end-to-end tests train 2-4 iterations and check files, keys and finiteness; a training
or distillation path that stopped learning (a wrong LR schedule, a loss of the wrong sign, labels
off by one, a teacher not loaded) would pass them all. This one trains the R50 teacher of
``pair=r50_r18`` from scratch for 300 iterations on 64 classic synthetic 128-px pages, then its
default ``kd=graphkd`` R18 student (no kd override) for 120 iterations, fixed seed, and scores
both on 16 val pages (COCO box AP). Each must reach a floor.

Measured once with these overrides and workers, as ``python tests/graphkd/apps/test_learns.py
0 1 2 3 4`` runs them (trainer.seed = dataset.data_seed = s; the sweep also trains the kd=none
student of the same seed, data order and schedule; the test reproduced seed 0 exactly): SWEEP
below; the two floors are half the smallest teacher and graphkd AP. 275 s at a load average of
~4 on 2 cores (teacher 0.71 s/iteration, student 0.39).

That the kd=graphkd student beats its kd=none baseline is NOT asserted: here it did on 2 of 5
seeds (graphkd - none: +5.5, -1.7, +2.3, -5.3, -0.2 AP; mean +0.1), and no setting tried within
a test's budget won on every seed (docs/ci.md, "The learning test"). It lost most where the
teacher was barely better than the kd=none student (seed 3: teacher 12.2, none 13.2).
The students warm up over 40 iterations (the teacher over 5): with 5, graphkd lost seed 0 by
6.6 AP (7.2 vs 13.8).
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import torch
from e2e_helpers import compose_cfg

from graphkd.apps.run import distill_worker, launch_job, teacher_worker
from graphkd.core.models import teacher_dir

LEARNS = [
    "dataset=synthetic",
    "pair=r50_r18",
    "dataset.style=classic",
    "dataset.num_train=64",
    "dataset.num_val=16",
    "dataset.page_size=128",
    "trainer=cpu",
    "trainer.min_size=128",
    "trainer.max_size=128",
    "trainer.ims_per_batch=2",
    "trainer.rois_per_image=32",
    "trainer.teacher_max_iter=300",
    "trainer.warmup_iters=5",
    "trainer.log_period=20",
    "trainer.checkpoint_period=1000",
]
# The students' schedule: a third of it warm-up, as in make demo (50 of 200).
STUDENTS = ["trainer.max_iter=120", "trainer.warmup_iters=40"]
SEED = 0
# (teacher, kd=none, kd=graphkd) AP per seed, measured once with this module's sweep.
SWEEP = {
    0: (22.89, 7.74, 13.27),
    1: (14.27, 5.26, 3.56),
    2: (16.82, 9.57, 11.84),
    3: (12.15, 13.21, 7.94),
    4: (10.77, 8.56, 8.39),
}
# x the smallest measured value: seeds spread 2-4x, and another CPU's kernels may round otherwise.
# An untrained detector scores ~0.
MARGIN = 0.5
TEACHER_MIN_AP = MARGIN * min(t for t, _, _ in SWEEP.values())
GRAPHKD_MIN_AP = MARGIN * min(kd for _, _, kd in SWEEP.values())


def learns_aps(root: Path, seed: int, kds: tuple[str, ...] = ("graphkd",)) -> dict[str, float]:
    """Train the LEARNS teacher and its ``kds`` students under ``root`` with ``seed`` (one
    thread); their val AP by role: ``teacher`` and each kd name."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        run = [
            *LEARNS,
            f"outputs={root}",
            f"dataset.root={root / 'data'}",
            f"trainer.seed={seed}",
            f"dataset.data_seed={seed}",
        ]
        cfg = compose_cfg(*run)
        aps = {"teacher": launch_job(teacher_worker, cfg, teacher_dir(cfg)).metrics["AP"]}
        for kd in kds:  # each loads the teacher above (cfg.teacher_checkpoint)
            cfg = compose_cfg(*run, *STUDENTS, f"kd={kd}")
            aps[kd] = launch_job(distill_worker, cfg, str(root / "students" / kd)).metrics["AP"]
        return {k: float(v) for k, v in aps.items()}
    finally:
        torch.set_num_threads(threads)


def test_teacher_learns_and_graphkd_student_learns(tmp_path):
    ap = learns_aps(tmp_path, SEED)
    assert ap["teacher"] >= TEACHER_MIN_AP, (
        f"teacher AP {ap['teacher']:.2f} < {TEACHER_MIN_AP:.2f} (seed {SEED})"
    )
    assert ap["graphkd"] >= GRAPHKD_MIN_AP, (
        f"kd=graphkd student AP {ap['graphkd']:.2f} < {GRAPHKD_MIN_AP:.2f} "
        f"(seed {SEED}, teacher {ap['teacher']:.2f})"
    )


if __name__ == "__main__":  # the seed sweep: python tests/graphkd/apps/test_learns.py 0 1 2 3 4
    for s in map(int, sys.argv[1:]):
        with tempfile.TemporaryDirectory() as tmp:
            aps = learns_aps(Path(tmp), s, kds=("none", "graphkd"))
            print(json.dumps({"seed": s, **{k: round(v, 2) for k, v in aps.items()}}))
