"""How far a dataset's boxes reach beyond the ink they hold (the box convention of its labels).

    python scripts/box_margins.py json=GT.json images=DIR [pages=0] [thin=0.015]

For every box: the ink rows (grey < 160) that touch it, and the margin between them and the
box's top and bottom edges as a fraction of the box height (> 0: the box reaches beyond its
ink). Prints JSON per class: the number of boxes and the median top / bottom margins, over all
boxes and over one-line boxes (height < `thin` of the page height). PDF text boxes (DocBank's,
PubLayNet's) run from the font's descent up one font size, so their one-line blocks show
margins of 0.1-0.3; boxes drawn tight around the ink show about 0. Compare pages at the same
resolution: at 320 px a one-pixel rounding is a third of a text line. `pages=N`: the first N
pages of the json (0: all).
"""

import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

from pagedata.coco_json import read_coco_for_cli
from graphkd.apps.kvargs import parse_kv
from graphkd.apps.visualize import load_image

SPEC = {"json": str, "images": str, "pages": int, "thin": float}


def ink_margins(gray: np.ndarray, box: tuple[float, float, float, float]) -> tuple[float, float]:
    """(top, bottom) margin of one XYXY box over the ink rows it holds, in box heights.

    The ink is the run of inked rows (within the box's columns) that starts at the first and
    ends at the last inked row inside the box, extended while the rows beyond stay inked, so a
    box cut through a glyph gets a negative margin. NaN when the box holds no ink.
    """
    x0, y0, x1, y1 = (int(np.floor(box[0])), int(np.floor(box[1])),
                      int(np.ceil(box[2])), int(np.ceil(box[3])))  # fmt: skip
    h = max(box[3] - box[1], 1e-6)
    m = int(np.ceil(0.5 * h)) + 2
    ya, yb = max(0, y0 - m), min(gray.shape[0], y1 + m)
    rows = (gray[ya:yb, max(0, x0) : x1] < 160).any(1)
    inside = np.flatnonzero(rows[y0 - ya : y1 - ya]) + (y0 - ya)
    if len(inside) == 0:
        return float("nan"), float("nan")
    top, bottom = int(inside[0]), int(inside[-1])
    while top > 0 and rows[top - 1]:
        top -= 1
    while bottom + 1 < len(rows) and rows[bottom + 1]:
        bottom += 1
    return (ya + top - box[1]) / h, (box[3] - (ya + bottom + 1)) / h


def main(argv=None) -> dict:
    a = parse_kv(sys.argv[1:] if argv is None else argv, SPEC, ("json", "images"), __doc__)
    names, by_image, images = read_coco_for_cli(a["json"], a.get("pages", 0))
    thin = a.get("thin", 0.015)
    found: dict[str, list] = defaultdict(list)
    for im in images:
        try:
            gray = load_image(Path(a["images"]) / im["file_name"], "L")[:, :, 0]
        except (FileNotFoundError, ValueError) as e:
            raise SystemExit(f"error: image {im['id']} of {a['json']}: {e}") from None
        for ann in by_image.get(im["id"], []):
            x, y, w, h = ann["bbox"]
            top, bottom = ink_margins(gray, (x, y, x + w, y + h))
            found[names[ann["category_id"]]].append((top, bottom, h / gray.shape[0] < thin))
    out = {}
    for name, v in found.items():
        arr = np.asarray(v, dtype=float)
        arr = arr[~np.isnan(arr[:, 0])]
        one = arr[arr[:, 2] > 0]
        out[name] = {
            "boxes": len(arr),
            "top": round(float(np.median(arr[:, 0])), 3) if len(arr) else None,
            "bottom": round(float(np.median(arr[:, 1])), 3) if len(arr) else None,
            "one_line_boxes": len(one),
            "one_line_top": round(float(np.median(one[:, 0])), 3) if len(one) else None,
            "one_line_bottom": round(float(np.median(one[:, 1])), 3) if len(one) else None,
        }
    print(json.dumps(out, indent=1))
    return out


if __name__ == "__main__":
    main()
