"""Training-step cost of distillation, measured side by side on this machine; prints JSON.

    python scripts/bench.py [hydra overrides, e.g. pair=r101_r50 trainer.min_size=256]
        [bench.iters=10] [bench.out=outputs/bench.json]

All variants train on the same page-like batch at the configured trainer size, with randomly
initialised models (speed does not depend on weights). Seconds per iteration come from one process
that runs the variants in rounds (one step each, rotating order), so load drifts on the machine hit
them alike; peak RSS comes from a separate process per variant. The variants:
  student          the student alone (kd=none)
  teacher_forward  student + frozen teacher forward on the same RoIs, no KD loss
  dsig             kd=dsig (cosine-edge graphs)
  graphkd          kd=graphkd (GT text split, merging, Mahalanobis edges, 3 graph losses)
graph_overhead = median over rounds of (graphkd - teacher_forward) / median(student) (target
<= 0.10 at trainer=cpu), with the interquartile range of those paired differences (on a 2-core VM
about +-10% of a step); graph_overhead_detail.kd_forward_seconds times the graph building + KD
losses (forward) directly. dsig_overhead likewise.
Also: inference latency per page and parameter counts of teacher and student (fp32).
trainer.amp=true times the training steps at the precision training would use
(settings.precision), e.g. bfloat16 on a CPU that has it.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import platform
import resource
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from omegaconf import DictConfig

from graphkd.apps.bench import write_report
from graphkd.apps.tool import register_tool, run_tool
from graphkd.core.config import Config

__all__ = ["TrainStepBenchOptions", "main", "train_step_bench"]

VARIANTS = ("student", "teacher_forward", "dsig", "graphkd")


def _precision(cfg) -> str:
    from graphkd.core.precision import training_precision

    return training_precision(bool(cfg.trainer.amp), cfg.trainer.device)


def _setup(overrides: list[str], kd: str, teacher=None):
    import torch

    from detectors.build import build_detector
    from detectors.datasets import get_spec
    from detectors.dummy import make_dummy_batch
    from graphkd.apps.cli import compose_config
    from graphkd.core.d2config import detector_cfg
    from graphkd.core.data import DataSplits
    from graphkd.core.models import build_distiller

    torch.manual_seed(0)
    cfg = compose_config(overrides + [f"kd={kd}"])
    spec = get_spec("synthetic")
    data = DataSplits("bench_train", "bench_val", spec.classes, spec.text_classes)
    if teacher is None:
        teacher = build_detector(detector_cfg(cfg, "teacher", data)).eval()
    torch.manual_seed(1)  # every variant's student starts from the same weights
    distiller, s_cfg = build_distiller(cfg, data, teacher=teacher if kd != "none" else None)
    size = int(cfg.trainer.min_size)
    batch = make_dummy_batch(
        num_images=int(cfg.trainer.ims_per_batch),
        height=size,
        width=round(size * 8.5 / 11),
        num_classes=len(data.classes),
        boxes_per_image=8,
    )
    return cfg, distiller, teacher, batch


def _train_step(variant: str, distiller, teacher, batch, precision: str = "fp32"):
    """One optimizer step of ``variant`` (see the module docstring) as a closure; the forward
    under autocast at ``precision`` (:func:`graphkd.core.precision.training_precision`)."""
    import torch

    from detectors.roi_features import extract_roi_features
    from graphkd.core.precision import autocast

    distiller.train()
    params = [p for p in distiller.parameters() if p.requires_grad]
    opt = torch.optim.SGD(params, lr=1e-4, momentum=0.9)

    def step() -> None:
        with autocast(precision, distiller.device.type):
            if variant == "teacher_forward":
                losses = extract_roi_features(distiller.student, teacher, batch).losses
            else:
                losses = distiller(batch)
        opt.zero_grad()
        sum(losses.values()).backward()
        opt.step()

    return step


def _kd_of(variant: str) -> str:
    return {"student": "none", "teacher_forward": "logit"}.get(variant, variant)


def _peak_rss(variant: str, overrides: list[str], queue) -> None:
    """Peak RSS of a process that only builds and trains ``variant`` (2 steps)."""
    from detectron2.utils.events import EventStorage

    cfg, distiller, teacher, batch = _setup(overrides, _kd_of(variant))
    step = _train_step(variant, distiller, teacher, batch, _precision(cfg))
    with EventStorage(0):
        step()
        step()
    queue.put({"peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024})


def _interleaved(overrides: list[str], iters: int, queue) -> None:
    """Seconds per step of every variant, measured in rounds (one step of each per round, the
    order rotating) in one process, so that machine load drifts hit all variants alike."""
    from detectron2.utils.events import EventStorage

    steps, teacher = {}, None
    kd_forward: dict[str, list[float]] = {}
    for variant in VARIANTS:
        cfg, distiller, teacher, batch = _setup(overrides, _kd_of(variant), teacher)
        steps[variant] = _train_step(variant, distiller, teacher, batch, _precision(cfg))
        if distiller.builder is not None:
            kd_forward[variant] = _timed(distiller, "_kd_losses")
    times: dict[str, list[float]] = {v: [] for v in VARIANTS}
    with EventStorage(0):
        for r in range(iters + 2):  # two warm-up rounds: allocator, caches, running statistics
            order = VARIANTS[r % len(VARIANTS) :] + VARIANTS[: r % len(VARIANTS)]
            for variant in order:
                t0 = time.perf_counter()
                steps[variant]()
                if r >= 2:
                    times[variant].append(time.perf_counter() - t0)
    for calls in kd_forward.values():
        del calls[:2]  # the warm-up rounds
    queue.put({"step": times, "kd_forward": kd_forward})


def _timed(obj, method: str) -> list[float]:
    """Wrap ``obj.method`` so that each call's duration is appended to the returned list."""
    calls: list[float] = []
    inner = getattr(obj, method)

    def wrapper(*args, **kwargs):
        t0 = time.perf_counter()
        out = inner(*args, **kwargs)
        calls.append(time.perf_counter() - t0)
        return out

    setattr(obj, method, wrapper)
    return calls


