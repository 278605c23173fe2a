"""Vertical spacing between a dataset's blocks, per pair of classes (its page rhythm).

    python scripts/block_gaps.py json=GT.json [overlap=0.3]

For every block, the block straight above it: the lowest one that ends above its top (or within
its top quarter) and overlaps it horizontally by at least `overlap` of the narrower of the two
(so the other column of a two-column page does not count). Prints JSON: for each pair "above -> below" the number of
such pairs and the 10/25/50/75/90th percentiles of the gap between the two boxes, and for each
class its block heights, both in thousandths of the page height (so pages of any size compare;
a 10-pt line on a letter page is about 13). Needs no images. Made to compare the synthetic pages
with real ones (e.g. `datasets/docbank/COCO/all.json`, or `COCO_labels/all.json` for DocBank's
own labels, display equations included).
"""

import json
import sys
from collections import defaultdict

import numpy as np

from pagedata.coco_json import read_coco_for_cli
from graphkd.apps.kvargs import parse_kv

SPEC = {"json": str, "overlap": float}
QUANTILES = (10, 25, 50, 75, 90)


def block_above(boxes: np.ndarray, overlap: float = 0.3) -> tuple[np.ndarray, np.ndarray]:
    """For XYXY ``boxes`` [N, 4] of one page: the index of the block straight above each one
    ([N], -1 where none) and the gap from its bottom to the block's top ([N], NaN where none).

    Block j is above block i when it starts above i's top and ends above the top quarter of i
    (labelled boxes of neighbouring lines may overlap by a pixel or two: the gap is then
    negative), and their horizontal overlap is at least ``overlap`` of the narrower width; of
    those, the one ending lowest.
    """
    x0, y0, x1, y1 = (boxes[:, k] for k in range(4))
    inter = np.minimum(x1[:, None], x1[None]) - np.maximum(x0[:, None], x0[None])  # [N, N]
    narrow = np.minimum((x1 - x0)[:, None], (x1 - x0)[None])
    below_it = (y0[None] < y0[:, None]) & (y1[None] <= (y0 + 0.25 * (y1 - y0))[:, None])
    ok = below_it & (inter >= overlap * narrow)  # ok[i, j]: j is above i
    np.fill_diagonal(ok, False)
    bottoms = np.where(ok, y1[None], -np.inf)
    idx = np.where(ok.any(1), bottoms.argmax(1), -1)
    gap = np.where(idx >= 0, y0 - y1[np.maximum(idx, 0)], np.nan)
    return idx, gap


def _quantiles(v: list[float]) -> dict:
    q = np.percentile(np.asarray(v, dtype=float), QUANTILES)
    return {"n": len(v), **{f"p{k}": round(float(x), 1) for k, x in zip(QUANTILES, q)}}


def main(argv=None) -> dict:
    a = parse_kv(sys.argv[1:] if argv is None else argv, SPEC, ("json",), __doc__)
    names, by_image, images = read_coco_for_cli(a["json"])
    heights = {im["id"]: float(im["height"]) for im in images}
    gaps: dict[str, list] = defaultdict(list)
    sizes: dict[str, list] = defaultdict(list)
    for image_id, anns in by_image.items():
        xywh = np.asarray([ann["bbox"] for ann in anns], dtype=float)
        boxes = np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], 1)
        cls = [names[ann["category_id"]] for ann in anns]
        idx, gap = block_above(boxes, a.get("overlap", 0.3))
        per_mille = 1000.0 / heights[image_id]
        for i, j in enumerate(idx):
            sizes[cls[i]].append(xywh[i, 3] * per_mille)
            if j >= 0:
                gaps[f"{cls[j]} -> {cls[i]}"].append(gap[i] * per_mille)
    out = {
        "gap": {k: _quantiles(v) for k, v in sorted(gaps.items())},
        "height": {k: _quantiles(v) for k, v in sorted(sizes.items())},
    }
    print(json.dumps(out, indent=1))
    return out


if __name__ == "__main__":
    main()
