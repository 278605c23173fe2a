"""COCO box evaluation with pycocotools only (works without ``detectron2._C``).

``evaluate_coco`` returns ``{"AP", "AP50", "AP75", "APs", "APm", "APl": float (percent, like
detectron2), "per_class": {class name: AP percent}}``. A metric with no ground truth to
measure (e.g. APs on a dataset without small objects) is NaN, as in detectron2; JSON writers
turn NaN into null.

Why not detectron2's ``COCOEvaluator``: importing ``detectron2.evaluation`` imports its
C++-accelerated COCOeval (``fast_eval_api``), which needs ``detectron2._C``; the GPU machines
run detectron2's pure-Python code without it. ``COCOBoxEvaluator`` therefore subclasses
detectron2's ``DatasetEvaluator`` when that imports and otherwise an interface-identical local
base class (``reset / process / evaluate``; detectron2's ``inference_on_dataset`` duck-types).
"""

from __future__ import annotations

import contextlib
import copy
import io
import itertools
import json
import logging
import math
import os
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

logger = logging.getLogger(__name__)

__all__ = ["METRICS", "evaluate_coco", "COCOBoxEvaluator", "format_table", "to_jsonable"]

METRICS = ("AP", "AP50", "AP75", "APs", "APm", "APl")

try:  # needs detectron2._C (see module docstring)
    from detectron2.evaluation.evaluator import DatasetEvaluator as _EvaluatorBase
except ImportError:

    class _EvaluatorBase:  # type: ignore[no-redef]
        """Stand-in for detectron2's DatasetEvaluator when detectron2.evaluation can't import."""

        def reset(self):
            pass

        def process(self, inputs, outputs):
            pass

        def evaluate(self):
            pass


def _load_gt(gt) -> COCO:
    if isinstance(gt, COCO):
        return gt
    with contextlib.redirect_stdout(io.StringIO()):
        if isinstance(gt, dict):
            coco = COCO()
            coco.dataset = copy.deepcopy(gt)
            coco.createIndex()
            return coco
        path = Path(gt)
        if not path.is_file():
            raise FileNotFoundError(f"Ground-truth json not found: {path}")
        try:
            return COCO(str(path))
        except json.JSONDecodeError as e:
            raise ValueError(f"Ground-truth file {path} is not valid json: {e}") from None


def _load_predictions(predictions) -> list[dict]:
    if isinstance(predictions, (str, os.PathLike)):
        path = Path(predictions)
        if not path.is_file():
            raise FileNotFoundError(f"Predictions json not found: {path}")
        try:
            predictions = json.loads(path.read_text())
        except json.JSONDecodeError as e:
            raise ValueError(f"Predictions file {path} is not valid json: {e}") from None
    if isinstance(predictions, dict) and "annotations" in predictions:
        predictions = predictions["annotations"]
    if not isinstance(predictions, list):
        raise ValueError(
            "Predictions must be a list of {image_id, category_id, bbox [x, y, w, h], score} "
            f"dicts (detectron2's coco_instances_results.json), got {type(predictions).__name__}."
        )
    for i, p in enumerate(predictions[:1] + predictions[-1:]):
        missing = {"image_id", "category_id", "bbox", "score"} - set(p)
        if missing:
            raise ValueError(f"Prediction {i} lacks keys {sorted(missing)}: {p}")
    return predictions


def _nan_if_negative(v: float) -> float:
    return float(v * 100) if v >= 0 else float("nan")


# More than this fraction of predictions with category ids unknown to the ground truth is an
# error, not a warning: the ids are in another numbering (e.g. 0-based against 1-based).
MAX_UNKNOWN_CATEGORY_FRACTION = 0.5


