"""Register the configured dataset's train / val splits with detectron2."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

from omegaconf import DictConfig

from detectors.datasets import DATASETS, dataset_root, register_coco_dataset, register_dataset
from graphkd.core.config import DatasetConfig

__all__ = ["DataSplits", "prepare_data"]


@dataclass(frozen=True)
class DataSplits:
    """Registered dataset names and the class list the models are built for."""

    train: str
    val: str
    classes: tuple[str, ...]
    text_classes: tuple[str, ...]

    @property
    def text_class_ids(self) -> list[int]:
        """Contiguous (detectron2) indices of the text classes."""
        return [self.classes.index(c) for c in self.text_classes]


def _json_class_names(json_file: str) -> list[str]:
    with open(json_file) as f:
        cats = json.load(f).get("categories", [])
    if not cats:
        raise ValueError(f"{json_file} has no 'categories'; set dataset.classes explicitly")
    return [c["name"] for c in sorted(cats, key=lambda c: c["id"])]


def prepare_data(ds: DatasetConfig | DictConfig) -> DataSplits:
    """Register ``<name>_train`` / ``<name>_val`` (generating synthetic pages on first use)."""
    paths = (ds.train_json, ds.train_images, ds.val_json, ds.val_images)
    if ds.name in DATASETS and all(p is None for p in paths):
        spec = DATASETS[ds.name]
        if ds.classes is not None and tuple(ds.classes) != spec.classes:
            raise ValueError(
                f"dataset.classes={list(ds.classes)} differs from {ds.name}'s classes "
                f"{list(spec.classes)}; set classes only for your own data (dataset=custom)"
            )
        synthetic = None
        if ds.name == "synthetic":
            synthetic = {
                "splits": {"train": ds.num_train, "val": ds.num_val},
                "seed": ds.data_seed,
                "image_size": ds.page_size,
                "style": ds.style,
            }
        train, val = register_dataset(
            ds.name, ds.root or None, ["train", "val"], check_images=ds.check_images,
            bad_images=ds.bad_images, synthetic=synthetic,
        )  # fmt: skip
        classes = spec.classes
        text = tuple(ds.text_classes if ds.text_classes is not None else spec.text_classes)
    else:
        missing = [k for k, p in zip(("train_json", "train_images", "val_json", "val_images"), paths)
                   if p is None]  # fmt: skip
        if missing:
            raise ValueError(
                f"dataset={ds.name!r} is not a known dataset ({sorted(DATASETS)}); set "
                + ", ".join(f"dataset.{k}" for k in missing)
            )
        root = dataset_root(ds.root or None)
        train_json, train_images, val_json, val_images = (
            os.path.join(root, p) for p in paths
        )  # os.path.join keeps absolute paths as they are
        classes = tuple(ds.classes or _json_class_names(train_json))
        text = tuple(ds.text_classes or ())
        train = register_coco_dataset(
            f"{ds.name}_train", train_json, train_images, classes, text, ds.check_images,
            bad_images=ds.bad_images,
        )  # fmt: skip
        val = register_coco_dataset(
            f"{ds.name}_val", val_json, val_images, classes, text, ds.check_images,
            bad_images=ds.bad_images,
        )  # fmt: skip
    unknown = sorted(set(text) - set(classes))
    if unknown:
        raise ValueError(
            f"dataset.text_classes {unknown} are not among the classes {list(classes)}"
        )
    return DataSplits(train, val, classes, text)
