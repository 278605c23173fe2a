"""Inference latency per page, teacher vs student for every pair, eager vs exported; prints JSON.

    python scripts/bench_latency.py [bench.sizes=320,800] [bench.pairs=r50_r18,...]
        [bench.threads=2] [bench.reps=5] [bench.formats=torchscript,onnx[,onnx_int8]]
        [bench.out=outputs/bench_latency.json] [hydra overrides, e.g. trainer.test.post_nms_topk=50]

Batch 1, ``torch.set_num_threads(bench.threads)`` (onnxruntime gets the same thread count), one
synthetic portrait page (8.5 x 11) resized as ``DefaultPredictor`` does. Each size takes the
model settings of the trainer preset that uses it: 320 px ``trainer=cpu`` (128-channel FPN, the
demo), 800 px ``trainer=gpu`` (teacher 256-channel FPN, student 128, anchors 32-512, real page
resolution); both on CPU. Models are randomly initialised with the pair's norms (speed does not
depend on the weights), except that the box predictor's background logit is raised by ``BG_BIAS`` so that, as
with a trained model, few RoIs pass the score threshold (a random head scores every class ~1/(K+1),
above 0.05, which would time a per-class NMS over every proposal that no real model runs).

Per model and size: ``eager`` (the preset's test-time settings, ``trainer.test``), ``eager_1000``
(detectron2's 1000 proposals after NMS, the setting before ``trainer.test`` existed) and each
exported format with the preset's settings (TorchScript via ``torch.jit.trace``, ONNX via
onnxruntime). All models of a size are timed in the same rounds (each round runs every variant
of every model once, after one warm-up round): reported per variant are the median, the minimum
and each round's time over ``bench.reps`` rounds, model time only (no image decoding or
resizing). Per pair: the speed-ups of the student over the teacher, each the median over the
rounds of the two times taken in that round, so that load drifting on a shared machine moves
both sides of a ratio alike. Compare numbers from one run.

AP mode, ``bench.checkpoint=RUN_DIR [bench.topk=1000,300,100,50] [bench.max_pages=N]
[dataset overrides]``: COCO AP
(the project's evaluation) and model seconds per page of a trained model on its val split with
each number of RPN proposals after NMS; the other test-time settings stay as saved.
"""

from __future__ import annotations

import gc
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig

from graphkd.apps.bench import machine_info, write_report
from graphkd.apps.cli import compose_config
from graphkd.apps.tool import register_tool, run_tool
from graphkd.core.config import Config

__all__ = ["LatencyBenchOptions", "ap_by_proposals", "bench_latency", "main", "model_variants"]

BG_BIAS = 4.0
TRAINER_FOR_SIZE = {320: "cpu", 800: "gpu"}
FORMATS = ("torchscript", "onnx", "onnx_int8")


@dataclass
class LatencyBench:
    """The benchmark's own keys (``bench.sizes=320,800``)."""

    sizes: list[int] = field(default_factory=lambda: [320, 800])
    pairs: list[str] = field(
        default_factory=lambda: ["r50_r18", "r101_r50", "r152_r101", "r101_eb0", "r50_mnv2"]
    )
    threads: int = 2
    reps: int = 5
    # torchscript, onnx, onnx_int8 (onnxruntime static quantisation, graphkd.apps.quantize)
    formats: list[str] = field(default_factory=lambda: ["torchscript", "onnx"])
    out: str = "outputs/bench_latency.json"
    # AP mode: a trained checkpoint evaluated on its dataset's val split at several
    # proposal counts after NMS (the dataset comes from the training overrides).
    checkpoint: str = ""
    topk: list[int] = field(default_factory=lambda: [1000, 300, 100, 50])
    max_pages: int = 0  # AP mode: evaluate on the first N val pages only (0 = all)
    quantize: bool = False  # AP mode: also with the int8 box head (detectors.export)