def evaluate_coco(
    gt,
    predictions,
    class_names: Sequence[str] | None = None,
    img_ids: Sequence[int] | None = None,
) -> dict:
    """COCO bbox AP of ``predictions`` against ``gt``.

    Args:
        gt: COCO json path, COCO dict or ``pycocotools.coco.COCO``.
        predictions: list of ``{"image_id", "category_id", "bbox": [x, y, w, h], "score"}`` in
            the GT's category ids, or a path to such a json (detectron2's
            ``coco_instances_results.json``).
        class_names: names for ``per_class`` in GT category-id order (default: GT names).
        img_ids: evaluate on these GT images only (default: all).

    Predictions whose category (or image) is absent from the GT are dropped with a warning that
    counts them, unless most of them (> ``MAX_UNKNOWN_CATEGORY_FRACTION``) have an unknown
    category: then the ids are in another numbering and a ``ValueError`` names both id sets.
    No predictions: AP 0 for every class with ground truth, no crash.
    """
    coco_gt = _load_gt(gt)
    preds = _load_predictions(predictions)
    cat_ids = sorted(coco_gt.getCatIds())
    if class_names is not None and len(class_names) != len(cat_ids):
        raise ValueError(
            f"class_names has {len(class_names)} names, the GT has {len(cat_ids)} categories"
        )
    names = (
        list(class_names) if class_names is not None else [coco_gt.cats[c]["name"] for c in cat_ids]
    )
    kept = _known_predictions(preds, cat_ids, set(coco_gt.getImgIds()))
    ev = _run_cocoeval(coco_gt, kept, img_ids)
    out: dict = {m: _nan_if_negative(ev.stats[i]) for i, m in enumerate(METRICS)}
    out["per_class"] = _per_class_ap(ev, names)
    out["num_predictions"] = len(kept)
    out["num_dropped"] = len(preds) - len(kept)
    return out


def _known_predictions(
    preds: list[dict], cat_ids: Sequence[int], known_imgs: set[int]
) -> list[dict]:
    """The predictions of GT categories and images, without segmentation, in a canonical order.

    Unknown ones are dropped with a warning counting them, unless more than
    ``MAX_UNKNOWN_CATEGORY_FRACTION`` have an unknown category (``ValueError`` naming both id
    sets: the predictions use another numbering).
    """
    known_cats = set(cat_ids)
    bad_cat = [p for p in preds if p["category_id"] not in known_cats]
    bad_img = [
        p for p in preds if p["category_id"] in known_cats and p["image_id"] not in known_imgs
    ]
    if bad_cat:
        unknown = sorted({p["category_id"] for p in bad_cat})
        if len(bad_cat) > MAX_UNKNOWN_CATEGORY_FRACTION * len(preds):
            raise ValueError(
                f"{len(bad_cat)} of {len(preds)} predictions have a category id that is not in "
                f"the ground truth: prediction ids {unknown}, ground-truth ids {list(cat_ids)}. "
                "The predictions use another numbering (e.g. 0-based contiguous ids against "
                "1-based dataset ids): map them to the ground truth's category ids."
            )
        logger.warning(
            "dropped %d of %d predictions whose category id is not in the ground truth (ids %s)",
            len(bad_cat), len(preds), unknown,
        )  # fmt: skip
    if bad_img:
        logger.warning("dropped %d predictions for images not in the ground truth", len(bad_img))
    preds = [p for p in preds if p["category_id"] in known_cats and p["image_id"] in known_imgs]
    # loadRes derives area from bbox and must not see segmentation keys for bbox eval.
    preds = [{k: v for k, v in p.items() if k != "segmentation"} for p in preds]
    # pycocotools breaks score ties by input order; a canonical order makes AP independent of
    # it (e.g. of the order in which processes' predictions were gathered).
    preds.sort(key=lambda p: (-p["score"], p["image_id"], p["category_id"], list(p["bbox"])))
    return preds


