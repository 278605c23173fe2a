"""Converting a folder of DocBank pages into a dataset folder: images and per class set
train / val / all COCO jsons."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from pagedata.docbank.coco import docbank_to_coco
from pagedata.docbank.labels import COCO_DIRS, class_map
from pagedata.docbank.params import GroupingParams
from pagedata.docbank.tokens import DocBankPage, read_page

logger = logging.getLogger(__name__)


def split_stems(stems: Iterable[str], val_fraction: float = 0.25) -> dict[str, list[str]]:
    """Fixed train / val split by a hash of the stem.

    The ``round(len * val_fraction)`` stems with the smallest SHA-1 go to val: the split does
    not depend on file order, and a page keeps its split when pages are added (unless it is
    pushed across the cut).
    """
    if not 0 <= val_fraction < 1:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    stems = sorted(set(stems))
    by_hash = sorted(stems, key=lambda s: hashlib.sha1(s.encode("utf-8")).hexdigest())
    val = set(by_hash[: int(round(len(stems) * val_fraction))])
    return {"train": [s for s in stems if s not in val], "val": [s for s in stems if s in val]}


def _write_image(
    page: DocBankPage, out: Path, image_height: int | None, jpeg_quality: int | None = None
) -> DocBankPage:
    """Copy (or resize to ``image_height`` pixels high) the page image into ``out``; a resized
    page is a JPEG at ``jpeg_quality`` (optimised), or at quality 95 when None."""
    dst = out / page.image.name
    if not image_height or image_height == page.height:
        if not (dst.is_file() and dst.stat().st_size == page.image.stat().st_size):
            shutil.copyfile(page.image, dst)
        return page
    scale = image_height / page.height
    w, h = max(1, int(round(page.width * scale))), int(image_height)
    dst = dst.with_suffix(".jpg")
    with Image.open(page.image) as im:
        page_image = im.convert("RGB").resize((w, h), Image.Resampling.LANCZOS)
    if jpeg_quality is None:
        page_image.save(dst, quality=95)
    else:
        page_image.save(dst, quality=jpeg_quality, optimize=True)
    boxes = page.boxes * np.array([w / page.width, h / page.height] * 2)
    return DocBankPage(page.stem, dst, w, h, boxes, page.labels, page.drawing)


def convert_docbank_dir(
    token_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    image_dir: str | os.PathLike | None = None,
    val_fraction: float = 0.25,
    class_sets: Sequence[str] = ("publaynet", "docbank"),
    image_height: int | None = None,
    params: GroupingParams | None = None,
    jpeg_quality: int | None = None,
) -> dict[str, Path]:
    """Convert every ``*.txt`` token file of ``token_dir`` into a dataset folder ``out_dir``.

    Writes ``out_dir/images/`` (the page images, copied, or resized to ``image_height`` pixels
    high) and, per class set, ``out_dir/<COCO_DIRS[set]>/{train,val,all}.json`` (train / val by
    :func:`split_stems`; ``all`` = every page). Image ids are the pages' ranks in ``all`` (sorted
    by image file name, the order ``scripts/predict.py`` reads a folder in), the same in every
    json. ``jpeg_quality``: of the resized pages (None: 95). Returns ``{"<set>/<split>": json path}``.
    """
    files = sorted(Path(token_dir).glob("*.txt"))
    if not files:
        raise FileNotFoundError(f"No *.txt DocBank token files in {token_dir}")
    for s in class_sets:
        class_map(s)  # fail on a bad class set before any work
    out_dir = Path(out_dir)
    (out_dir / "images").mkdir(parents=True, exist_ok=True)
    pages = [
        _write_image(read_page(f, image_dir), out_dir / "images", image_height, jpeg_quality)
        for f in files
    ]
    pages.sort(key=lambda pg: pg.image.name)
    ids = {pg.stem: k + 1 for k, pg in enumerate(pages)}
    parts = split_stems(ids, val_fraction)
    parts["all"] = list(ids)
    written = {}
    for s in class_sets:
        folder = out_dir / COCO_DIRS[s]
        folder.mkdir(exist_ok=True)
        coco_all = docbank_to_coco(pages, s, ids, params)
        for split, stems in parts.items():
            if not stems:
                continue
            keep = {ids[st] for st in stems}
            coco = {
                "images": [im for im in coco_all["images"] if im["id"] in keep],
                "annotations": [a for a in coco_all["annotations"] if a["image_id"] in keep],
                "categories": coco_all["categories"],
            }
            path = folder / f"{split}.json"
            path.write_text(json.dumps(coco))
            written[f"{s}/{split}"] = path
    logger.info("converted %d DocBank pages into %s", len(pages), out_dir)
    return written