@dataclass
class LatencyBenchOptions(Config):
    """The training config (``configs/config.yaml``) plus ``bench.*``."""

    bench: LatencyBench = field(default_factory=LatencyBench)


register_tool("bench_latency", LatencyBenchOptions, __doc__)


def _build(cfg, role: str, post_nms_topk: int | None = None):
    """Random-init ``role`` model of composed ``cfg`` (eval, CPU) and its detectron2 config."""
    from detectors.build import build_detector
    from detectors.config import apply_inference_settings
    from detectors.datasets import get_spec
    from graphkd.core.d2config import detector_cfg
    from graphkd.core.data import DataSplits

    spec = get_spec("synthetic")
    data = DataSplits("bench_train", "bench_val", spec.classes, spec.text_classes)
    d2 = detector_cfg(cfg, role, data)
    d2.MODEL.DEVICE = "cpu"
    if post_nms_topk is not None:
        apply_inference_settings(d2, {"post_nms_topk": post_nms_topk})
    torch.manual_seed(0)
    model = build_detector(d2).eval()
    with torch.no_grad():
        model.roi_heads.box_predictor.cls_score.bias[-1] += BG_BIAS  # background is the last
    return model, d2


def _time_rounds(variants: dict, reps: int) -> dict:
    """Time every variant (key -> zero-argument callable) in ``reps`` rounds, one run of each
    per round, after one warm-up round: load drifts on the machine then hit all variants alike,
    and two variants' speed ratio can be taken round by round (:func:`_ratio`). Returns key ->
    ``{"median_s", "min_s", "times_s"}`` (``times_s``: one time per round)."""
    for fn in variants.values():
        fn()  # warm-up: allocator, lazy initialisation, TorchScript profiling run
    times: dict = {key: [] for key in variants}
    for _ in range(reps):
        for key, fn in variants.items():
            t0 = time.perf_counter()
            fn()
            times[key].append(time.perf_counter() - t0)
    return {
        key: {"median_s": statistics.median(t), "min_s": min(t), "times_s": t}
        for key, t in times.items()
    }


def _page(size: int) -> np.ndarray:
    from pagedata.synthetic import render_page

    return np.asarray(render_page(0, 0, image_size=round(size * 11 / 8.5))[0])[:, :, ::-1].copy()


def model_variants(
    cfg, role: str, size: int, formats: list[str], threads: int, tmp: Path
) -> tuple[dict, dict]:
    """``(info, variants)`` of one model of ``cfg`` at ``size`` (see the module docstring):
    ``info`` its backbone, parameters, input size (H, W), FPN width and detections on the page;
    ``variants`` variant name -> a zero-argument callable that runs the model on the page once.
    Exported files are written under ``tmp``."""
    from detectors.build import count_parameters
    from detectors.export import OnnxRunner, detect, export_onnx, export_torchscript, preprocess
    from graphkd.apps.quantize import quantize_onnx

    backbone = cfg.pair[role].backbone
    model, d2 = _build(cfg, role)
    m1000, _ = _build(cfg, role, post_nms_topk=1000)
    page = _page(size)
    x = preprocess(page, d2)
    variants = {"eager": partial(detect, model, x), "eager_1000": partial(detect, m1000, x)}
    if "torchscript" in formats:
        ts = torch.jit.load(str(export_torchscript(model, x, tmp / f"{backbone}.ts")))

        def run_ts():
            with torch.no_grad():
                return ts(x)

        variants["torchscript"] = run_ts
    if "onnx" in formats or "onnx_int8" in formats:
        path = export_onnx(model, x, tmp / f"{backbone}.onnx")
        if "onnx" in formats:
            variants["onnx"] = partial(OnnxRunner(path, threads), x)
        if "onnx_int8" in formats:  # calibrated on the timed page (speed, not accuracy)
            int8 = tmp / f"{backbone}.int8.onnx"
            quantize_onnx(path, int8, [page], d2, num_pages=1)
            variants["onnx_int8"] = partial(OnnxRunner(int8, threads), x)
    info = {
        "backbone": backbone,
        "params": count_parameters(model),
        "input_hw": list(x.shape[1:]),
        "fpn_channels": int(d2.MODEL.FPN.OUT_CHANNELS),
        "detections": int(len(detect(model, x)[1])),
    }
    return info, variants


