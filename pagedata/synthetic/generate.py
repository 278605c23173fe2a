"""Rendering pages of either style by (seed, split, index) and writing them as a COCO dataset."""

from __future__ import annotations

import json
import logging
import os
import time
import zlib
from collections.abc import Iterator
from io import BytesIO
from pathlib import Path

import numpy as np
from PIL import Image

from pagedata.synthetic.classic import render_classic
from pagedata.synthetic.common import CLASSES, Box, check_style, page_size

logger = logging.getLogger(__name__)

# Bump whenever a change alters the generated pixels or boxes: ensure_synthetic regenerates.
GENERATOR_VERSION = 1


def _page_rng(seed: int, split: str, index: int) -> np.random.Generator:
    """The generator of page ``index`` of ``split``: independent of how many pages are drawn."""
    return np.random.default_rng(
        np.random.SeedSequence([int(seed), zlib.crc32(split.encode()), int(index)])
    )


def render_page(
    seed: int,
    index: int,
    image_size: int = 640,
    split: str = "train",
    noise: bool = True,
    style: str = "classic",
):
    """Render one page. Returns ``(PIL RGB image, [(category_id, (x0, y0, x1, y1)), ...], quality)``.

    ``quality`` is the JPEG quality the page should be saved with (None: default 92), part of
    the scan-noise model. ``style``: "classic" or "realistic" (see :mod:`pagedata.synthetic`).
    """
    if check_style(style) == "realistic":
        from pagedata.synthetic.realistic import render_realistic

        page_size(image_size)  # validates
        return render_realistic(_page_rng(seed, split, index), image_size, noise)
    return render_classic(_page_rng(seed, split, index), image_size, noise)


def _render_job(args) -> tuple[bytes, list, int, int]:
    """Render one page and encode it: (image bytes, blocks, width, height)."""
    seed, index, image_size, split, noise, fmt, style = args
    img, blocks, quality = render_page(seed, index, image_size, split, noise, style)
    buf = BytesIO()
    if fmt == "jpg":
        img.save(buf, format="JPEG", quality=quality or 92)
    else:
        if quality is not None and quality < 80:  # JPEG artefacts, stored losslessly
            tmp = BytesIO()
            img.save(tmp, format="JPEG", quality=quality)
            img = Image.open(BytesIO(tmp.getvalue())).convert("RGB")
        img.save(buf, format="PNG", compress_level=1)
    return buf.getvalue(), blocks, img.size[0], img.size[1]


def _pages(jobs: list, workers: int) -> Iterator:
    """The rendered jobs in order, from a process pool when ``workers`` > 1."""
    if workers and workers > 1:
        import multiprocessing as mp

        with mp.get_context("spawn").Pool(workers) as pool:
            yield from pool.imap(_render_job, jobs, chunksize=8)
    else:
        yield from map(_render_job, jobs)


def coco_categories() -> list[dict]:
    """COCO categories of :data:`CLASSES`, ids 1..5."""
    return [{"id": i + 1, "name": n, "supercategory": ""} for i, n in enumerate(CLASSES)]


def style_info(style: str) -> dict:
    """Extra json / manifest keys of a non-classic style (classic files stay byte-identical)."""
    if style == "classic":
        return {}
    from pagedata.synthetic.realistic import VERSION

    return {"style": style, "style_version": VERSION}


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file, so readers never see half a file."""
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _image_format(image_format: str) -> str:
    """``jpg`` or ``png`` from a user's spelling (``.JPEG`` ...), else ValueError."""
    image_format = image_format.lower().lstrip(".").replace("jpeg", "jpg")
    if image_format not in ("jpg", "png"):
        raise ValueError(f"image_format must be 'jpg' or 'png', got {image_format!r}")
    return image_format


def _annotations(blocks: list[tuple[int, Box]], image_id: int, first_id: int) -> list[dict]:
    """COCO annotations of one page's blocks, ids from ``first_id``; coordinates rounded to
    0.01 px, the segmentation is the box polygon."""
    anns = []
    for cat, (x0, y0, x1, y1) in blocks:
        x0, y0, x1, y1 = (round(float(v), 2) for v in (x0, y0, x1, y1))
        bw, bh = round(x1 - x0, 2), round(y1 - y0, 2)
        anns.append(
            {
                "id": first_id + len(anns),
                "image_id": image_id,
                "category_id": int(cat),
                "bbox": [x0, y0, bw, bh],
                "area": round(bw * bh, 2),
                "iscrowd": 0,
                "segmentation": [[x0, y0, x1, y0, x1, y1, x0, y1]],
            }
        )
    return anns


def _write_pages(
    img_dir: Path, jobs: list, workers: int, image_format: str
) -> tuple[list[dict], list[dict]]:
    """Render the jobs into ``img_dir/NNNNNN.<fmt>``; returns their COCO images and
    annotations (ids 1.. in page order)."""
    images, annotations = [], []
    for i, (data, blocks, w, h) in enumerate(_pages(jobs, workers)):
        name = f"{i:06d}.{image_format}"
        (img_dir / name).write_bytes(data)
        images.append({"id": i + 1, "file_name": name, "width": w, "height": h})
        annotations += _annotations(blocks, i + 1, len(annotations) + 1)
    return images, annotations


def generate_synthetic(
    out_dir: str | os.PathLike,
    num_pages: int,
    seed: int = 0,
    image_size: int = 640,
    *,
    split: str = "train",
    image_format: str = "jpg",
    noise: bool = True,
    workers: int = 0,
    style: str = "classic",
) -> Path:
    """Write ``num_pages`` pages as ``out_dir/<split>/NNNNNN.<fmt>`` + ``out_dir/<split>.json``.

    Args:
        out_dir: dataset directory (created).
        num_pages: number of pages (>= 1).
        seed: generator seed; same seed, split and size -> byte-identical json and pixels.
        image_size: page height in pixels (width = round(height * 8.5 / 11)).
        split: split name; also part of each page's seed.
        image_format: "jpg" (default) or "png".
        noise: apply scan noise (rotation, blur, speckle, tint, JPEG quality).
        workers: > 1 renders with a process pool (same output, just faster).
        style: "classic" (the original pages, bit-identical) or "realistic".

    Returns:
        Path of the written COCO json.
    """
    if int(num_pages) < 1:
        raise ValueError(f"num_pages must be >= 1, got {num_pages}")
    image_format = _image_format(image_format)
    page_size(image_size)  # validates
    check_style(style)
    out = Path(out_dir)
    img_dir = out / split
    img_dir.mkdir(parents=True, exist_ok=True)
    jobs = [
        (int(seed), i, int(image_size), split, bool(noise), image_format, style)
        for i in range(int(num_pages))
    ]
    t0 = time.perf_counter()
    images, annotations = _write_pages(img_dir, jobs, workers, image_format)
    info = {"description": "GraphKD synthetic document pages (PubLayNet classes)",
            "generator_version": GENERATOR_VERSION, "seed": int(seed), "split": split,
            "image_size": int(image_size), **style_info(style)}  # fmt: skip
    coco = {"info": info, "licenses": [], "images": images, "annotations": annotations,
            "categories": coco_categories()}  # fmt: skip
    json_path = out / f"{split}.json"
    write_atomic(json_path, json.dumps(coco))
    dt = time.perf_counter() - t0
    logger.info("wrote %d pages (%d boxes) to %s in %.1f s", num_pages, len(annotations), out, dt)
    return json_path
