"""Draw the boxes of a COCO json over its pages (to check converted ground truth by eye).

    python scripts/draw_coco.py json=GT.json images=DIR out=DIR [pages=6] [match=TEXT]
        [scale=0.5]

Writes one PNG per page (the first `pages` images of the json whose file name contains
`match`), boxes coloured by class with detectron2's Visualizer, as predict.py draws detections.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from omegaconf import MISSING
from PIL import Image

from graphkd.apps.tool import register_tool, run_tool
from graphkd.apps.visualize import draw_detections, load_image

__all__ = ["DrawCocoOptions", "draw_coco", "main"]


@dataclass
class DrawCocoOptions:
    """``scripts/draw_coco.py``'s options (see the module docstring)."""

    json: str = MISSING
    images: str = MISSING
    out: str = MISSING
    pages: int = 6
    match: str = ""
    scale: float = 0.5


register_tool("draw_coco", DrawCocoOptions, __doc__)


def draw_coco(opts: DrawCocoOptions) -> list[Path]:
    """Draw the pages; returns the PNGs written."""
    coco = json.loads(Path(opts.json).read_text())
    cats = sorted(coco["categories"], key=lambda c: c["id"])
    names = [c["name"] for c in cats]
    dataset_ids = {k: c["id"] for k, c in enumerate(cats)}
    images = [im for im in coco["images"] if opts.match in im["file_name"]]
    out = Path(opts.out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for im in images[: opts.pages]:
        anns = [x for x in coco["annotations"] if x["image_id"] == im["id"]]
        page = load_image(Path(opts.images) / im["file_name"], "BGR")
        drawn = draw_detections(page, anns, names, dataset_ids=dataset_ids, scale=opts.scale)
        path = out / (Path(im["file_name"]).stem + ".png")
        Image.fromarray(drawn).save(path)
        written.append(path)
        print(f"{path}: {len(anns)} boxes")
    return written


def main(argv: Sequence[str] | None = None) -> list[Path] | None:
    """The command line (``argv`` None) or a list of ``key=value``."""
    return run_tool("draw_coco", draw_coco, argv)
