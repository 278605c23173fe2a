"""Training learns, with and without distillation, on a tiny deterministic run (one thread).

The other end-to-end tests train 2-4 iterations and check files, keys and finiteness; a training
or distillation path that stopped learning (a wrong LR schedule, a loss of the wrong sign, labels
off by one, a teacher not loaded) would pass them all. This one trains the R50 teacher of
``pair=r50_r18`` from scratch for 120 iterations on 16 classic synthetic 128-px pages, then its
default ``kd=graphkd`` R18 student (no kd override) for 80 iterations, fixed seed, and scores
both on 16 val pages (COCO box AP). Each must reach a floor.

Measured once with these overrides and workers, as ``python tests/graphkd/apps/test_learns.py
0 1 2 3 4`` runs them (trainer.seed = dataset.data_seed = s; the sweep also trains the kd=none
student of the same seed, data order and schedule): SWEEP below; the two floors are half the
smallest teacher and graphkd AP. About 1.3 minutes per seed for teacher + graphkd student on one
idle core.

That the kd=graphkd student beats its kd=none baseline is NOT asserted: at this size it did on 2
of 5 seeds (graphkd - none: -4.7, -0.8, +0.4, +0.1, -0.6 AP), and no setting tried within a
test's budget won on every seed (docs/ci.md, "The learning test"). The demo's schedule does show
it on every seed (docs/results.md: +10.7, +10.7, +14.0 AP over 3 seeds).
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
# The students' schedule: about a third of it warm-up, as in make demo (50 of 200).
STUDENTS = ["trainer.max_iter=80", "trainer.warmup_iters=25"]
SEED = 0
# (teacher, kd=none, kd=graphkd) AP per seed, measured once with this module's sweep.
SWEEP = {
    0: (10.89, 7.40, 2.66),
    1: (7.79, 3.58, 2.74),
    2: (8.43, 4.93, 5.36),
    3: (3.84, 2.55, 2.67),
    4: (5.94, 3.56, 2.98),
}
# x the smallest measured value: seeds spread 2-4x, and another CPU's kernels may round otherwise
# (on a later VM seeds 0-4 gave teachers 4.06-6.93 and graphkd students 1.92-6.17; docs/ci.md).
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
