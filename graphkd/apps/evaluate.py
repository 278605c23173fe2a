"""COCO box evaluation of a predictions json against a ground-truth json (pycocotools only).

    graphkd-evaluate gt=GT.json predictions=PRED.json [out=metrics.json]
    (in a checkout: python scripts/evaluate.py ...)

PRED.json: list of {image_id, category_id, bbox [x, y, w, h], score} (detectron2's
coco_instances_results.json). Prints a table; writes AP, AP50, AP75, APs, APm, APl (percent)
and per_class (class -> AP) as JSON (NaN -> null) when out= is given.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from omegaconf import MISSING

from detectors.evaluation import evaluate_coco, format_table, to_jsonable
from graphkd.apps.tool import register_tool, run_tool

__all__ = ["EvaluateOptions", "evaluate", "main"]


@dataclass
class EvaluateOptions:
    """``graphkd-evaluate``'s options (see the module docstring)."""

    gt: str = MISSING
    predictions: str = MISSING
    out: str | None = None


register_tool("evaluate", EvaluateOptions, __doc__)


def evaluate(opts: EvaluateOptions) -> dict:
    """Evaluate as the module docstring says; returns the metrics."""
    metrics = evaluate_coco(opts.gt, opts.predictions)
    print(format_table(metrics))
    if metrics["num_dropped"]:
        print(
            f"dropped {metrics['num_dropped']} predictions with a category or image unknown to the GT"
        )
    if opts.out:
        out = Path(opts.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(to_jsonable(metrics), indent=2))
        print(f"wrote {out}")
    return metrics


def main(argv: Sequence[str] | None = None) -> dict | None:
    """``graphkd-evaluate``: the command line (``argv`` None) or a list of ``key=value``."""
    return run_tool("evaluate", evaluate, argv)