def _time_steps(step, iters: int) -> list[float]:
    for _ in range(2):  # warm-up
        step()
    times = []
    for _ in range(iters):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return times


def _latency(overrides: list[str], iters: int, queue) -> None:
    import torch

    from detectors.build import count_parameters

    cfg, distiller, teacher, batch = _setup(overrides, "graphkd")
    out = {}
    page = [{k: v for k, v in batch[0].items() if k != "instances"}]
    for name, model in (("teacher", teacher), ("student", distiller.student)):
        model.eval()
        with torch.no_grad():
            times = _time_steps(lambda m=model: m(page), iters)
        out[name] = {
            "backbone": cfg.pair[name].backbone,
            "params": count_parameters(model),
            "latency_s_per_page": statistics.median(times),
        }
    queue.put({"variant": "latency", **out})


def _in_process(target, *args) -> dict:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=target, args=(*args, queue))
    proc.start()
    result = queue.get()
    proc.join()
    return result


@dataclass
class TrainStepBench:
    """The benchmark's own keys (``bench.iters=10``)."""

    iters: int = 10
    out: str = "outputs/bench.json"


@dataclass
class TrainStepBenchOptions(Config):
    """The training config (``configs/config.yaml``) plus ``bench.*``."""

    bench: TrainStepBench = field(default_factory=TrainStepBench)


register_tool("bench", TrainStepBenchOptions, __doc__)


def train_step_bench(opts: DictConfig) -> dict:
    """Measure as the module docstring says; writes ``bench.out`` and returns the report."""
    from graphkd.apps.cli import compose_config

    overrides = list(opts.overrides)
    bench = opts.bench
    cfg = compose_config(overrides + ["kd=graphkd"])
    measured = _in_process(_interleaved, overrides, bench.iters)
    times, kd_forward = measured["step"], measured["kd_forward"]
    student = statistics.median(times["student"])

    def overhead(variant: str) -> dict:
        # Paired per round: (variant - teacher_forward) in the same round, over the student alone.
        paired = [a - b for a, b in zip(times[variant], times["teacher_forward"])]
        q1, _, q3 = statistics.quantiles(paired, n=4) if len(paired) > 1 else paired * 3
        fwd = statistics.median(kd_forward[variant])
        return {
            "overhead": statistics.median(paired) / student,
            "overhead_iqr": [q1 / student, q3 / student],
            # Graph building + KD losses, forward only, timed directly (no pairing noise).
            "kd_forward_seconds": fwd,
            "kd_forward_fraction": fwd / student,
        }

    results = {
        v: {
            "seconds_per_iter": statistics.median(times[v]),
            "seconds_per_iter_all": times[v],
            **_in_process(_peak_rss, v, overrides),
        }
        for v in VARIANTS
    }
    report = {
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor(),
            "cpus": os.cpu_count(),
            "torch_threads": __import__("torch").get_num_threads(),
        },
        "settings": {
            "pair": cfg.pair.name,
            "ims_per_batch": cfg.trainer.ims_per_batch,
            "min_size": cfg.trainer.min_size,
            "rois_per_image": cfg.trainer.rois_per_image,
            "fpn_channels": cfg.trainer.fpn_channels,
            # What trainer.amp gives on this machine: fp16 on CUDA, bf16 on a CPU with native
            # bfloat16, else fp32 (the forward under autocast; fp16 without loss scaling here).
            "precision": _precision(cfg),
            "iters": bench.iters,
        },
        "train_step": results,
        "graph_overhead": (graphkd := overhead("graphkd"))["overhead"],
        "graph_overhead_detail": graphkd,
        "dsig_overhead": (dsig := overhead("dsig"))["overhead"],
        "dsig_overhead_detail": dsig,
        "teacher_overhead": statistics.median(times["teacher_forward"]) / student - 1.0,
        "inference": _in_process(_latency, overrides, bench.iters),
    }
    return write_report(report, bench.out)


def main(argv: Sequence[str] | None = None) -> dict | None:
    """``scripts/bench.py``: the command line (``argv`` None) or a list of overrides."""
    return run_tool("bench", train_step_bench, argv)
