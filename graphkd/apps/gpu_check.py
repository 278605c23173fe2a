"""The GPU check (``scripts/gpu_check.sh``): ``trainer=gpu`` end to end on one CUDA device.

Trains the teacher and the ``kd=graphkd`` / ``kd=dsig`` students with AMP (detectron2's
``AMPTrainer``) on 800-px synthetic pages, evaluates them, runs the graphkd student's eager
detections on CUDA and on CPU with the same weights, and prints one JSON object: AP, seconds per
iteration and peak GPU memory per job, and the CUDA-vs-CPU comparison. ``dry_run=True`` takes the
same path on CPU at toy sizes (``trainer=gpu`` with ``trainer.device=cpu``, no AMP): the default
test suite runs it, so the script cannot rot while no GPU is at hand.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from detectron2.data import DatasetCatalog
from detectron2.data.detection_utils import read_image
from omegaconf import DictConfig

from detectors.build import build_detector
from detectors.config import load_detector_cfg
from detectors.export import compare_detections, detect, preprocess
from graphkd.apps.cli import compose_config
from graphkd.apps.package import STUDENT_CONFIG
from graphkd.apps.run import distill_worker, launch_job, teacher_worker
from graphkd.apps.rundir import seconds_per_iter
from graphkd.apps.tool import register_tool, run_tool
from graphkd.core.config import Config
from graphkd.core.data import prepare_data
from graphkd.core.models import teacher_dir

__all__ = [
    "CUDA_TOLERANCE",
    "GpuCheckOptions",
    "compare_devices",
    "gpu_check",
    "job_overrides",
    "main",
]

STUDENTS = ("graphkd", "dsig")

# trainer=gpu (AMP, 512 RoIs per image, 4 loader workers) with the check's own run settings.
_COMMON = [
    "dataset=synthetic",
    "pair=r50_r18",
    "trainer=gpu",
    "trainer.checkpoint_period=100000",
    "trainer.eval_period=0",
]
# A few hundred AMP iterations on 800-px pages: ~3 minutes of one H100 in all (estimated).
GPU_OVERRIDES = [
    *_COMMON,
    "dataset.num_train=64",
    "dataset.num_val=16",
    "dataset.page_size=800",
    "trainer.min_size=800",
    "trainer.max_size=800",
    "trainer.ims_per_batch=4",
    "trainer.teacher_max_iter=300",
    "trainer.max_iter=200",
    "trainer.warmup_iters=50",
]
# The same path on CPU at toy sizes: no CUDA, no AMP, no loader processes.
DRY_RUN_OVERRIDES = [
    *_COMMON,
    "dataset.num_train=4",
    "dataset.num_val=2",
    "dataset.page_size=128",
    "trainer.device=cpu",
    "trainer.amp=false",
    "trainer.dataloader_workers=0",
    "trainer.min_size=128",
    "trainer.max_size=128",
    "trainer.ims_per_batch=2",
    "trainer.rois_per_image=32",
    "trainer.teacher_max_iter=2",
    "trainer.max_iter=2",
    "trainer.warmup_iters=1",
]
# CUDA vs CPU eager detections, both in float32 with TF32 off: kernels differ in summation order
# only, so boxes agree to well under a pixel and scores to the third decimal. (The export checks'
# 0.05 px / 1e-3 compare one runtime's CPU kernels with another's.)
CUDA_TOLERANCE = {"box_pixels": 0.5, "score": 2e-3}


def job_overrides(dry_run: bool, outputs: str | os.PathLike, extra: list[str] = ()) -> list[str]:
    """Hydra overrides of the check's jobs: GPU (or dry-run) sizes, ``outputs``, then ``extra``."""
    base = DRY_RUN_OVERRIDES if dry_run else GPU_OVERRIDES
    return [*base, f"outputs={outputs}", *extra]


def _peak_gpu_mb() -> float | None:
    return torch.cuda.max_memory_allocated() / 2**20 if torch.cuda.is_available() else None


def _run_job(worker, overrides: list[str], run_dir: str) -> dict:
    """One job; its AP, seconds per iteration (train log), wall time and peak GPU memory (MiB)."""
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    result = launch_job(worker, compose_config(overrides), run_dir)
    return {
        "AP": result.metrics["AP"],
        "AP50": result.metrics.get("AP50"),
        "seconds_per_iter": seconds_per_iter(run_dir),
        "wall_s": round(time.perf_counter() - t0, 1),
        "peak_gpu_mb": _peak_gpu_mb(),
        "run_dir": run_dir,
    }


