"""``make demo``: teacher, baseline and distilled students on synthetic pages, and the report.

    python scripts/demo.py [seeds=1] [outputs=outputs] [real_pages=DIR_OR_COCO_JSON [real_images=DIR]]
        [any training override, e.g. trainer.max_iter=100]

Generates the synthetic pages, trains the R50-FPN teacher, the R18-FPN baseline (kd=none) and
the distilled students (kd=graphkd, kd=dsig) for each seed, evaluates them and writes
<outputs>/demo/REPORT.md with its figures. real_pages: annotated real pages (a COCO json, or a
folder with COCO/all.json + images/ as scripts/docbank_to_coco.py writes it); the teacher and
every seed's students are also scored on them (classes matched by name) and REPORT.md gains a
"Real pages" table (AP per seed, mean ± std). The options are :class:`DemoOptions`: the
training config plus the demo's own keys.

Every job goes through the same workers as the CLIs (``teacher_worker`` / ``distill_worker``)
with configs composed from ``configs/``. Finished jobs (those with the ``job_done.json`` marker
their worker writes last) are reused and killed ones resume, so a second ``make demo`` only
redoes what is missing.
"""

from __future__ import annotations

import logging
import os
import platform
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from detectron2.data import DatasetCatalog
from detectron2.data.detection_utils import read_image
from detectron2.engine import DefaultPredictor
from omegaconf import DictConfig

from detectors.config import load_detector_cfg
from graphkd.apps.artifacts import load_graph_builder, resolve_model
from graphkd.apps.jobs import ensure_student, ensure_teacher
from graphkd.apps.page_graphs import graph_for_page, page_input
from graphkd.apps.tool import register_tool, run_tool
from graphkd.apps.visualize import draw_detections, draw_graph_pair, side_by_side
from graphkd.core.config import Config
from graphkd.core.data import DataSplits
from graphkd.core.models import teacher_dir

__all__ = [
    "METHODS",
    "DemoOptions",
    "demo_figures",
    "eval_real_pages",
    "main",
    "real_pages_section",
    "run_demo",
]

logger = logging.getLogger("graphkd")

METHODS = ("none", "graphkd", "dsig")  # baseline first: the report compares against it


def demo_figures(
    out: Path, cfg: DictConfig, data: DataSplits, runs: Mapping[str, str]
) -> dict[str, Path]:
    """Training losses of the students (``runs``: kd -> the seed-0 run dir), detections of
    teacher / baseline / distilled on one val page (kd=none and kd=graphkd, else the first two
    students), and with a kd=graphkd student both graphs on it (PNGs under ``out``)."""
    from graphkd.apps.report import plot_losses

    figs = {"Training losses (seed 0)": plot_losses(runs, out / "losses.png")}
    page = DatasetCatalog.get(data.val)[0]
    image = read_image(page["file_name"], format="BGR")
    shown = [kd for kd in ("none", "graphkd") if kd in runs] or list(runs)[:2]
    paths = {"teacher": teacher_dir(cfg)} | {f"student kd={kd}": runs[kd] for kd in shown}
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

    if "graphkd" not in runs:
        return figs
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


def eval_real_pages(
    out: Path, spec: str, images: str | None, models: Mapping[str, str]
) -> tuple[dict[str, dict], Path]:
    """AP of each model (name -> run dir) on the user's real pages, cached in
    ``out/real_pages/<folder>/metrics.json`` (the name with ``_`` for spaces and ``-`` for
    ``=``) while the weights and the ground truth are unchanged; returns (name -> metrics, the
    ground-truth json)."""
    import json

    from graphkd.apps.real_pages import evaluate_pages, resolve_pages

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


def _student_name(kd: str, seed: int) -> str:
    """A student's name in :func:`eval_real_pages`: its folder is ``student_kd-<kd>_seed<N>``
    (as :func:`graphkd.apps.tables.demo.read_real_pages` reads it)."""
    return f"student kd={kd} seed{seed}"


def _adopt_seed0_scores(real_dir: Path, kd: str) -> None:
    """An earlier demo wrote seed 0's scores to ``student_kd-<kd>/``: moved to
    ``student_kd-<kd>_seed0/``, so :func:`eval_real_pages` reuses them while they are current."""
    old, new = real_dir / f"student_kd-{kd}", real_dir / f"student_kd-{kd}_seed0"
    if (old / "metrics.json").is_file() and not new.exists():
        old.rename(new)


