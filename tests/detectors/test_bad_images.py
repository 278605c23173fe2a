"""Bad images (truncated JPEG, size differing from the json): an error naming the file at
validation and in the data loaders (every image, not a sample), or skipped with a warning."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import torch
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.structures import Boxes, Instances
from PIL import Image
from test_datasets import _cleanup, make_publaynet

import graphkd.core.engine as engine
from detectors.build import build_detector
from detectors.config import get_detector_cfg
from detectors.datasets import ImageCheckingMapper, load_coco_dataset, register_coco_dataset
from detectors.evaluation import COCOBoxEvaluator


def _truncate(path: Path) -> None:
    """Re-save ``path`` as a noisy JPEG and cut it: the header (size) still reads, the data not."""
    w, h = Image.open(path).size
    noise = np.random.default_rng(0).integers(0, 255, (h, w, 3), dtype=np.uint8)
    Image.fromarray(noise).save(path, quality=95)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])
    with Image.open(path) as im:
        assert im.size == (w, h)  # a header-only check would pass


def _register(name: str, base: Path, **kw) -> str:
    _cleanup(name)
    return register_coco_dataset(name, base / "val.json", base / "val", **kw)


@pytest.fixture
def names():
    registered = []
    yield registered
    for n in registered:
        _cleanup(n)


def test_truncated_jpeg_fails_validation_naming_the_file(tmp_path):
    base = make_publaynet(tmp_path)
    _truncate(base / "val" / "PMC4.jpg")
    with pytest.raises(ValueError, match=r"Corrupt or unreadable image: .*PMC4\.jpg.*truncated"):
        load_coco_dataset(base / "val.json", base / "val", check_images="all")


def test_skip_leaves_bad_images_out_with_a_warning_and_out_of_evaluation(tmp_path, names, caplog):
    base = make_publaynet(tmp_path)
    _truncate(base / "val" / "PMC4.jpg")
    Image.new("RGB", (61, 80)).save(base / "val" / "PMC1001.jpg")  # json: 40x40
    names.append(_register("bad_skip", base, bad_images="skip"))
    with caplog.at_level(logging.WARNING):
        dicts = DatasetCatalog.get("bad_skip")
    assert [d["image_id"] for d in dicts] == [17]
    assert "skipping 2 of 3 images" in caplog.text
    assert "PMC4.jpg" in caplog.text and "PMC1001.jpg" in caplog.text
    meta = MetadataCatalog.get("bad_skip")
    assert sorted(meta.skipped_image_ids) == [4, 1001]
    # Perfect detections on the image that is left: the skipped images' GT are not misses.
    ev = COCOBoxEvaluator("bad_skip", distributed=False)
    ev.reset()
    inst = Instances((80, 60))
    inst.pred_boxes = Boxes(torch.tensor([[5.0, 5, 35, 15], [5, 30, 45, 70]]))
    inst.scores = torch.tensor([0.9, 0.8])
    inst.pred_classes = torch.tensor([0, 4])
    ev.process([{"image_id": 17}], [{"instances": inst}])
    assert ev.evaluate()["bbox"]["AP"] == pytest.approx(100)
    with pytest.raises(ValueError, match="bad_images='ignore'"):
        _register("bad_mode", base, bad_images="ignore")


def _d2cfg(name: str):
    cfg = get_detector_cfg("R18", 5, min_size=64, max_size=96, rois_per_image=16, fpn_channels=32)
    cfg.DATASETS.TRAIN = (name,)
    cfg.DATASETS.TEST = (name,)
    cfg.DATALOADER.NUM_WORKERS = 0
    cfg.SOLVER.IMS_PER_BATCH = 2
    cfg.SOLVER.MAX_ITER = 3
    cfg.SOLVER.BASE_LR = 0.001
    cfg.SOLVER.WARMUP_ITERS = 0
    cfg.SOLVER.STEPS = ()
    cfg.SEED = 0
    return cfg


def test_mapper_names_the_file_json_size_and_actual_size(tmp_path, names):
    base = make_publaynet(tmp_path)
    Image.new("RGB", (61, 80)).save(base / "val" / "PMC17.jpg")  # json: 60x80
    _truncate(base / "val" / "PMC4.jpg")
    names.append(_register("bad_mapper", base, check_images="none"))
    by_id = {d["image_id"]: d for d in DatasetCatalog.get("bad_mapper")}
    for is_train in (True, False):
        mapper = ImageCheckingMapper(_d2cfg("bad_mapper"), is_train=is_train)
        with pytest.raises(ValueError, match=r"size mismatch for .*PMC17\.jpg.*60x80.*61x80"):
            mapper(dict(by_id[17]))
        with pytest.raises(ValueError, match=r"Corrupt or unreadable image: .*PMC4\.jpg"):
            mapper(dict(by_id[4]))
        assert mapper(dict(by_id[1001]))["image"].shape[0] == 3


@pytest.mark.parametrize("bad", ["size", "truncated"])
def test_training_and_evaluation_loaders_check_every_image(bad, tmp_path, names):
    """Nothing was checked at load (check_images=none, like the images a sample misses): the
    training loader and the evaluation loader stop at the bad image, naming it."""
    base = make_publaynet(tmp_path)
    if bad == "size":
        Image.new("RGB", (50, 71)).save(base / "val" / "PMC4.jpg")  # json: 50x70
        match = r"size mismatch for .*PMC4\.jpg: the json says 50x70 .* the file is 50x71"
    else:
        _truncate(base / "val" / "PMC4.jpg")
        match = r"Corrupt or unreadable image: .*PMC4\.jpg"
    names.append(_register("bad_loader", base, check_images="none"))
    cfg = _d2cfg("bad_loader")
    torch.manual_seed(0)
    model = build_detector(cfg)
    (tmp_path / "run").mkdir()
    with pytest.raises(ValueError, match=match):
        engine.train(model, cfg, str(tmp_path / "run"), log_period=1)
    with pytest.raises(ValueError, match=match):
        engine.evaluate(model, cfg, "bad_loader", str(tmp_path / "eval"))
