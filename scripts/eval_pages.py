"""COCO AP of a trained detector on an annotated page set (e.g. the converted DocBank pages).

    python scripts/eval_pages.py checkpoint=RUN_DIR gt=GT.json images=DIR out=DIR [threads=0]
    python scripts/eval_pages.py checkpoint=RUN_DIR gt=FOLDER out=DIR   # FOLDER/COCO/all.json + FOLDER/images

Predicts every image the ground-truth json lists (the predictor resizes each page to the
model's test size, INPUT.MIN_SIZE_TEST / MAX_SIZE_TEST, as in training; score threshold 0.05,
no drawing), gives each detection the ground truth's id of its class *name* (the model's own ids
are contiguous 0.. while COCO jsons count from 1), and writes out/predictions.json and
out/metrics.json (AP, AP50, AP75, APs/m/l, per-class AP, in percent). Detections of classes the
ground truth lacks are dropped. gt: a json, or a folder as `graphkd.apps.real_pages.resolve_pages`
finds it (images= then optional). threads: torch CPU threads (0: torch's default; 1 is faster
on a loaded machine, where two OpenMP threads spin against each other). The code lives in
`graphkd.apps.real_pages` (also behind the demo's real_pages= option).
"""

import sys

from detectors.evaluation import format_table
from graphkd.apps.kvargs import parse_kv
from graphkd.apps.real_pages import evaluate_pages, resolve_pages

SPEC = {"checkpoint": str, "gt": str, "images": str, "out": str, "threads": int}


def main(argv=None) -> dict:
    a = parse_kv(sys.argv[1:] if argv is None else argv, SPEC, ("checkpoint", "gt", "out"), __doc__)
    gt, images = resolve_pages(a["gt"], a.get("images"))
    metrics = evaluate_pages(a["checkpoint"], gt, images, a["out"], threads=a.get("threads", 0))
    print(format_table(metrics))
    print(f"wrote {a['out']}/metrics.json")
    return metrics


if __name__ == "__main__":
    try:
        main()
    except (FileNotFoundError, ValueError) as e:
        raise SystemExit(f"error: {e}") from None
