"""COCO box evaluation of a predictions json against a ground-truth json (pycocotools only).

    graphkd-evaluate gt=GT.json predictions=PRED.json [out=metrics.json]
    (in a checkout: python scripts/evaluate.py ...)

PRED.json: list of {image_id, category_id, bbox [x, y, w, h], score} (detectron2's
coco_instances_results.json). Prints a table; writes AP, AP50, AP75, APs, APm, APl (percent)
and per_class (class -> AP) as JSON (NaN -> null) when out= is given.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from detectors.evaluation import evaluate_coco, format_table, to_jsonable
from graphkd.apps.kvargs import parse_kv

__all__ = ["cli", "main"]


def main(argv: list[str] | None = None) -> dict:
    """Evaluate as the usage above says; returns the metrics."""
    a = parse_kv(sys.argv[1:] if argv is None else argv, {"gt": str, "predictions": str, "out": str},
                 ("gt", "predictions"), __doc__)  # fmt: skip
    metrics = evaluate_coco(a["gt"], a["predictions"])
    print(format_table(metrics))
    if metrics["num_dropped"]:
        print(
            f"dropped {metrics['num_dropped']} predictions with a category or image unknown to the GT"
        )
    if "out" in a:
        out = Path(a["out"])
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(to_jsonable(metrics), indent=2))
        print(f"wrote {out}")
    return metrics


def cli() -> None:
    """Console entry point: errors in the inputs end with ``error: ...``, not a traceback."""
    try:
        main()
    except (FileNotFoundError, ValueError) as e:
        raise SystemExit(f"error: {e}") from None
