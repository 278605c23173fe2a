"""A real SIGKILL of ``scripts/distill.py`` between two checkpoints, then ``trainer.resume=true``:
the run finishes with one train-log record per iteration and is marked done only then.

kd=none needs no teacher; the log and checkpoint handling is the same for every method (the
in-process resume test in test_end_to_end.py checks that a resumed graphkd run has the weights of
an uninterrupted one). ~25 s on 2 idle cores, more on a busy machine. The log repair itself has
fast unit tests in test_rundir.py.
"""

from __future__ import annotations

import json
import math
import re
import signal
import subprocess
import time
from pathlib import Path

from e2e_helpers import PYTHON, REPO, TINY, script_env

from graphkd.apps.rundir import DONE
from graphkd.core.checkpoint import TRAIN_LOG, read_train_log

N_ITER, PERIOD = 10, 3  # checkpoints after iterations 2, 5, 8 (and model_final after 9)


def _logged(run_dir: Path) -> list[int]:
    path = run_dir / TRAIN_LOG
    return [r["iteration"] for r in read_train_log(path)] if path.is_file() else []


def _checkpoint_iter(run_dir: Path) -> int | None:
    path = run_dir / "last_checkpoint"
    m = re.fullmatch(r"model_(\d+)\.pth", path.read_text().strip()) if path.is_file() else None
    return int(m.group(1)) if m else None


def test_sigkill_between_checkpoints_then_resume(tmp_path):
    args = [
        *TINY,
        "kd=none",
        f"outputs={tmp_path / 'outputs'}",
        f"trainer.max_iter={N_ITER}",
        f"trainer.checkpoint_period={PERIOD}",
    ]
    run_dir = tmp_path / "outputs" / "runs" / "synthetic" / "r50_r18" / "none" / "seed0"
    cmd = [PYTHON, str(REPO / "scripts" / "distill.py"), *args]
    proc = subprocess.Popen(
        cmd, cwd=tmp_path, env=script_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and proc.poll() is None:
            ckpt = _checkpoint_iter(run_dir)
            if ckpt is not None and ckpt < N_ITER - 1 and max(_logged(run_dir)) > ckpt:
                proc.send_signal(signal.SIGKILL)
                break
            time.sleep(0.02)
    finally:
        if proc.poll() is None and proc.returncode is None:
            proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read().decode()[-3000:]
    proc.stderr.close()

    # Killed between two checkpoints: the log went past the weights on disk.
    ckpt, logged = _checkpoint_iter(run_dir), _logged(run_dir)
    assert ckpt is not None and max(logged) > ckpt, (ckpt, logged)
    assert not (run_dir / DONE).exists() and not (run_dir / "model_final.pth").exists()

    done = subprocess.run(
        [*cmd, "trainer.resume=true"],
        cwd=tmp_path,
        env=script_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"Resumed from {run_dir / f'model_{ckpt:07d}.pth'} at iteration {ckpt + 1}" in (
        (run_dir / "log.txt").read_text()
    )
    # Each iteration once, in order, each a whole training record.
    records = read_train_log(run_dir)
    assert [r["iteration"] for r in records] == list(range(N_ITER))
    lines = (run_dir / TRAIN_LOG).read_text().splitlines()
    assert len(lines) == N_ITER and all("total_loss" in json.loads(ln) for ln in lines)
    assert (run_dir / DONE).is_file()
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert math.isfinite(metrics["seconds_per_iter"]) and metrics["seconds_per_iter"] > 0