def _run_cocoeval(coco_gt: COCO, preds: list[dict], img_ids: Sequence[int] | None) -> COCOeval:
    """pycocotools' bbox evaluate / accumulate / summarize, its printing silenced."""
    # On a large val set this takes minutes: say so in the log instead.
    logger.info("COCO box evaluation of %d predictions ...", len(preds))
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        if preds:
            coco_dt = coco_gt.loadRes(preds)
        else:  # loadRes([]) crashes; an empty result set scores 0 where GT exists
            coco_dt = COCO()
            coco_dt.dataset = {
                "images": list(coco_gt.imgs.values()),
                "categories": list(coco_gt.cats.values()),
                "annotations": [],
            }
            coco_dt.createIndex()
        ev = COCOeval(coco_gt, coco_dt, "bbox")
        if img_ids is not None:
            ev.params.imgIds = sorted(img_ids)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    logger.info("COCO box evaluation done in %.1f s", time.perf_counter() - start)
    return ev


def _per_class_ap(ev: COCOeval, names: Sequence[str]) -> dict[str, float]:
    """AP (percent, IoU 0.50:0.95, all areas, max dets) per class; NaN without ground truth."""
    # precision: (iou thresholds, recall thresholds, classes, area ranges, max dets)
    precision = ev.eval["precision"]
    per_class = {}
    for k, name in enumerate(names):
        p = precision[:, :, k, 0, -1]
        p = p[p > -1]
        per_class[name] = float(np.mean(p) * 100) if p.size else float("nan")
    return per_class


def to_jsonable(x):
    """NaN -> None (valid JSON), recursively."""
    if isinstance(x, dict):
        return {k: to_jsonable(v) for k, v in x.items()}
    if isinstance(x, float) and math.isnan(x):
        return None
    return x


def format_table(metrics: dict) -> str:
    """A plain-text table of the summary metrics and per-class AP."""

    def f(v):
        return "  nan" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:5.1f}"

    lines = ["| " + " | ".join(f"{m:>5}" for m in METRICS) + " |", "|" + "-------|" * len(METRICS)]
    lines.append("| " + " | ".join(f(metrics[m]) for m in METRICS) + " |")
    per = metrics.get("per_class", {})
    if per:
        width = max(len(n) for n in per)
        lines += ["", f"| {'class':<{width}} |    AP |", f"|{'-' * (width + 2)}|-------|"]
        lines += [f"| {n:<{width}} | {f(v)} |" for n, v in per.items()]
    return "\n".join(lines)


def _instances_to_coco(instances, image_id, contiguous_to_dataset: dict[int, int]) -> list[dict]:
    """detectron2 ``Instances`` (pred_boxes XYXY, scores, pred_classes) -> COCO result dicts."""
    n = len(instances)
    if n == 0:
        return []
    boxes = instances.pred_boxes.tensor.detach().cpu().numpy().astype(np.float64)
    boxes[:, 2:] -= boxes[:, :2]  # XYXY -> XYWH
    scores = instances.scores.detach().cpu().tolist()
    classes = instances.pred_classes.detach().cpu().tolist()
    return [
        {
            "image_id": image_id,
            "category_id": int(contiguous_to_dataset.get(int(c), int(c))),
            "bbox": [round(float(v), 3) for v in b],
            "score": float(s),
        }
        for b, s, c in zip(boxes.tolist(), scores, classes)
    ]