def _val_pages(overrides: list[str], num: int) -> list[np.ndarray]:
    """The first ``num`` val pages of the check's dataset as ``(H, W, 3)`` uint8 arrays (BGR)."""
    data = prepare_data(compose_config(overrides).dataset)
    records = DatasetCatalog.get(data.val)[:num]
    return [np.ascontiguousarray(read_image(r["file_name"], format="BGR")) for r in records]


def compare_devices(run_dir: str | os.PathLike, pages: list[np.ndarray], device: str) -> dict:
    """Eager detections of a run's student package on ``device`` against CPU, page by page.

    Returns ``{"device", "tolerance", "pages": [compare_detections(...) per page], "match"}``.
    """
    tf32 = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        models = {}
        for dev in ("cpu", device):
            cfg = load_detector_cfg(str(Path(run_dir) / STUDENT_CONFIG))
            cfg.MODEL.DEVICE = dev
            models[dev] = build_detector(cfg).eval()  # loads MODEL.WEIGHTS, the student's
        checks = []
        for page in pages:
            x = preprocess(page, cfg)
            ref = detect(models["cpu"], x)
            got = [t.cpu() for t in detect(models[device], x.to(device))]
            box, score = CUDA_TOLERANCE["box_pixels"], CUDA_TOLERANCE["score"]
            checks.append(compare_detections(ref, tuple(got), box_atol=box, score_atol=score))
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = tf32
    match = all(c["match"] for c in checks) and sum(c["num_reference"] for c in checks) > 0
    return {"device": device, "tolerance": CUDA_TOLERANCE, "pages": checks, "match": match}


def gpu_check(outputs: str | os.PathLike, dry_run: bool = False, extra: list[str] = ()) -> dict:
    """Teacher, then each of :data:`STUDENTS`, then the CUDA-vs-CPU comparison; the report.

    ``report["ok"]`` is True when every AP is finite and the comparison matched.
    """
    if not dry_run and not torch.cuda.is_available():
        raise RuntimeError("the GPU check needs a CUDA device (GPU_CHECK_DRY_RUN=1 runs on CPU)")
    overrides = job_overrides(dry_run, outputs, extra)
    jobs = {"teacher": _run_job(teacher_worker, overrides, teacher_dir(compose_config(overrides)))}
    for kd in STUDENTS:
        run_dir = str(Path(outputs) / "runs" / kd)
        jobs[kd] = _run_job(distill_worker, [*overrides, f"kd={kd}"], run_dir)
    device = "cpu" if dry_run else "cuda"
    devices = compare_devices(jobs["graphkd"]["run_dir"], _val_pages(overrides, 4), device)
    ok = devices["match"] and all(math.isfinite(j["AP"]) for j in jobs.values())
    return {
        "ok": ok,
        "dry_run": dry_run,
        "device": torch.cuda.get_device_name() if device == "cuda" else "cpu",
        "torch": torch.__version__,
        "overrides": overrides,
        "jobs": jobs,
        "cuda_vs_cpu": devices,
    }


@dataclass
class GpuCheckOptions(Config):
    """The training config (its keys are forwarded to the check's jobs) plus the check's own."""

    # CPU, toy sizes, no AMP: the same path as on a GPU, as the test suite runs it.
    dry_run: bool = False
    # Where the check's runs and pages go.
    work: str = "outputs/gpu_check"
    # Also write the JSON report to this file.
    report: str | None = None


USAGE = """The GPU check: trainer=gpu teacher and students with AMP on one CUDA device; prints JSON.

    python -m graphkd.apps.gpu_check [dry_run=true] [work=DIR] [report=FILE] [training overrides]

scripts/gpu_check.sh installs the packages the device machine lacks, then runs this.
"""

register_tool("gpu_check", GpuCheckOptions, USAGE)


def _check(cfg: DictConfig) -> dict:
    report = gpu_check(os.path.abspath(cfg.work), cfg.dry_run, list(cfg.overrides))
    text = json.dumps(report, indent=1, default=str)
    print(text)
    if cfg.report:
        Path(cfg.report).write_text(text + "\n")
    if not report["ok"]:
        raise SystemExit(1)
    return report


def main(argv: Sequence[str] | None = None) -> dict | None:
    """``python -m graphkd.apps.gpu_check``: the command line (``argv`` None) or a list of
    overrides; exits with status 1 when the report is not ok."""
    return run_tool("gpu_check", _check, argv)


if __name__ == "__main__":
    main()
