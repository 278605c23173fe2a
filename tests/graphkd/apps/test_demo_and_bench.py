"""The main job (`make demo`) and the training benchmark, end to end at toy sizes."""

from __future__ import annotations

import json
import subprocess

from e2e_helpers import PYTHON, REPO, TINY, script_env

from graphkd.core.precision import training_precision

# The demo always uses its own pair/teacher choices; keep TINY's sizes but not its dataset/pair.
_SIZES = [o for o in TINY if not o.startswith(("dataset=", "pair=", "trainer=", "trainer.seed"))]


def test_demo_writes_report_and_figures(tmp_path, monkeypatch):
    import graphkd.apps.jobs as jobs
    from graphkd.apps.demo import METHODS, run_demo

    report = run_demo(seeds=2, outputs=str(tmp_path), overrides=_SIZES)
    text = report.read_text()
    for kd in METHODS:
        assert f"kd={kd}" in text
    assert "| teacher | 1 |" in text and "| 2 |" in text  # two seeds per student
    for png in ("ap.png", "losses.png", "detections.png", "graphs.png"):
        assert (report.parent / png).stat().st_size > 10_000
        assert f"]({png})" in text
    for kd in METHODS:
        for seed in (0, 1):
            metrics = json.loads(
                (tmp_path / "demo" / "runs" / kd / f"seed{seed}" / "metrics.json").read_text()
            )
            assert metrics["kd"] == kd and metrics["seed"] == seed and "AP" in metrics
    # A second run reuses every finished job: it launches none and rewrites no checkpoint.
    weights = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*.pth")}
    assert len(weights) >= 1 + 2 * len(METHODS)

    def no_training(worker, cfg, run_dir):
        raise AssertionError(f"the second demo run trained again: {worker.__name__} {run_dir}")

    monkeypatch.setattr(jobs, "launch_job", no_training)
    assert run_demo(seeds=2, outputs=str(tmp_path), overrides=_SIZES) == report
    assert {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*.pth")} == weights


def test_bench_prints_json_with_every_variant(tmp_path):
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [PYTHON, "scripts/bench.py", "bench.iters=1", f"bench.out={out}", *_SIZES],
        cwd=REPO, env=script_env(), capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(out.read_text())
    assert set(report["train_step"]) == {"student", "teacher_forward", "dsig", "graphkd"}
    # trainer=cpu asks for AMP: bfloat16 where the CPU has it natively, else fp32
    assert report["settings"]["precision"] == training_precision(True, "cpu")
    for r in report["train_step"].values():
        assert r["seconds_per_iter"] > 0 and r["peak_rss_mb"] > 100
    # TINY keeps the pair's R50 teacher, bigger than its R18 student.
    inference = report["inference"]
    assert (inference["teacher"]["backbone"], inference["student"]["backbone"]) == ("R50", "R18")
    assert inference["teacher"]["params"] > inference["student"]["params"] > 1_000_000
    assert inference["student"]["latency_s_per_page"] > 0
    assert isinstance(report["graph_overhead"], float)
    for method in ("graph", "dsig"):
        detail = report[f"{method}_overhead_detail"]
        assert detail["overhead"] == report[f"{method}_overhead"]
        assert (
            0 < detail["kd_forward_seconds"] < report["train_step"]["graphkd"]["seconds_per_iter"]
        )


def test_bench_steps_at_the_precision_training_uses():
    """bench with trainer.amp=true on a CPU with bfloat16 times bfloat16 forwards (one step here:
    emulated, hence slow, on CPUs without native bfloat16)."""
    import torch
    from detectron2.utils.events import EventStorage

    from graphkd.apps.bench.train_step import _setup, _train_step

    _, distiller, teacher, batch = _setup(_SIZES, "graphkd")
    dtypes = []
    for model in (distiller.student, teacher):
        model.backbone.register_forward_hook(lambda m, i, out: dtypes.append(out["p2"].dtype))
    step = _train_step("graphkd", distiller, teacher, batch, "bf16")
    with EventStorage(0):
        step()
    assert dtypes == [torch.bfloat16, torch.bfloat16]  # both models
    assert {p.dtype for p in distiller.student.parameters()} == {torch.float32}
