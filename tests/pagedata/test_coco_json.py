"""pagedata.coco_json: a COCO instances json read without detectron2, with errors that name the
file and the annotation."""

from __future__ import annotations

import json

import pytest

from pagedata.coco_json import read_coco_annotations


def _write(tmp_path, annotations):
    coco = {"images": [{"id": 1, "file_name": "p.png", "width": 10, "height": 20},
                       {"id": 2, "file_name": "q.png", "width": 10, "height": 20}],
            "categories": [{"id": 1, "name": "text"}, {"id": 2, "name": "title"}],
            "annotations": annotations}  # fmt: skip
    path = tmp_path / "gt.json"
    path.write_text(json.dumps(coco))
    return path


def test_annotations_grouped_by_image(tmp_path):
    anns = [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 5, 5]},
            {"id": 2, "image_id": 1, "category_id": 2, "bbox": [1, 8, 5, 3]}]  # fmt: skip
    coco, names, by_image = read_coco_annotations(_write(tmp_path, anns))
    assert names == {1: "text", 2: "title"} and len(coco["images"]) == 2
    assert by_image == {1: anns}  # image 2 has no annotation


def test_errors_name_the_file_and_annotation(tmp_path):
    with pytest.raises(FileNotFoundError, match="none.json does not exist"):
        read_coco_annotations(tmp_path / "none.json")
    bad_cat = [{"id": 7, "image_id": 1, "category_id": 3, "bbox": [0, 0, 1, 1]}]
    with pytest.raises(ValueError, match="annotation 7 has category_id 3"):
        read_coco_annotations(_write(tmp_path, bad_cat))
    bad_image = [{"id": 8, "image_id": 5, "category_id": 1, "bbox": [0, 0, 1, 1]}]
    with pytest.raises(ValueError, match="annotation 8 is on image_id 5"):
        read_coco_annotations(_write(tmp_path, bad_image))
