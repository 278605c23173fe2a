"""Reading a COCO instances json with the standard library only, for code that measures a
dataset's boxes without detectron2 (the registry in ``detectors.datasets`` imports detectron2 and
torch, about 2 s)."""

from __future__ import annotations

import json
import os
from pathlib import Path


def read_coco_annotations(
    json_file: str | os.PathLike,
) -> tuple[dict, dict[int, str], dict[int, list[dict]]]:
    """A COCO instances json as ``(json, {category id: name}, {image id: [annotation, ...]})``
    (images without annotations are absent from the last).

    Raises:
        FileNotFoundError: ``json_file`` does not exist.
        ValueError: naming the annotation whose category or image id the json does not list.
    """
    path = Path(json_file)
    if not path.is_file():
        raise FileNotFoundError(f"json={json_file} does not exist")
    coco = json.loads(path.read_text())
    names = {c["id"]: c["name"] for c in coco["categories"]}
    image_ids = {im["id"] for im in coco["images"]}
    by_image: dict[int, list[dict]] = {}
    for ann in coco["annotations"]:
        if ann["category_id"] not in names:
            raise ValueError(
                f"{json_file}: annotation {ann['id']} has category_id {ann['category_id']}, "
                f"not one of the json's categories {sorted(names)}"
            )
        if ann["image_id"] not in image_ids:
            raise ValueError(
                f"{json_file}: annotation {ann['id']} is on image_id {ann['image_id']}, which "
                "the json's images do not list"
            )
        by_image.setdefault(ann["image_id"], []).append(ann)
    return coco, names, by_image
