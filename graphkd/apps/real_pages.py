"""COCO AP of trained detectors on an annotated page set of the user's (e.g. converted DocBank).

Behind ``scripts/eval_pages.py`` (:func:`main`, usage in :data:`EVAL_PAGES_USAGE`) and the demo's
``real_pages=`` option: predict
every image a ground-truth json lists (the predictor resizes each page to the model's test size,
as in training; score threshold 0.05), give each detection the ground truth's id of its class
*name* (so a model trained on synthetic pages, whose contiguous ids start at 0, scores against a
json whose ids start at 1, and a json with extra or fewer classes works), drop detections of
classes the ground truth lacks, and score with pycocotools.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from omegaconf import MISSING

from graphkd.apps.tool import register_tool, run_tool

__all__ = ["EvalPagesOptions", "eval_pages", "evaluate_pages", "main", "resolve_pages"]

# Where a folder keeps its ground truth, first match wins: the DocBank converter's layout
# (COCO/all.json + images/), then a json at the top of the folder.
_JSON_CANDIDATES = ("COCO/all.json", "all.json", "annotations.json", "COCO/val.json", "val.json")


def resolve_pages(
    spec: str | os.PathLike, images: str | os.PathLike | None = None
) -> tuple[Path, Path]:
    """``(ground-truth json, image folder)`` of a page set given as a folder or a COCO json.

    A folder: ``COCO/all.json`` (``scripts/docbank_to_coco.py``'s layout), ``all.json``,
    ``annotations.json``, ``COCO/val.json``, ``val.json`` or its only ``*.json``; images in
    ``images`` when given, else ``<folder>/images``, else the folder itself. A json: images in
    ``images``, else ``images/`` next to the json or one level up (``COCO/all.json`` ->
    ``../images``), else the json's folder.
    """
    p = Path(spec)
    if p.is_dir():
        found = [p / c for c in _JSON_CANDIDATES if (p / c).is_file()]
        if not found:
            jsons = sorted(p.glob("*.json"))
            if len(jsons) != 1:
                raise FileNotFoundError(
                    f"real_pages={spec}: no ground truth found; expected one of "
                    f"{list(_JSON_CANDIDATES)} or exactly one *.json in the folder "
                    f"(found {[j.name for j in jsons]}). Pass the json itself instead."
                )
            found = jsons
        gt = found[0]
        dirs = [p / "images", p]
    elif p.is_file() and p.suffix == ".json":
        gt = p
        dirs = [p.parent / "images", p.parent.parent / "images", p.parent]
    else:
        raise FileNotFoundError(f"real_pages={spec}: neither a folder nor a COCO .json file")
    if images is not None:
        return gt, Path(images)
    data = json.loads(gt.read_text())
    if not data.get("images"):
        raise ValueError(f"{gt}: a COCO json without 'images'; nothing to evaluate")
    first = data["images"][0]["file_name"]
    for d in dirs:
        if (d / first).is_file():
            return gt, d
    raise FileNotFoundError(
        f"real_pages={spec}: the images of {gt} (e.g. {first}) are in none of "
        f"{[str(d) for d in dirs]}; name their folder with real_images=DIR"
    )


def evaluate_pages(
    checkpoint: str | os.PathLike,
    gt: str | os.PathLike,
    images: str | os.PathLike,
    out: str | os.PathLike | None = None,
    *,
    threads: int = 0,
    score_thresh: float = 0.05,
    progress: bool = True,
    backend: str = "eager",
    precision: str = "fp32",
    calibration: str | None = None,
) -> dict:
    """Predict and score every page of ``gt``; returns the metrics (AP, AP50, AP75, APs/m/l,
    per-class AP in percent, ``num_pages``, ``backend``, ``precision``). With ``out``: writes
    ``out/predictions.json`` and ``out/metrics.json``. ``threads`` > 0 sets the model's CPU
    threads (1 is fastest on a loaded machine, where two OpenMP threads spin against each
    other). ``backend`` / ``precision``: as ``graphkd-predict`` runs the model
    (:func:`graphkd.apps.backends.open_backend`); int8 is calibrated on the pages of
    ``calibration`` (folders / images / PDFs, never the pages scored here)."""
    from tqdm import tqdm

    from detectors.evaluation import evaluate_coco, to_jsonable
    from graphkd.apps.artifacts import resolve_model
    from graphkd.apps.predict import to_coco
    from graphkd.apps.visualize import load_image

    data = json.loads(Path(gt).read_text())
    gt_ids = {c["name"]: c["id"] for c in data["categories"]}
    files = resolve_model(checkpoint)
    unknown = [c for c in files.classes if c not in gt_ids]
    if len(unknown) == len(files.classes):
        raise ValueError(
            f"None of the model's classes {files.classes} is among {gt}'s categories "
            f"{list(gt_ids)}: this model was not trained for these labels."
        )
    model = _open_model(files, backend, precision, score_thresh, threads, calibration)
    preds = []
    for im in tqdm(data["images"], desc="eval", unit="page", disable=not progress):
        inst = model(load_image(Path(images) / im["file_name"], "BGR"))
        dets = to_coco(inst, im["id"], im["file_name"], files)
        preds += [dict(d, category_id=gt_ids[d["category_name"]]) for d in dets
                  if d["category_name"] in gt_ids]  # fmt: skip
    metrics = evaluate_coco(data, preds)
    metrics["num_pages"] = len(data["images"])
    metrics["checkpoint"], metrics["gt"] = str(files.weights), str(gt)
    metrics["backend"], metrics["precision"] = model.name, model.precision
    if unknown:
        metrics["dropped_classes"] = unknown
    metrics = to_jsonable(metrics)
    if out is not None:
        o = Path(out)
        o.mkdir(parents=True, exist_ok=True)
        (o / "predictions.json").write_text(json.dumps(preds))
        (o / "metrics.json").write_text(json.dumps(metrics, indent=2))
    return metrics


def _open_model(files, backend: str, precision: str, score_thresh: float, threads: int,
                calibration: str | None):  # fmt: skip
    """The model of ``files`` behind ``backend``; int8 needs ``calibration`` pages."""
    from graphkd.apps.backends import open_backend
    from graphkd.apps.predict import iter_pages, list_inputs

    if precision == "int8" and not calibration:
        raise ValueError(
            "precision=int8 needs calibration=DIR_OR_FILES: pages of your own data to calibrate "
            "the activation ranges on (e.g. the train pages), not the pages scored here."
        )
    pages = list_inputs(calibration) if calibration else []
    return open_backend(
        files, backend, precision, score_thresh=score_thresh, threads=threads,
        calibration=lambda: (p.image for p in iter_pages(pages)),
    )  # fmt: skip


EVAL_PAGES_USAGE = """COCO AP of a trained detector on an annotated page set (e.g. the converted DocBank pages).

    python scripts/eval_pages.py checkpoint=RUN_DIR gt=GT.json images=DIR out=DIR [threads=0]
    python scripts/eval_pages.py checkpoint=RUN_DIR gt=FOLDER out=DIR   # FOLDER/COCO/all.json + FOLDER/images

Predicts every image the ground-truth json lists (the predictor resizes each page to the
model's test size, INPUT.MIN_SIZE_TEST / MAX_SIZE_TEST, as in training; score threshold 0.05,
no drawing), gives each detection the ground truth's id of its class *name* (the model's own ids
are contiguous 0.. while COCO jsons count from 1), and writes out/predictions.json and
out/metrics.json (AP, AP50, AP75, APs/m/l, per-class AP, in percent). Detections of classes the
ground truth lacks are dropped. gt: a json, or a folder as :func:`resolve_pages` finds it
(images= then optional). threads: torch CPU threads (0: torch's default; 1 is faster on a loaded
machine, where two OpenMP threads spin against each other). backend / precision: the model as
graphkd-predict runs it (default eager fp32, the training's own evaluation); precision=int8
(ONNX) needs calibration=DIR: pages of your own data, not the pages scored:

    python scripts/eval_pages.py checkpoint=RUN_DIR gt=FOLDER out=DIR backend=onnx precision=int8 calibration=TRAIN_IMAGES
"""


@dataclass
class EvalPagesOptions:
    """``scripts/eval_pages.py``'s options (see :data:`EVAL_PAGES_USAGE`)."""

    checkpoint: str = MISSING
    gt: str = MISSING
    images: str | None = None
    out: str = MISSING
    threads: int = 0
    backend: str = "eager"  # eager | torchscript | onnx | auto, as graphkd-predict runs it
    precision: str = "fp32"  # fp32 | int8 (ONNX; needs calibration=)
    calibration: str | None = None  # int8: pages to calibrate on (folders, images, PDFs)


register_tool("eval_pages", EvalPagesOptions, EVAL_PAGES_USAGE)


def eval_pages(opts: EvalPagesOptions) -> dict:
    """Score ``opts.checkpoint`` on the pages of ``opts.gt``; prints and returns the metrics."""
    from detectors.evaluation import format_table

    gt, images = resolve_pages(opts.gt, opts.images)
    metrics = evaluate_pages(
        opts.checkpoint, gt, images, opts.out, threads=opts.threads, backend=opts.backend,
        precision=opts.precision, calibration=opts.calibration,
    )  # fmt: skip
    print(format_table(metrics))
    print(f"wrote {opts.out}/metrics.json")
    return metrics


def main(argv: Sequence[str] | None = None) -> dict | None:
    """``scripts/eval_pages.py``: the command line (``argv`` None) or a list of ``key=value``."""
    return run_tool("eval_pages", eval_pages, argv)
