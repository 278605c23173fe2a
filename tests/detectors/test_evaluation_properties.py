"""Property test (hypothesis): COCO box AP does not depend on the order of the predictions, also
with tied scores (gathered from several processes, their order is arbitrary)."""

from __future__ import annotations

import math
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from detectors.evaluation import METRICS, evaluate_coco


def _gt(n_img: int, seed: int) -> dict:
    rng = random.Random(seed)
    images = [{"id": i + 1, "width": 200, "height": 200, "file_name": f"{i}.jpg"} for i in range(n_img)]  # fmt: skip
    anns = []
    for img in images:
        for _ in range(rng.randint(0, 4)):
            x, y, w, h = rng.uniform(0, 120), rng.uniform(0, 120), rng.uniform(8, 80), rng.uniform(8, 80)  # fmt: skip
            anns.append({"id": len(anns) + 1, "image_id": img["id"], "category_id": rng.choice([1, 2]),
                         "bbox": [x, y, w, h], "area": w * h, "iscrowd": 0})  # fmt: skip
    return {"images": images, "annotations": anns,
            "categories": [{"id": 1, "name": "text"}, {"id": 2, "name": "table"}]}  # fmt: skip


def _predictions(gt: dict, n_extra: int, seed: int) -> list[dict]:
    """Jittered copies of GT boxes and random boxes, with scores from a small set (many ties)."""
    rng = random.Random(seed)
    preds = []
    for a in gt["annotations"]:
        x, y, w, h = a["bbox"]
        j = [x + rng.uniform(-6, 6), y + rng.uniform(-6, 6), w * rng.uniform(0.8, 1.2), h]
        preds.append({"image_id": a["image_id"], "category_id": a["category_id"], "bbox": j,
                      "score": rng.choice([0.3, 0.5, 0.9])})  # fmt: skip
    for _ in range(n_extra):
        preds.append({"image_id": rng.choice(gt["images"])["id"], "category_id": rng.choice([1, 2]),
                      "bbox": [rng.uniform(0, 150), rng.uniform(0, 150), 30, 20],
                      "score": rng.choice([0.3, 0.5, 0.9])})  # fmt: skip
    return preds


def _same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or abs(a - b) < 1e-9


@settings(max_examples=15, deadline=None, derandomize=True)
@given(
    n_img=st.integers(min_value=1, max_value=4),
    n_extra=st.integers(min_value=0, max_value=8),
    seed=st.integers(min_value=0, max_value=10_000),
    order=st.randoms(use_true_random=False),
)
def test_ap_invariant_to_prediction_order(n_img, n_extra, seed, order):
    gt = _gt(n_img, seed)
    preds = _predictions(gt, n_extra, seed + 1)
    shuffled = list(preds)
    order.shuffle(shuffled)
    a, b = evaluate_coco(gt, preds), evaluate_coco(gt, shuffled)
    for m in METRICS:
        assert _same(a[m], b[m]), (m, a[m], b[m])
    for name in a["per_class"]:
        assert _same(a["per_class"][name], b["per_class"][name]), name
