"""``make demo``: teacher, baseline and distilled students on synthetic pages, and the report.

Every job goes through the same workers as the CLIs (``teacher_worker`` / ``distill_worker``)
with configs composed from ``configs/``. Finished jobs (those with the ``job_done.json`` marker
their worker writes last) are reused and killed ones resume, so a second ``make demo`` only
redoes what is missing.
"""

from __future__ import annotations

import logging
import os
import platform
from collections.abc import Mapping
from pathlib import Path

import torch
import yaml
from detectron2.data import DatasetCatalog
from detectron2.data.detection_utils import read_image
from detectron2.engine import DefaultPredictor
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, OmegaConf

from detectors.config import INFERENCE_KEYS, load_detector_cfg

from .artifacts import load_graph_builder, resolve_model
from .cli import CONFIG_DIR
from .data import DataSplits, prepare_data
from .run import (
    detector_cfg,
    distill_worker,
    launch_job,
    teacher_dir,
    teacher_worker,
)
from .rundir import is_done, read_metrics
from .visualize import draw_detections, draw_graph_pair, graph_for_page, page_input, side_by_side

__all__ = ["METHODS", "config_diff", "run_demo"]

logger = logging.getLogger("graphkd")

METHODS = ("none", "graphkd", "dsig")  # baseline first: the report compares against it


def _compose(overrides: list[str]) -> DictConfig:
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        return compose("config", overrides=overrides)


def _done(run_dir: str) -> dict | None:
    """The metrics of a finished job in ``run_dir``, None when it is missing or unfinished."""
    return read_metrics(run_dir) if is_done(run_dir) else None


def _flat(tree: Mapping, prefix: str = "") -> dict[str, object]:
    out: dict[str, object] = {}
    for key, value in tree.items():
        if isinstance(value, Mapping):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = list(value) if isinstance(value, (list, tuple)) else value
    return out


def config_diff(saved: Mapping, current: Mapping, ignore: tuple[str, ...] = ()) -> list[str]:
    """``"key: saved != current"`` for every dotted key whose value differs (``ignore``: prefixes)."""
    a, b = _flat(saved), _flat(current)
    return [
        f"{k}: {a.get(k, '<missing>')!r} != {b.get(k, '<missing>')!r}"
        for k in sorted(a.keys() | b.keys())
        if not k.startswith(ignore) and a.get(k) != b.get(k)
    ]


def _check_reusable(run_dir: str, diff: list[str]) -> None:
    """A finished (or half-finished: it would resume) run trained with other settings is an error,
    not something to reuse silently."""
    if diff:
        raise RuntimeError(
            f"{run_dir} holds a run trained with other settings ("
            + "; ".join(diff[:6])
            + (" ..." if len(diff) > 6 else "")
            + "). Delete that folder to retrain it, or pass outputs=<another folder>."
        )


def _teacher(overrides: list[str]) -> tuple[DictConfig, DataSplits, dict]:
    cfg = _compose(overrides + ["kd=none", "trainer.resume=true"])
    data = prepare_data(cfg.dataset)
    out = teacher_dir(cfg)
    saved = os.path.join(out, "config.yaml")
    if os.path.isfile(saved):
        current = detector_cfg(cfg, "teacher", data)
        with open(saved) as f:
            # Test-time settings do not change the trained weights.
            ignore = ("OUTPUT_DIR", *INFERENCE_KEYS.values())
            diff = config_diff(yaml.safe_load(f), yaml.safe_load(current.dump()), ignore)
        _check_reusable(out, diff)
    metrics = _done(out) if os.path.isfile(cfg.teacher_checkpoint) else None
    if metrics is None:
        logger.info("demo: training the teacher (%s) -> %s", cfg.pair.teacher.backbone, out)
        metrics = launch_job(teacher_worker, cfg, out).metrics
    else:
        logger.info("demo: reusing the teacher in %s", out)
    return cfg, data, metrics


def _student(overrides: list[str], kd: str, seed: int, run_dir: str) -> dict:
    cfg = _compose(overrides + [f"kd={kd}", f"trainer.seed={seed}", "trainer.resume=true"])
    saved = os.path.join(run_dir, "config_resolved.yaml")
    if os.path.isfile(saved):
        keep = ("dataset", "pair", "kd", "trainer")
        old = {k: v for k, v in OmegaConf.to_container(OmegaConf.load(saved)).items() if k in keep}
        old.get("dataset", {}).setdefault("style", "classic")  # runs made before styles existed
        diff = config_diff(
            old,
            {k: v for k, v in OmegaConf.to_container(cfg, resolve=True).items() if k in keep},
            ignore=("trainer.resume", "trainer.test."),
        )
        _check_reusable(run_dir, diff)
    metrics = _done(run_dir)
    if metrics is None:
        logger.info("demo: kd=%s seed=%d -> %s", kd, seed, run_dir)
        metrics = launch_job(distill_worker, cfg, run_dir).metrics
    return metrics