def _ratio(slow: dict, fast: dict) -> float:
    """How many times faster ``fast`` ran than ``slow`` (two :func:`_time_rounds` entries): the
    median over the rounds of their time ratio, both timed in each round."""
    return statistics.median(a / b for a, b in zip(slow["times_s"], fast["times_s"]))


def _best(r: dict) -> str:
    """Fastest variant with the chosen test-time settings (eager or exported)."""
    return min(
        (k for k in ("eager", "torchscript", "onnx") if k in r), key=lambda k: r[k]["median_s"]
    )


def _first_pages(dataset: str, n: int) -> str:
    """Register the first ``n`` images of a registered dataset as its own dataset (the
    evaluator then builds the ground truth from those images only)."""
    from detectron2.data import DatasetCatalog, MetadataCatalog

    name = f"{dataset}_first{n}"
    if name not in DatasetCatalog.list():
        pages = DatasetCatalog.get(dataset)[:n]  # loading the json also sets the id map
        DatasetCatalog.register(name, lambda: pages)
        meta = MetadataCatalog.get(dataset)
        MetadataCatalog.get(name).set(
            thing_classes=list(meta.thing_classes),
            thing_dataset_id_to_contiguous_id=dict(meta.thing_dataset_id_to_contiguous_id),
        )
    return name


def ap_by_proposals(
    checkpoint: str,
    topks: list[int],
    overrides: list[str],
    max_pages: int = 0,
    quantize: bool = False,
) -> dict:
    """AP, AP50 and seconds per page of ``checkpoint`` at each ``MODEL.RPN.POST_NMS_TOPK_TEST``
    on its dataset's val split (the first ``max_pages`` pages when > 0); with ``quantize``, also
    with the int8 box head (``int8_<topk>`` entries)."""
    from detectors.config import apply_inference_settings, inference_settings
    from detectors.export import quantize_box_head
    from graphkd.apps.artifacts import load_model, resolve_model
    from graphkd.core.data import prepare_data
    from graphkd.core.engine import evaluate

    val = prepare_data(compose_config(overrides).dataset).val
    if max_pages > 0:
        val = _first_pages(val, max_pages)
    files = resolve_model(checkpoint)
    out = {"checkpoint": str(files.weights), "val": val, "saved": None, "by_topk": {}}
    out["saved"] = dict(inference_settings(files.cfg).__dict__)
    for k in topks:
        cfg = apply_inference_settings(files.cfg.clone(), {"post_nms_topk": k})
        for int8 in (False, True) if quantize else (False,):
            model = load_model(type(files)(**{**files.__dict__, "cfg": cfg})).cpu()
            if int8:
                quantize_box_head(model)
            metrics = evaluate(model, cfg, val, None)
            name = f"int8_{k}" if int8 else str(k)
            out["by_topk"][name] = {m: metrics.get(m) for m in ("AP", "AP50", "latency_s")}
            print(f"post_nms_topk={name}: {out['by_topk'][name]}", file=sys.stderr, flush=True)
    return out


def _pair_speedups(t: dict, s: dict, cfg) -> dict:
    """Teacher over student speed-ups of one pair (both models' timings from the same rounds)."""
    best = _best(s)
    return {
        "teacher": cfg.pair.teacher.backbone,
        "student": cfg.pair.student.backbone,
        "speedup_eager": _ratio(t["eager"], s["eager"]),
        "speedup_eager_1000": _ratio(t["eager_1000"], s["eager_1000"]),
        # fastest student deployment vs the teacher as it runs today in this project
        "speedup_best_vs_teacher_eager": _ratio(t["eager"], s[best]),
        "student_best": {"variant": best, "median_s": s[best]["median_s"]},
        # the same runtime on both sides: what the smaller model alone buys
        "speedup_onnx": _ratio(t["onnx"], s["onnx"]) if "onnx" in t and "onnx" in s else None,
    }