def real_pages_section(
    out: Path,
    spec: str,
    images: str | None,
    teacher: str | os.PathLike,
    runs: Mapping[str, Mapping[int, str]],
    synthetic_ap: Mapping[str, list[float | None]],
) -> str:
    """REPORT.md's "Real pages" section: the teacher (its run dir) and every seed's students
    (``runs``: kd -> seed -> run dir) scored on the real pages ``spec`` (:func:`eval_real_pages`):
    AP per seed, mean ± std, and the mean synthetic val AP beside it (``synthetic_ap``: model ->
    AP per seed; "teacher" or the kd)."""
    from graphkd.apps.tables.demo import real_pages_table

    models = {"teacher": str(teacher)}
    for kd, by_seed in runs.items():
        if 0 in by_seed:
            _adopt_seed0_scores(out / "real_pages", kd)
        models |= {_student_name(kd, seed): run_dir for seed, run_dir in by_seed.items()}
    results, _ = eval_real_pages(out, spec, images, models)
    by_model = {"teacher": {0: results["teacher"]}} | {
        kd: {seed: results[_student_name(kd, seed)] for seed in by_seed}
        for kd, by_seed in runs.items()
    }
    about = (
        "The teacher and every seed's students on annotated real pages: COCO box AP in percent, "
        "classes matched by name, each page resized to the model's test size; AP50, AP75 and "
        "per-class AP are means over seeds. Models trained on synthetic pages only: the distance "
        "between the real-page AP and the synthetic val AP is what the synthetic data does not "
        "teach about real documents."
    )
    return f"## Real pages\n\n{about}\n\n{real_pages_table(by_model, synthetic_ap)}\n"


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
    names the image folder when it is elsewhere). The teacher and every seed's students are
    then also evaluated on it, classes matched by name, and REPORT.md gains a "Real pages"
    section (:func:`real_pages_section`).
    """
    from graphkd.apps.report import plot_ap_bars, write_report

    overrides = [f"outputs={outputs}"] + list(overrides or [])
    out = Path(outputs) / "demo"
    cfg, data, teacher = ensure_teacher(overrides)
    students: dict[str, list[dict]] = {kd: [] for kd in METHODS}
    runs: dict[str, dict[int, str]] = {kd: {} for kd in METHODS}
    for seed in range(int(seeds)):
        for kd in METHODS:
            runs[kd][seed] = str(out / "runs" / kd / f"seed{seed}")
            students[kd].append(ensure_student(overrides, kd, seed, runs[kd][seed]))
    figures = {"AP of teacher and students": plot_ap_bars(teacher, students, out / "ap.png")}
    figures.update(demo_figures(out, cfg, data, {kd: runs[kd][0] for kd in METHODS}))
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
        synthetic_ap = {"teacher": [teacher.get("AP")]} | {
            kd: [m.get("AP") for m in students[kd]] for kd in METHODS
        }
        section = real_pages_section(
            out, real_pages, real_images, teacher_dir(cfg), runs, synthetic_ap
        )
        report.write_text(report.read_text().rstrip("\n") + "\n\n" + section)
    logger.info("demo: wrote %s", report)
    return report


@dataclass
class DemoOptions(Config):
    """The training config (``configs/config.yaml``) plus the demo's own keys."""

    seeds: int = 1
    real_pages: str | None = None
    real_images: str | None = None


register_tool("demo", DemoOptions, __doc__)


def training_overrides(cfg: DictConfig) -> list[str]:
    """The command-line overrides a demo or comparison forwards to its jobs (``outputs=`` is
    passed on by :func:`run_demo` / ``run_compare`` themselves)."""
    return [o for o in cfg.overrides if o.lstrip("+").partition("=")[0] != "outputs"]


def _demo(cfg: DictConfig) -> Path:
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s %(name)s] %(message)s")
    report = run_demo(
        seeds=cfg.seeds,
        outputs=cfg.outputs,
        overrides=training_overrides(cfg),
        real_pages=cfg.real_pages,
        real_images=cfg.real_images,
    )
    print(report)
    return report


def main(argv: Sequence[str] | None = None) -> Path | None:
    """``scripts/demo.py``: the command line (``argv`` None) or a list of overrides."""
    return run_tool("demo", _demo, argv)
