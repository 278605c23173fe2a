"""Dataset registry and validating COCO registration (PubLayNet-format json written here)."""

import json
import logging
from pathlib import Path

import pytest
from detectron2.data import DatasetCatalog, MetadataCatalog
from PIL import Image

from detectors.datasets import (
    DATASETS,
    dataset_root,
    get_spec,
    register_coco_dataset,
    register_dataset,
)

CATS = [
    {"id": i + 1, "name": n, "supercategory": ""}
    for i, n in enumerate(["text", "title", "list", "table", "figure"])
]


def _ann(aid, img, cat, x, y, w, h):
    return {"id": aid, "image_id": img, "category_id": cat, "bbox": [x, y, w, h], "area": w * h, "iscrowd": 0,
            "segmentation": [[x, y, x + w, y, x + w, y + h, x, y + h]]}  # fmt: skip


def make_publaynet(
    root: Path, split="val", annotations=None, sizes=((60, 80), (50, 70), (40, 40)), cats=CATS
):
    """A tiny PubLayNet-style dataset: root/publaynet/{split}/*.jpg + root/publaynet/{split}.json."""
    base = root / "publaynet"
    (base / split).mkdir(parents=True, exist_ok=True)
    ids = [17, 4, 1001]  # non-contiguous image ids
    images = []
    for i, (w, h) in zip(ids, sizes):
        Image.new("RGB", (w, h), "white").save(base / split / f"PMC{i}.jpg")
        images.append({"id": i, "file_name": f"PMC{i}.jpg", "width": w, "height": h})
    if annotations is None:
        annotations = [
            _ann(1, 17, 1, 5, 5, 30, 10),
            _ann(2, 17, 5, 5, 30, 40, 40),
            _ann(3, 4, 2, 2, 2, 20, 5),
            _ann(7, 4, 4, 10, 20, 30, 30),
        ]  # fmt: skip  (image 1001 stays empty)
    coco = {"images": images, "annotations": annotations, "categories": cats}
    (base / f"{split}.json").write_text(json.dumps(coco))
    return base


def _cleanup(name):
    if name in DatasetCatalog.list():
        DatasetCatalog.remove(name)
        MetadataCatalog.remove(name)


def test_registry_contents():
    assert DATASETS["publaynet"].num_classes == 5 and DATASETS["publaynet"].text_class_ids == [
        0,
        1,
        2,
    ]
    assert (
        DATASETS["doclaynet"].num_classes == 11
        and "Formula" not in DATASETS["doclaynet"].text_classes
    )
    assert DATASETS["prima"].classes == ("TextRegion", "ImageRegion", "TableRegion", "MathsRegion",
                                         "SeparatorRegion", "OtherRegion")  # fmt: skip
    assert DATASETS["hj"].num_classes == 7
    assert DATASETS["synthetic"].classes == DATASETS["publaynet"].classes
    from pagedata.synthetic import CLASSES as RENDERED  # what the generator draws

    assert DATASETS["synthetic"].classes == RENDERED
    for spec in DATASETS.values():
        assert set(spec.text_classes) <= set(spec.classes)
    with pytest.raises(ValueError, match="Unknown dataset 'nope'"):
        get_spec("nope")


def test_dataset_root(monkeypatch, tmp_path):
    monkeypatch.setenv("DETECTRON2_DATASETS", str(tmp_path))
    assert dataset_root(None) == tmp_path and dataset_root("") == tmp_path
    assert dataset_root("/x/y") == Path("/x/y")
    monkeypatch.delenv("DETECTRON2_DATASETS")
    assert dataset_root() == Path("datasets")


def test_register_and_load_publaynet(tmp_path, monkeypatch):
    make_publaynet(tmp_path)
    monkeypatch.setenv("DETECTRON2_DATASETS", str(tmp_path))
    names = register_dataset("publaynet", splits=["val"])
    assert names == ["publaynet_val"]
    try:
        dicts = DatasetCatalog.get("publaynet_val")
        meta = MetadataCatalog.get("publaynet_val")
        assert meta.thing_classes == ["text", "title", "list", "table", "figure"]
        assert meta.text_classes == ["text", "title", "list"] and meta.evaluator_type == "coco"
        assert meta.thing_dataset_id_to_contiguous_id == {1: 0, 2: 1, 3: 2, 4: 3, 5: 4}
        by_id = {d["image_id"]: d for d in dicts}
        assert set(by_id) == {4, 17, 1001}
        assert by_id[1001]["annotations"] == []  # empty images are kept
        a = by_id[17]["annotations"]
        assert [o["category_id"] for o in a] == [0, 4]
        assert (
            a[0]["bbox"] == [5, 5, 30, 10]
            and a[0]["iscrowd"] == 0
            and len(a[0]["segmentation"][0]) == 8
        )
        assert by_id[17]["file_name"].endswith("publaynet/val/PMC17.jpg")
        # registering again is a no-op
        assert register_dataset("publaynet", splits=["val"]) == ["publaynet_val"]
    finally:
        _cleanup("publaynet_val")


