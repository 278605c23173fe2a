"""The real pages of the recipe: the shipped DocBank samples, a DocBank token folder (converted
here) or the user's own COCO json, as one train json, one val json and their image folder.

Pure json and PIL: the detectron2 registration happens later, when a job loads the jsons.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from graphkd.apps.real_pages import resolve_pages
from pagedata.docbank import convert_docbank_dir, split_stems

__all__ = [
    "SAMPLES",
    "RealPages",
    "check_classes",
    "convert_docbank_pages",
    "mix_coco",
    "resolve_real_pages",
]

logger = logging.getLogger("graphkd")

# The 80 DocBank sample pages shipped with the repository (samples/docbank/README.md).
SAMPLES = Path(__file__).resolve().parents[3] / "samples" / "docbank"
# Pages are stored this many pixels high: text stays legible at twice the 512-px training sizes
# a sweep may try, and 80 pages fit in 13 MB at JPEG quality 88.
PAGE_HEIGHT = 1000
JPEG_QUALITY = 88


@dataclass(frozen=True)
class RealPages:
    """A train / val pair of COCO jsons whose ``file_name`` are relative to ``images``."""

    train_json: Path
    val_json: Path
    images: Path

    def fingerprint(self) -> dict[str, str]:
        """SHA-1 of each json: a run folder made from other pages is detected by it."""
        return {
            split: hashlib.sha1(path.read_bytes()).hexdigest()
            for split, path in (("train", self.train_json), ("val", self.val_json))
        }


def _read_coco(path: Path) -> dict:
    try:
        coco = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise ValueError(f"{path}: not a readable COCO json ({e})") from None
    if not isinstance(coco, dict) or not coco.get("images"):
        raise ValueError(f"{path}: a COCO json without 'images'; it lists no pages")
    if not coco.get("categories"):
        raise ValueError(f"{path}: a COCO json without 'categories'")
    return coco


def convert_docbank_pages(
    token_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    image_dir: str | os.PathLike | None = None,
    image_height: int = PAGE_HEIGHT,
    quality: int = JPEG_QUALITY,
) -> Path:
    """DocBank ``<stem>.txt`` + ``<stem>_ori.jpg`` pages -> ``out_dir`` (``images/``,
    ``COCO/{train,val,all}.json`` with PubLayNet's classes, ``COCO_labels/`` with DocBank's),
    pages ``image_height`` px high at JPEG ``quality``: the shipped samples' form. Returns
    ``out_dir``.

    The conversion is :func:`pagedata.docbank.convert_docbank_dir`'s.
    """
    out_dir = Path(out_dir)
    convert_docbank_dir(
        token_dir, out_dir, image_dir, image_height=image_height, jpeg_quality=quality
    )
    return out_dir


def _is_token_folder(folder: Path) -> bool:
    return any(folder.glob("*.txt")) and not any(folder.glob("**/*.json"))


def _converted(token_dir: Path, image_dir: str | None, work: Path) -> Path:
    """``work/docbank``: the token folder converted once, again when its files change."""
    out = work / "docbank"
    stamp = out / "source.json"
    files = sorted(token_dir.glob("*.txt"))
    source = {
        "token_dir": str(token_dir.resolve()),
        "files": {f.name: f.stat().st_size for f in files},
    }
    if not (stamp.is_file() and json.loads(stamp.read_text()) == source):
        logger.info(
            "demo_real: converting %d DocBank pages of %s -> %s", len(files), token_dir, out
        )
        convert_docbank_pages(token_dir, out, image_dir)
        stamp.write_text(json.dumps(source, indent=1))
    return out


def _split(gt: Path, images: Path, work: Path, val_fraction: float = 0.25) -> RealPages:
    """One json of the user's pages -> ``work/pages/{train,val}.json`` (val: a fixed fraction of
    the pages by a hash of the file name, :func:`pagedata.docbank.split_stems`)."""
    coco = _read_coco(gt)
    parts = split_stems([im["file_name"] for im in coco["images"]], val_fraction)
    if not parts["train"] or not parts["val"]:
        raise ValueError(
            f"{gt}: {len(coco['images'])} page(s) cannot be split into train and val pages; "
            "give at least 2 pages, or a val json with real_val=FILE"
        )
    out = work / "pages"
    out.mkdir(parents=True, exist_ok=True)
    paths = {}
    for split, names in parts.items():
        keep = {im["id"] for im in coco["images"] if im["file_name"] in set(names)}
        part = dict(
            coco,
            images=[im for im in coco["images"] if im["id"] in keep],
            annotations=[a for a in coco.get("annotations", []) if a["image_id"] in keep],
        )
        paths[split] = out / f"{split}.json"
        text = json.dumps(part)
        if not (paths[split].is_file() and paths[split].read_text() == text):
            paths[split].write_text(text)  # unchanged files keep their mtime
    return RealPages(paths["train"], paths["val"], images)


def _folder_splits(folder: Path) -> tuple[Path, Path] | None:
    """The train / val jsons of a converted folder (``COCO/``) or a folder holding both."""
    for sub in ("COCO", "."):
        train, val = folder / sub / "train.json", folder / sub / "val.json"
        if train.is_file() and val.is_file():
            return train, val
    return None


def _images_of(gt: Path, images: str | None) -> Path:
    """The image folder of ``gt`` (``images`` when given), checked on its first page."""
    folder = resolve_pages(gt, images)[1]
    first = _read_coco(gt)["images"][0]["file_name"]
    if not (folder / first).is_file():
        raise FileNotFoundError(
            f"{gt}: its page {first} is not in real_images={images}; name the folder of its images"
        )
    return folder


def resolve_real_pages(
    spec: str | os.PathLike | None,
    work: str | os.PathLike,
    images: str | None = None,
    val: str | None = None,
) -> RealPages:
    """The real pages named by ``spec`` (the recipe's ``real_pages=``):

    - None: the shipped samples (:data:`SAMPLES`);
    - a folder of DocBank token files (``<stem>.txt`` + ``<stem>_ori.jpg``, or images in
      ``images``): converted into ``work/docbank`` as the samples were;
    - a folder with ``COCO/train.json`` + ``COCO/val.json`` (the converter's layout) or
      ``train.json`` + ``val.json``; images in ``images``, else as :func:`resolve_pages` finds
      them;
    - a COCO json, or a folder :func:`resolve_pages` reads one json from: the val pages are
      ``val`` (a json with the same image folder) when given, else a quarter of the pages
      split off into ``work/pages``.

    Raises:
        FileNotFoundError: a missing folder, json or page image.
        ValueError: a json without pages or categories, too few pages to split.
    """
    work = Path(work)
    if spec is None:
        if _folder_splits(SAMPLES) is None:
            raise FileNotFoundError(
                f"the shipped DocBank samples are not in {SAMPLES} (an installed copy without "
                "the repository's samples/ folder); pass real_pages=DIR_OR_COCO_JSON"
            )
        spec = SAMPLES
    p = Path(spec)
    if not p.exists():
        raise FileNotFoundError(f"real_pages={spec}: no such folder or file")
    if p.is_dir() and _is_token_folder(p):
        p = _converted(p, images, work)
        images = None
    splits = _folder_splits(p) if p.is_dir() and val is None else None
    if splits is not None:
        train, val_json = splits
    else:
        train = resolve_pages(p, images)[0]
        if val is None:
            return _split(train, _images_of(train, images), work)
        val_json = Path(val)
        if not val_json.is_file():
            raise FileNotFoundError(f"real_val={val}: no such json")
    for gt in (train, val_json):
        _read_coco(gt)
    pages = RealPages(train, val_json, _images_of(train, images))
    _images_of(val_json, str(pages.images))  # the val pages are in the same folder
    return pages


def _category_names(coco: dict) -> dict[int, str]:
    return {c["id"]: c["name"] for c in coco["categories"]}


def check_classes(pages: RealPages, classes: Sequence[str]) -> None:
    """ValueError unless both jsons name every class of the pretrained models (by name): the
    models' heads are built for exactly these classes."""
    for gt in (pages.train_json, pages.val_json):
        names = set(_category_names(_read_coco(gt)).values())
        missing = [c for c in classes if c not in names]
        if missing:
            raise ValueError(
                f"{gt}: its categories {sorted(names)} lack {missing}; the pretrained models "
                f"detect {list(classes)}, so the real pages must use these class names "
                "(regions of other categories are left out)"
            )


def _absolute(coco: dict, images: Path) -> list[dict]:
    return [dict(im, file_name=str((images / im["file_name"]).resolve())) for im in coco["images"]]


def mix_coco(
    real: RealPages, synthetic_json: str | os.PathLike, synthetic_images: str | os.PathLike,
    out: str | os.PathLike,
) -> Path:  # fmt: skip
    """One COCO json listing the real train pages and the synthetic train pages (absolute
    ``file_name``, so any image root reads both; ids renumbered; the synthetic categories mapped
    to the real json's by name, regions of others dropped). Written to ``out``, returned."""
    parts = [(_read_coco(real.train_json), real.images),
             (_read_coco(Path(synthetic_json)), Path(synthetic_images))]  # fmt: skip
    categories = parts[0][0]["categories"]
    by_name = {c["name"]: c["id"] for c in categories}
    images, annotations = [], []
    for coco, root in parts:
        cats = _category_names(coco)
        new_id = {}
        for im in _absolute(coco, root):
            new_id[im["id"]] = len(images) + 1
            images.append(dict(im, id=new_id[im["id"]]))
        for a in coco.get("annotations", []):
            name = cats.get(a["category_id"])
            if name in by_name and a["image_id"] in new_id:
                annotations.append(dict(a, id=len(annotations) + 1, image_id=new_id[a["image_id"]],
                                        category_id=by_name[name]))  # fmt: skip
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps({"images": images, "annotations": annotations, "categories": categories})
    if not (out.is_file() and out.read_text() == text):
        out.write_text(text)
    return out
