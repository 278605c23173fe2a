"""COCO AP of a trained detector on an annotated page set (e.g. the converted DocBank pages).

    python scripts/eval_pages.py checkpoint=RUN_DIR gt=GT.json images=DIR out=DIR [threads=0]

Predicts every image the ground-truth json lists (the predictor resizes each page to the
model's test size, INPUT.MIN_SIZE_TEST / MAX_SIZE_TEST, as in training; score threshold 0.05,
no drawing), gives each detection the ground truth's id of its class *name* (a teacher run dir
has no label map, so its raw ids are contiguous 0.. while COCO jsons count from 1), and writes
out/predictions.json and out/metrics.json (AP, AP50, AP75, APs/m/l, per-class AP, in percent).
Detections of classes the ground truth lacks are dropped. threads: torch CPU threads (0: torch's
default; 1 is faster on a loaded machine, where two OpenMP threads spin against each other).
"""

import json
import sys
from pathlib import Path

import torch
from tqdm import tqdm

from detectors.evaluation import evaluate_coco, format_table, to_jsonable
from detectors.kvargs import parse_kv
from graphkd.artifacts import resolve_model
from graphkd.predict import build_predictor, to_coco
from graphkd.visualize import load_image

SPEC = {"checkpoint": str, "gt": str, "images": str, "out": str, "threads": int}


def main(argv=None) -> dict:
    a = parse_kv(sys.argv[1:] if argv is None else argv, SPEC,
                 ("checkpoint", "gt", "images", "out"), __doc__)  # fmt: skip
    if a.get("threads", 0) > 0:
        torch.set_num_threads(a["threads"])
    gt = json.loads(Path(a["gt"]).read_text())
    gt_ids = {c["name"]: c["id"] for c in gt["categories"]}
    files = resolve_model(a["checkpoint"])
    unknown = [c for c in files.classes if c not in gt_ids]
    if len(unknown) == len(files.classes):
        raise ValueError(
            f"None of the model's classes {files.classes} is among {a['gt']}'s categories "
            f"{list(gt_ids)}: this model was not trained for these labels."
        )
    predictor = build_predictor(files, 0.05)
    preds = []
    for im in tqdm(gt["images"], desc="eval", unit="page"):
        inst = predictor(load_image(Path(a["images"]) / im["file_name"], "BGR"))["instances"]
        dets = to_coco(inst.to("cpu"), im["id"], im["file_name"], files)
        preds += [dict(d, category_id=gt_ids[d["category_name"]]) for d in dets
                  if d["category_name"] in gt_ids]  # fmt: skip
    metrics = evaluate_coco(gt, preds)
    print(format_table(metrics))
    out = Path(a["out"])
    out.mkdir(parents=True, exist_ok=True)
    (out / "predictions.json").write_text(json.dumps(preds))
    metrics["checkpoint"], metrics["gt"] = str(files.weights), a["gt"]
    if unknown:
        metrics["dropped_classes"] = unknown
    (out / "metrics.json").write_text(json.dumps(to_jsonable(metrics), indent=2))
    print(f"wrote {out / 'metrics.json'}")
    return metrics


if __name__ == "__main__":
    try:
        main()
    except (FileNotFoundError, ValueError) as e:
        raise SystemExit(f"error: {e}") from None
