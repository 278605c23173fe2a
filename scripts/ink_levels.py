"""How dark a dataset's blocks are at the size the detector sees them (stroke weight and contrast).

    python scripts/ink_levels.py json=GT.json images=DIR [height=320] [pages=0]

Each page is resized to `height` pixels high as detectron2's ``ResizeShortestEdge(height,
height)`` resizes a portrait page for a model tested at that size (PIL bilinear, which averages
over the pixels it shrinks), then, for every box, three grey levels (0 black .. 255 white): its
darkest pixel, its 5th percentile and its mean. Prints JSON per class: the number of boxes and
the median of each level. A page rendered at 2200 px and shrunk to 320 turns a text stroke into
light grey; one drawn near 320 px keeps it black. Compare datasets at the same `height`, the
model's test size. `pages=N`: the first N pages of the json (0: all).
"""

import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
from detectron2.data import transforms as T

from pagedata.coco_json import read_coco_for_cli
from graphkd.apps.kvargs import parse_kv
from graphkd.apps.visualize import load_image

SPEC = {"json": str, "images": str, "height": int, "pages": int}
LEVELS = ("darkest", "p5", "mean")


def box_levels(gray: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray | None:
    """(darkest, 5th percentile, mean) grey of the pixels of one XYXY box of ``gray`` (H, W);
    None when the box covers no whole pixel."""
    x0, y0 = int(round(box[0])), int(round(box[1]))
    x1, y1 = int(round(box[2])), int(round(box[3]))
    patch = gray[max(y0, 0) : y1, max(x0, 0) : x1].astype(float)
    if patch.size == 0:
        return None
    return np.array([patch.min(), np.percentile(patch, 5), patch.mean()])


def main(argv=None) -> dict:
    a = parse_kv(sys.argv[1:] if argv is None else argv, SPEC, ("json", "images"), __doc__)
    height = a.get("height", 320)
    if height < 16:
        raise SystemExit(f"error: height={height}: give the model's test size, e.g. 320")
    names, by_image, images = read_coco_for_cli(a["json"], a.get("pages", 0))
    resize = T.ResizeShortestEdge(height, height)
    found: dict[str, list] = defaultdict(list)
    for im in images:
        try:
            page = load_image(Path(a["images"]) / im["file_name"], "RGB")
        except (FileNotFoundError, ValueError) as e:
            raise SystemExit(f"error: image {im['id']} of {a['json']}: {e}") from None
        tf = resize.get_transform(page)
        gray = tf.apply_image(page).mean(2)
        for ann in by_image.get(im["id"], []):
            x, y, w, h = ann["bbox"]
            box = tf.apply_box(np.array([[x, y, x + w, y + h]], dtype=float))[0]
            levels = box_levels(gray, tuple(box))
            if levels is not None:
                found[names[ann["category_id"]]].append(levels)
    out = {}
    for name, v in sorted(found.items()):
        med = np.median(np.asarray(v), 0)
        out[name] = {"boxes": len(v), **{k: round(float(x), 1) for k, x in zip(LEVELS, med)}}
    print(json.dumps(out, indent=1))
    return out


if __name__ == "__main__":
    main()