class COCOBoxEvaluator(_EvaluatorBase):
    """detectron2 ``DatasetEvaluator`` for box AP on a registered COCO-format dataset.

    ``evaluate()`` writes ``coco_instances_results.json`` to ``output_dir`` (its only file: the
    metrics are returned, and the job that runs the evaluation owns ``metrics.json``) and
    returns ``{"bbox": {"AP", "AP50", ..., "AP-<class>": ...}}``: per-class
    AP flattened into ``AP-<class>`` keys as detectron2's ``COCOEvaluator`` does, so its
    ``print_csv_format`` and the trainer's scalar logging accept it. The nested form returned by
    :func:`evaluate_coco` is kept in ``self.last_metrics``.
    """

    def __init__(
        self,
        dataset_name: str,
        output_dir: str | os.PathLike | None = None,
        distributed: bool = True,
    ):
        from detectron2.data import MetadataCatalog

        self._dataset_name = dataset_name
        self._meta = MetadataCatalog.get(dataset_name)
        self._output_dir = Path(output_dir) if output_dir else None
        self._distributed = distributed
        self.last_metrics: dict | None = None
        self._predictions: list[dict] = []

    def reset(self):
        self._predictions = []

    def _contiguous_to_dataset(self) -> dict[int, int]:
        id_map = getattr(self._meta, "thing_dataset_id_to_contiguous_id", None)
        return {v: k for k, v in id_map.items()} if id_map else {}

    def process(self, inputs, outputs):
        inv = self._contiguous_to_dataset()
        for inp, out in zip(inputs, outputs):
            if "instances" in out:
                self._predictions += _instances_to_coco(
                    out["instances"].to("cpu"), inp["image_id"], inv
                )

    def _ground_truth(self):
        json_file = getattr(self._meta, "json_file", None)
        if json_file and os.path.isfile(json_file):
            return json_file
        # Datasets registered without a json: build one from the dataset dicts.
        from detectron2.data import DatasetCatalog

        dicts = DatasetCatalog.get(self._dataset_name)
        inv = self._contiguous_to_dataset()
        names = list(self._meta.thing_classes)
        cats = [{"id": inv.get(i, i), "name": n} for i, n in enumerate(names)]
        images, anns = [], []
        for d in dicts:
            images.append(
                {
                    "id": d["image_id"],
                    "width": d["width"],
                    "height": d["height"],
                    "file_name": d["file_name"],
                }
            )
            for a in d.get("annotations", []):
                x, y, w, h = a["bbox"]
                if int(a.get("bbox_mode", 1)) == 0:  # BoxMode.XYXY_ABS
                    w, h = w - x, h - y
                anns.append({"id": len(anns) + 1, "image_id": d["image_id"], "category_id": inv.get(a["category_id"], a["category_id"]),
                             "bbox": [x, y, w, h], "area": w * h, "iscrowd": a.get("iscrowd", 0)})  # fmt: skip
        return {"images": images, "annotations": anns, "categories": cats}

    def evaluate(self):
        preds = self._predictions
        if self._distributed:
            from detectron2.utils import comm

            if comm.get_world_size() > 1:
                comm.synchronize()
                preds = list(itertools.chain(*comm.gather(preds, dst=0)))
                if not comm.is_main_process():
                    return {}
        if self._output_dir is not None:
            self._output_dir.mkdir(parents=True, exist_ok=True)
            path = self._output_dir / "coco_instances_results.json"
            tmp = path.with_name(path.name + ".tmp")
            tmp.write_text(json.dumps(preds))
            os.replace(tmp, path)  # a kill leaves the previous file, never half of one
        gt = _load_gt(self._ground_truth())
        names = None
        id_map = getattr(self._meta, "thing_dataset_id_to_contiguous_id", None)
        classes = getattr(self._meta, "thing_classes", None)
        if id_map and classes and set(id_map) == set(gt.getCatIds()):
            names = [classes[id_map[c]] for c in sorted(gt.getCatIds())]
        # Images the dataset left out (bad_images=skip) are not scored as misses.
        skipped = set(getattr(self._meta, "skipped_image_ids", None) or ())
        img_ids = [i for i in gt.getImgIds() if i not in skipped] if skipped else None
        metrics = evaluate_coco(gt, preds, names, img_ids=img_ids)
        self.last_metrics = metrics
        logger.info("Evaluation of %s:\n%s", self._dataset_name, format_table(metrics))
        flat = {m: metrics[m] for m in METRICS}
        flat.update({f"AP-{n}": v for n, v in metrics["per_class"].items()})
        return {"bbox": flat}