def test_category_ids_mapped_by_name(tmp_path):
    cats = [{"id": 10, "name": "Figure"}, {"id": 3, "name": "Text"}]  # other order, other ids
    base = make_publaynet(
        tmp_path, annotations=[_ann(1, 17, 10, 1, 1, 5, 5), _ann(2, 17, 3, 1, 20, 5, 5)], cats=cats
    )
    register_coco_dataset("custom_x", base / "val.json", base / "val", classes=["text", "figure"])
    try:
        dicts = DatasetCatalog.get("custom_x")
        assert [
            o["category_id"] for o in dicts[[d["image_id"] for d in dicts].index(17)]["annotations"]
        ] == [1, 0]
        assert MetadataCatalog.get("custom_x").thing_dataset_id_to_contiguous_id == {3: 0, 10: 1}
    finally:
        _cleanup("custom_x")
    register_coco_dataset("custom_y", base / "val.json", base / "val")  # classes from the json
    try:
        DatasetCatalog.get("custom_y")
        assert MetadataCatalog.get("custom_y").thing_classes == ["Text", "Figure"]
    finally:
        _cleanup("custom_y")


def test_missing_json_and_image_root(tmp_path):
    with pytest.raises(
        FileNotFoundError, match=r"publaynet/val.json.*Expected layout.*DETECTRON2_DATASETS"
    ):
        register_dataset("publaynet", tmp_path, splits=["val"])
    base = make_publaynet(tmp_path)
    with pytest.raises(FileNotFoundError, match="Image folder not found: .*nowhere"):
        register_coco_dataset("x", base / "val.json", tmp_path / "nowhere")
    with pytest.raises(ValueError, match="no split"):
        register_dataset("publaynet", tmp_path, splits=["test"])


def _load(name, base, **kw):
    register_coco_dataset(
        name,
        base / "val.json",
        base / "val",
        classes=["text", "title", "list", "table", "figure"],
        **kw,
    )
    try:
        return DatasetCatalog.get(name)
    finally:
        _cleanup(name)


def test_size_mismatch(tmp_path):
    base = make_publaynet(tmp_path)
    Image.new("RGB", (61, 80)).save(base / "val" / "PMC17.jpg")
    with pytest.raises(ValueError, match=r"size mismatch for .*PMC17.jpg.*60x80.*61x80"):
        _load("m1", base, check_images="all")


def test_corrupt_and_missing_image(tmp_path):
    base = make_publaynet(tmp_path)
    (base / "val" / "PMC4.jpg").write_bytes(b"not an image")
    with pytest.raises(ValueError, match=r"Corrupt or unreadable image: .*PMC4.jpg"):
        _load("m2", base, check_images="all")
    (base / "val" / "PMC4.jpg").unlink()
    with pytest.raises(FileNotFoundError, match=r"missing: .*PMC4.jpg"):
        _load("m3", base, check_images="all")


def test_unknown_category(tmp_path):
    base = make_publaynet(tmp_path, annotations=[_ann(1, 17, 9, 1, 1, 5, 5)])
    with pytest.raises(ValueError, match=r"val.json.*category_id=9"):
        _load("m4", base)
    cats = CATS + [{"id": 6, "name": "stamp"}]
    base = make_publaynet(tmp_path / "b", annotations=[_ann(1, 17, 6, 1, 1, 5, 5)], cats=cats)
    with pytest.raises(
        ValueError, match=r"category id 6 \('stamp'\).*not among the declared classes"
    ):
        _load("m5", base)


def test_boxes_outside_clipped(tmp_path, caplog):
    base = make_publaynet(
        tmp_path, annotations=[_ann(1, 17, 1, -5, 70, 30, 20), _ann(2, 17, 1, 70, 5, 5, 5)]
    )
    with caplog.at_level(logging.WARNING):
        dicts = _load("m6", base)
    objs = next(d for d in dicts if d["image_id"] == 17)["annotations"]
    assert len(objs) == 1 and objs[0]["bbox"] == [
        0.0,
        70.0,
        25.0,
        10.0,
    ]  # second box lies outside: dropped
    assert "clipped 2 boxes" in caplog.text and "dropped 1 boxes" in caplog.text


def test_invalid_json(tmp_path):
    base = make_publaynet(tmp_path)
    (base / "val.json").write_text("{broken")
    with pytest.raises(ValueError, match=r"val.json is not a valid COCO"):
        _load("m7", base)


def test_synthetic_registration(tmp_path):
    names = register_dataset(
        "synthetic", tmp_path, synthetic={"splits": {"train": 2, "val": 1}, "image_size": 256}
    )
    try:
        assert names == ["synthetic_train", "synthetic_val"]
        assert len(DatasetCatalog.get("synthetic_val")) == 1
        assert (tmp_path / "synthetic" / "manifest.json").is_file()
    finally:
        for n in names:
            _cleanup(n)