def latency_by_size(bench, overrides: list[str]) -> tuple[dict, dict, dict]:
    """(models, pairs, settings) per size: every model of ``bench.pairs`` at a size is built
    once and all of them are timed in the same rounds, so each pair's speed-ups compare times
    taken moments apart (on a shared machine, load that drifts between a teacher's timing and
    its student's would otherwise move the ratio more than the models do)."""
    formats = [f for f in bench.formats if f]
    models: dict[str, dict] = {}
    pairs: dict[str, dict] = {}
    settings: dict[str, dict] = {}
    for size in bench.sizes:
        preset = TRAINER_FOR_SIZE[size]
        cfgs = {
            pair: compose_config(
                [f"pair={pair}", f"trainer={preset}", "trainer.device=cpu", *overrides]
            )
            for pair in bench.pairs
        }
        infos: dict[str, dict] = {}
        variants: dict[tuple[str, str], object] = {}
        with tempfile.TemporaryDirectory() as tmp:
            for cfg in cfgs.values():
                settings[str(size)] = {"trainer": preset, **dict(cfg.trainer.test)}
                for role in ("teacher", "student"):
                    backbone = cfg.pair[role].backbone
                    if backbone not in infos:
                        print(f"[{size}px] {backbone} ...", file=sys.stderr, flush=True)
                        info, fns = model_variants(
                            cfg, role, size, formats, bench.threads, Path(tmp)
                        )
                        infos[backbone] = info
                        variants |= {(backbone, name): fn for name, fn in fns.items()}
            timed = _time_rounds(variants, bench.reps)
        variants.clear()
        gc.collect()
        for (backbone, name), stats in timed.items():
            infos[backbone][name] = stats
        for pair, cfg in cfgs.items():
            t, s = infos[cfg.pair.teacher.backbone], infos[cfg.pair.student.backbone]
            pairs.setdefault(str(size), {})[pair] = _pair_speedups(t, s, cfg)
        models[str(size)] = infos
    return models, pairs, settings


def bench_latency(opts: DictConfig) -> dict:
    """Run the benchmark (or AP mode with ``bench.checkpoint``); prints and returns the report."""
    bench, overrides = opts.bench, list(opts.overrides)
    unknown = [s for s in bench.sizes if s not in TRAINER_FOR_SIZE]
    if unknown:
        raise SystemExit(f"bench.sizes: {unknown} not in {sorted(TRAINER_FOR_SIZE)}")
    unknown = [f for f in bench.formats if f and f not in FORMATS]
    if unknown:
        raise SystemExit(f"bench.formats: {unknown} not in {list(FORMATS)}")
    torch.set_num_threads(bench.threads)
    if bench.checkpoint:
        ap = ap_by_proposals(
            bench.checkpoint, list(bench.topk), overrides, bench.max_pages, bench.quantize
        )
        report = {"threads": bench.threads, **ap}
        print(json.dumps(report, indent=2))
        return report
    models, pairs, settings = latency_by_size(bench, overrides)
    report = {
        "machine": {
            **machine_info(),
            "torch_threads": bench.threads,
            "load_avg_1min_at_end": os.getloadavg()[0],
        },
        "settings": {
            "reps": bench.reps,
            "shared_rounds": True,  # all models of a size timed in the same rounds
            "formats": [f for f in bench.formats if f],
            "bg_bias": BG_BIAS,
            "test": settings,
        },  # fmt: skip
        "models": models,
        "pairs": pairs,
    }
    return write_report(report, bench.out)


def main(argv: Sequence[str] | None = None) -> dict | None:
    """``scripts/bench_latency.py``: the command line (``argv`` None) or a list of overrides."""
    return run_tool("bench_latency", bench_latency, argv)
