"""Grouped DocBank pages as a COCO instances dict."""

from __future__ import annotations

from collections.abc import Sequence

from pagedata.classes import DOCBANK_LABELS
from pagedata.docbank.grouping import group_tokens
from pagedata.docbank.labels import class_map
from pagedata.docbank.params import GroupingParams
from pagedata.docbank.tokens import DocBankPage


def docbank_to_coco(
    pages: Sequence[DocBankPage],
    class_set: str = "publaynet",
    image_ids: dict[str, int] | None = None,
    params: GroupingParams | None = None,
) -> dict:
    """COCO instances dict of grouped pages (category ids 1.. in the class set's order).

    ``file_name`` is the image's name (relative to the image folder); ``image_ids`` maps a stem
    to its image id (default 1.. in the given order). Each annotation also records the DocBank
    label that carries most of it (``docbank_label``).
    """
    classes, classes_of = class_map(class_set)
    images, anns = [], []
    for k, page in enumerate(pages):
        img_id = image_ids[page.stem] if image_ids is not None else k + 1
        images.append(
            {"id": img_id, "file_name": page.image.name, "width": page.width,
             "height": page.height}
        )  # fmt: skip
        boxes, cls, src = group_tokens(
            page.boxes, page.labels, classes_of, (page.width, page.height), page.drawing, params
        )
        for (x0, y0, x1, y1), c, s in zip(boxes.tolist(), cls.tolist(), src.tolist()):
            w, h = x1 - x0, y1 - y0
            anns.append(
                {
                    "id": len(anns) + 1,
                    "image_id": img_id,
                    "category_id": c + 1,
                    "bbox": [round(x0, 2), round(y0, 2), round(w, 2), round(h, 2)],
                    "area": round(w * h, 2),
                    "iscrowd": 0,
                    "docbank_label": DOCBANK_LABELS[s],
                }
            )
    cats = [{"id": i + 1, "name": n, "supercategory": "layout"} for i, n in enumerate(classes)]
    return {"images": images, "annotations": anns, "categories": cats}
