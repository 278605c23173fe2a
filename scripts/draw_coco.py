"""Draw the boxes of a COCO json over its pages (to check converted ground truth by eye).

    python scripts/draw_coco.py json=GT.json images=DIR out=DIR [pages=6] [match=TEXT]
        [scale=0.5]

Writes one PNG per page (the first `pages` images of the json whose file name contains
`match`), boxes coloured by class with detectron2's Visualizer, as predict.py draws detections.
"""

import json
import sys
from pathlib import Path

from PIL import Image

from graphkd.apps.kvargs import parse_kv
from graphkd.apps.visualize import draw_detections, load_image

SPEC = {"json": str, "images": str, "out": str, "pages": int, "match": str, "scale": float}


def main(argv=None) -> list[Path]:
    a = parse_kv(sys.argv[1:] if argv is None else argv, SPEC, ("json", "images", "out"), __doc__)
    coco = json.loads(Path(a["json"]).read_text())
    cats = sorted(coco["categories"], key=lambda c: c["id"])
    names = [c["name"] for c in cats]
    dataset_ids = {k: c["id"] for k, c in enumerate(cats)}
    images = [im for im in coco["images"] if a.get("match", "") in im["file_name"]]
    out = Path(a["out"])
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for im in images[: a.get("pages", 6)]:
        anns = [x for x in coco["annotations"] if x["image_id"] == im["id"]]
        page = load_image(Path(a["images"]) / im["file_name"], "BGR")
        drawn = draw_detections(page, anns, names, dataset_ids=dataset_ids,
                                scale=a.get("scale", 0.5))  # fmt: skip
        path = out / (Path(im["file_name"]).stem + ".png")
        Image.fromarray(drawn).save(path)
        written.append(path)
        print(f"{path}: {len(anns)} boxes")
    return written


if __name__ == "__main__":
    try:
        main()
    except (FileNotFoundError, ValueError) as e:
        raise SystemExit(f"error: {e}") from None
