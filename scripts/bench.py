#!/usr/bin/env python
"""Training-step cost of distillation, measured side by side on this machine; prints JSON.

    python scripts/bench.py [hydra overrides, e.g. pair=r101_r50 trainer.min_size=256]
        [bench.iters=5] [bench.out=outputs/bench.json]

Each variant runs in its own process (so peak RSS is its own), on the same page-like batch at the
configured trainer size, with randomly initialised models (speed does not depend on weights):
  student          the student alone (kd=none)
  teacher_forward  student + frozen teacher forward on the same RoIs, no KD loss
  dsig             kd=dsig (cosine-edge graphs)
  graphkd          kd=graphkd (covariance split, merging, Mahalanobis edges, 3 graph losses)
graph_overhead = (graphkd - teacher_forward) / student; target <= 0.10 at trainer=cpu.
Also: inference latency per page and parameter counts of teacher and student.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import platform
import resource
import statistics
import sys
import time

VARIANTS = ("student", "teacher_forward", "dsig", "graphkd")


def _compose(overrides: list[str]):
    from hydra import compose, initialize_config_dir

    from graphkd.cli import CONFIG_DIR

    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        return compose("config", overrides=overrides)


def _setup(overrides: list[str], kd: str):
    import torch

    from detectors.build import build_detector
    from detectors.datasets import get_spec
    from detectors.dummy import make_dummy_batch
    from graphkd.data import DataSplits
    from graphkd.run import build_distiller, detector_cfg

    torch.manual_seed(0)
    cfg = _compose(overrides + [f"kd={kd}"])
    spec = get_spec("synthetic")
    data = DataSplits("bench_train", "bench_val", spec.classes, spec.text_classes)
    teacher = build_detector(detector_cfg(cfg, "teacher", data)).eval()
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


def _time_steps(step, iters: int) -> list[float]:
    for _ in range(2):  # warm-up: allocator, caches, running statistics
        step()
    times = []
    for _ in range(iters):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return times


def _run_variant(variant: str, overrides: list[str], iters: int, queue) -> None:
    import torch
    from detectron2.utils.events import EventStorage

    from detectors.roi_features import extract_roi_features

    kd = {"student": "none", "teacher_forward": "logit"}.get(variant, variant)
    cfg, distiller, teacher, batch = _setup(overrides, kd)
    distiller.train()
    params = [p for p in distiller.parameters() if p.requires_grad]
    opt = torch.optim.SGD(params, lr=1e-4, momentum=0.9)

    def step() -> None:
        if variant == "teacher_forward":
            losses = extract_roi_features(distiller.student, teacher, batch).losses
        else:
            losses = distiller(batch)
        opt.zero_grad()
        sum(losses.values()).backward()
        opt.step()

    with EventStorage(0):
        times = _time_steps(step, iters)
    queue.put(
        {
            "variant": variant,
            "seconds_per_iter": statistics.median(times),
            "seconds_per_iter_all": times,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        }
    )


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


def main(argv: list[str]) -> dict:
    bench = {"iters": 5, "out": "outputs/bench.json"}
    overrides = []
    for arg in argv:
        key, _, value = arg.partition("=")
        if key.startswith("bench."):
            name = key.removeprefix("bench.")
            if name not in bench:
                raise SystemExit(f"unknown option {key}; known: {['bench.' + k for k in bench]}")
            bench[name] = type(bench[name])(value)
        else:
            overrides.append(arg)
    cfg = _compose(overrides + ["kd=graphkd"])
    results = {v: _in_process(_run_variant, v, overrides, bench["iters"]) for v in VARIANTS}
    sec = {v: r["seconds_per_iter"] for v, r in results.items()}
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
            "iters": bench["iters"],
        },
        "train_step": results,
        "graph_overhead": (sec["graphkd"] - sec["teacher_forward"]) / sec["student"],
        "dsig_overhead": (sec["dsig"] - sec["teacher_forward"]) / sec["student"],
        "teacher_overhead": (sec["teacher_forward"] - sec["student"]) / sec["student"],
        "inference": _in_process(_latency, overrides, bench["iters"]),
    }
    os.makedirs(os.path.dirname(os.path.abspath(bench["out"])), exist_ok=True)
    with open(bench["out"], "w") as f:
        json.dump(report, f, indent=2)
    print(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main(sys.argv[1:])