def _figures(out: Path, cfg: DictConfig, data: DataSplits, runs: dict[str, str]) -> dict[str, Path]:
    """Detections of teacher / baseline / distilled on one val page, and both graphs on it."""
    from .report import plot_losses

    figs = {"Training losses (seed 0)": plot_losses(runs, out / "losses.png")}
    page = DatasetCatalog.get(data.val)[0]
    image = read_image(page["file_name"], format="BGR")
    paths = {"teacher": teacher_dir(cfg)} | {
        f"student kd={kd}": runs[kd] for kd in ("none", "graphkd")
    }
    # DefaultPredictor applies each model's own test-time resize.
    predictors = {name: DefaultPredictor(resolve_model(p).cfg) for name, p in paths.items()}
    drawings, titles = [], []
    for name, predictor in predictors.items():
        inst = predictor(image)["instances"].to("cpu")
        drawings.append(draw_detections(image, inst, data.classes, score_thresh=0.5))
        titles.append(name)
    models = {name: p.model for name, p in predictors.items()}
    figs["Detections on a val page (score >= 0.5)"] = side_by_side(
        drawings, titles, out / "detections.png"
    )

    builder = load_graph_builder(
        models["teacher"], models["student kd=graphkd"], list(data.classes),
        list(data.text_classes), runs["graphkd"], kd="graphkd",
    )[0]  # fmt: skip
    s_cfg = load_detector_cfg(str(Path(runs["graphkd"]) / "student_config.yaml"))
    batched = page_input(page, s_cfg.INPUT.MIN_SIZE_TEST, s_cfg.INPUT.MAX_SIZE_TEST)
    t_graph, s_graph = graph_for_page(
        models["teacher"], models["student kd=graphkd"], builder, batched
    )
    figs["Instance graphs on the same page (teacher vs distilled student)"] = draw_graph_pair(
        image[:, :, ::-1], t_graph, s_graph, out / "graphs.png"
    )
    return figs


def _eval_real(
    out: Path, spec: str, images: str | None, models: Mapping[str, str]
) -> tuple[dict[str, dict], Path]:
    """AP of each model (name -> run dir) on the user's real pages, cached in
    ``out/real_pages/<name>/metrics.json`` while the weights and the ground truth are unchanged."""
    import json

    from .real_pages import evaluate_pages, resolve_pages

    gt, image_dir = resolve_pages(spec, images)
    results = {}
    for name, run_dir in models.items():
        dest = out / "real_pages" / name.replace(" ", "_").replace("=", "-")
        weights = resolve_model(run_dir).weights
        cached = dest / "metrics.json"
        if cached.is_file() and cached.stat().st_mtime >= max(
            os.path.getmtime(weights), os.path.getmtime(gt)
        ):
            m = json.loads(cached.read_text())
            if m.get("checkpoint") == str(weights) and m.get("gt") == str(gt):
                results[name] = m
                continue
        logger.info("demo: %s on the real pages %s", name, gt)
        results[name] = evaluate_pages(run_dir, gt, image_dir, dest, progress=False)
    return results, gt


def run_demo(
    seeds: int = 1,
    outputs: str = "outputs",
    overrides: list[str] | None = None,
    real_pages: str | None = None,
    real_images: str | None = None,
) -> Path:
    """Run the whole demo and write ``<outputs>/demo/REPORT.md``; returns its path.

    ``real_pages``: an annotated set of real pages (a COCO json, or a folder such as
    ``scripts/docbank_to_coco.py`` writes: ``COCO/all.json`` + ``images/``; ``real_images``
    names the image folder when it is elsewhere). The teacher and the seed-0 students are then
    also evaluated on it, classes matched by name, and REPORT.md gains a "Real pages" table.
    """
    from .report import plot_ap_bars, write_report

    overrides = [f"outputs={outputs}"] + list(overrides or [])
    out = Path(outputs) / "demo"
    cfg, data, teacher = _teacher(overrides)
    students: dict[str, list[dict]] = {kd: [] for kd in METHODS}
    seed0_runs: dict[str, str] = {}
    for seed in range(int(seeds)):
        for kd in METHODS:
            run_dir = str(out / "runs" / kd / f"seed{seed}")
            students[kd].append(_student(overrides, kd, seed, run_dir))
            if seed == 0:
                seed0_runs[kd] = run_dir
    figures = {"AP of teacher and students": plot_ap_bars(teacher, students, out / "ap.png")}
    figures.update(_figures(out, cfg, data, seed0_runs))
    t = cfg.trainer
    notes = [
        f"Machine: {platform.platform()}, {os.cpu_count()} CPUs, torch "
        f"{torch.__version__}, {torch.get_num_threads()} threads.",
        f"Data: {cfg.dataset.num_train} train / {cfg.dataset.num_val} val synthetic pages "
        f"(style {cfg.dataset.style}), "
        f"{cfg.dataset.page_size} px high; FPN width {t.fpn_channels} for both models. "
        f"Teacher {cfg.pair.teacher.backbone}-FPN: "
        f"{t.teacher_max_iter} iterations; students {cfg.pair.student.backbone}-FPN: "
        f"{t.max_iter} iterations, batch {t.ims_per_batch}, lr {t.base_lr}, "
        f"{t.rois_per_image} RoIs/image, seeds 0..{int(seeds) - 1} (same schedule, data order "
        "and init per seed for every method).",
    ]
    # Columns in the dataset's class order, not metrics.json's sorted keys.
    report = write_report(
        out, teacher, students, figures, baseline="none", notes=notes, class_names=data.classes
    )
    if real_pages:
        from .real_pages import real_pages_table

        models = {"teacher": teacher_dir(cfg)} | {
            f"student kd={kd}": seed0_runs[kd] for kd in METHODS
        }
        results, gt = _eval_real(out, real_pages, real_images, models)
        syn = {"teacher": teacher.get("AP")} | {
            f"student kd={kd}": students[kd][0].get("AP") for kd in METHODS
        }
        table = real_pages_table(results, syn, data.classes, gt)
        report.write_text(report.read_text().rstrip("\n") + "\n\n" + table)
    logger.info("demo: wrote %s", report)
    return report
