"""Synthetic document pages with exact layout ground truth (the embedded default dataset).

Pages follow PubLayNet's classes and annotation style: COCO category ids 1..5 =
``text, title, list, table, figure``. A page has one or two columns (two-column pages may start
with a full-width title and/or a full-width table or figure), titles, paragraphs (lines of
word-like glyph runs in the DejaVu fonts shipped with matplotlib), bulleted / numbered lists,
ruled tables, figures (line plots, bar charts, shape diagrams, photo-like noise images), figure
and table captions (annotated as ``text``, as PubLayNet does), an optional running header and
footer, and optional scan noise (paper tint, blur, speckle, JPEG artefacts, rotation <= 1 degree).

Annotation rules:

* boxes are the tight ink extent of each block; lists are one ``list`` block each (PubLayNet);
* page headers / footers / page numbers are drawn but NOT annotated (PubLayNet leaves them out);
* annotated blocks never overlap and lie inside the page, also after rotation: a rotated box is
  replaced by the axis-aligned box of its rotated corners (clipped to the page), and the angle is
  halved until no two such boxes overlap;
* ``segmentation`` is the box polygon, ``iscrowd`` 0, ``area`` = box area.

Styles: ``classic`` (this module; the pages the README's GraphKD-vs-DSIG tables were made on,
kept bit-identical) and ``realistic`` (:mod:`pagedata.synthetic_realistic`: real words in LaTeX /
Times fonts at real sizes, drawn supersampled, equations, paper-like figures and tables; made to
transfer to real pages). The style is a parameter of every function below; datasets of the two
styles live in different folders (see :func:`detectors.datasets.register_dataset`).

Determinism: page ``i`` of split ``s`` with seed ``k`` is drawn from
``numpy.random.default_rng(SeedSequence([k, crc32(s), i]))``, so it does not depend on how many
pages are generated, and ``train`` / ``val`` never share pages.

On-disk layout (PubLayNet's, so the same registration code reads it)::

    out_dir/
        manifest.json          # generator parameters per split (reuse check of ensure_synthetic)
        train.json  val.json   # COCO instances
        train/000000.jpg ...   # page images (jpg or png)
        val/000000.jpg ...
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import shutil
import time
import zlib
from collections.abc import Iterator, Mapping
from io import BytesIO
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from pagedata import synthetic_render as R
from pagedata.classes import PUBLAYNET_CLASSES

logger = logging.getLogger(__name__)

__all__ = [
    "CLASSES",
    "STYLES",
    "GENERATOR_VERSION",
    "render_page",
    "generate_synthetic",
    "ensure_synthetic",
]

CLASSES = PUBLAYNET_CLASSES
TEXT, TITLE, LIST, TABLE, FIGURE = 1, 2, 3, 4, 5
# Bump whenever a change alters the generated pixels or boxes: ensure_synthetic regenerates.
GENERATOR_VERSION = 1
STYLES = ("classic", "realistic")
PAGE_ASPECT = 8.5 / 11.0  # US Letter, like most PubLayNet (PMC) pages

_INK = (25, 25, 25)


def page_size(image_size: int) -> tuple[int, int]:
    """(width, height) of a page whose height (the long side) is ``image_size`` pixels."""
    if int(image_size) < 128:
        raise ValueError(f"image_size={image_size} is too small for a page; use >= 128 pixels.")
    return int(round(image_size * PAGE_ASPECT)), int(image_size)


def _page_rng(seed: int, split: str, index: int) -> np.random.Generator:
    return np.random.default_rng(
        np.random.SeedSequence([int(seed), zlib.crc32(split.encode()), int(index)])
    )


class _Page:
    """Layout state of one page: the canvas, fonts and the annotated blocks so far."""

    def __init__(self, rng: np.random.Generator, image_size: int):
        self.rng = rng
        self.w, self.h = page_size(image_size)
        u = self.h / 792.0  # pixels per typographic point
        self.size = max(int(round(rng.uniform(8.5, 11.0) * u)), 4)
        self.serif = rng.random() < 0.7
        self.body = "serif" if self.serif else "sans"
        self.bold = "serif_bold" if self.serif else "sans_bold"
        self.spacing = rng.uniform(1.1, 1.4)
        self.lh = R.line_height(self.size, self.spacing)
        paper = rng.integers(243, 256)
        self.image = Image.new("RGB", (self.w, self.h), (int(paper),) * 3)
        self.blocks: list[tuple[int, R.Box]] = []

    def add(self, cat: int, box: R.Box | None) -> None:
        if box is not None:
            self.blocks.append((cat, box))

    # ------------------------------------------------------------------ block renderers
    # Each takes the top-left corner, width and the height still free, draws, and returns the
    # height used (0 when the block did not fit and nothing was drawn).

    def paragraph(
        self, x: int, y: int, w: int, hmax: int, lines: int | None = None, size=None, cat=TEXT
    ) -> int:
        size = size or self.size
        lh = R.line_height(size, self.spacing) if size != self.size else self.lh
        want = lines or int(np.clip(self.rng.geometric(0.12), 2, 22))
        n = min(want, hmax // lh)
        if n < min(2, want):
            return 0
        indent = int(self.rng.random() < 0.5) * size * 2
        justify = self.rng.random() < 0.6
        boxes = []
        for i in range(n):
            last = i == n - 1
            x0 = x + (indent if i == 0 else 0)
            fill = self.rng.uniform(0.2, 0.9) if last else 1.0
            b = R.draw_line(
                self.image,
                x0,
                y + i * lh,
                w - (x0 - x),
                self.body,
                size,
                self.rng,
                _INK,
                fill,
                justify and not last,
            )
            if b is not None:
                boxes.append(b)
        if boxes:
            self.add(cat, R.union(boxes))
        return n * lh

    def title(self, x: int, y: int, w: int, hmax: int, big: bool = False) -> int:
        scale = self.rng.uniform(1.6, 2.2) if big else self.rng.uniform(1.05, 1.45)
        size = max(int(round(self.size * scale)), 5)
        lh = R.line_height(size, 1.15)
        n = 1 + int(self.rng.random() < (0.5 if big else 0.15))
        if n * lh > hmax:
            return 0
        style = self.bold if self.rng.random() < 0.85 else "serif_italic"
        boxes = []
        for i in range(n):
            fill = self.rng.uniform(0.3, 0.95 if i == 0 and n > 1 else 0.7)
            center = big and self.rng.random() < 0.6
            b = R.draw_line(self.image, x, y + i * lh, w, style, size, self.rng, (10, 10, 10), fill)
            if b is not None and center:  # re-centre: shift the drawn line by pasting (cheap crop)
                b = self._shift(b, (x + (w - (b[2] - b[0])) / 2) - b[0])
            if b is not None:
                boxes.append(b)
        if boxes:
            self.add(TITLE, R.union(boxes))
        return n * lh

    def _shift(self, box: R.Box, dx: float) -> R.Box:
        dx = int(round(dx))
        if dx <= 0:
            return box
        x0, y0, x1, y1 = (int(v) for v in box)
        crop = self.image.crop((x0, y0, x1, y1))
        bg = self.image.getpixel((0, 0))
        ImageDraw.Draw(self.image).rectangle((x0, y0, x1 - 1, y1 - 1), fill=bg)
        self.image.paste(crop, (x0 + dx, y0))
        return (x0 + dx, y0, x1 + dx, y1)

    def listing(self, x: int, y: int, w: int, hmax: int) -> int:
        items = int(self.rng.integers(2, 7))
        numbered = self.rng.random() < 0.35
        indent = self.size * 2
        boxes, used = [], 0
        d = ImageDraw.Draw(self.image)
        for k in range(items):
            n = int(self.rng.integers(1, 4))
            if used + n * self.lh > hmax:
                break
            ty = y + used
            if numbered:
                b = R.draw_line(
                    self.image,
                    x,
                    ty,
                    indent,
                    self.body,
                    self.size,
                    self.rng,
                    _INK,
                    numeric=True,
                    max_words=1,
                )
            else:
                r = max(self.size / 5, 1.5)
                cy = ty + self.lh / 2 - 1
                d.ellipse((x + r, cy - r, x + 3 * r, cy + r), fill=_INK)
                b = (x + r, cy - r, x + 3 * r + 1, cy + r + 1)
            if b is not None:
                boxes.append(b)
            for i in range(n):
                fill = self.rng.uniform(0.3, 0.9) if i == n - 1 else 1.0
                b = R.draw_line(
                    self.image,
                    x + indent,
                    ty + i * self.lh,
                    w - indent,
                    self.body,
                    self.size,
                    self.rng,
                    _INK,
                    fill,
                )
                if b is not None:
                    boxes.append(b)
            used += n * self.lh + int(self.lh * 0.25) * (k < items - 1)
        if len(boxes) < 2:
            return 0
        self.add(LIST, R.union(boxes))
        return used

    def caption(self, x: int, y: int, w: int, hmax: int) -> int:
        size = max(self.size - 1, 4)
        return self.paragraph(x, y, w, hmax, lines=int(self.rng.integers(1, 4)), size=size)

    def table(self, x: int, y: int, w: int, hmax: int) -> int:
        used = 0
        gap = self.lh // 2
        if self.rng.random() < 0.5:  # caption above the table
            used = self.caption(x, y, w, hmax // 3)
            used += gap if used else 0
        tw = int(w * self.rng.uniform(0.75, 1.0))
        tx = x + (w - tw) // 2
        size = max(self.size - int(self.rng.integers(0, 2)), 4)
        box = R.draw_table(self.image, tx, y + used, tw, hmax - used, self.rng, size, _INK)
        if box is None:
            if used:  # keep the caption alone: it is an honest text block
                return used - gap
            return 0
        self.add(TABLE, box)
        return int(math.ceil(box[3])) - y

    def figure(self, x: int, y: int, w: int, hmax: int) -> int:
        fw = int(w * self.rng.uniform(0.55, 1.0))
        fh = int(fw * self.rng.uniform(0.45, 0.9))
        cap = self.rng.random() < 0.6
        cap_room = (
            3 * R.line_height(max(self.size - 1, 4), self.spacing) + self.lh // 2 if cap else 0
        )
        fh = min(fh, hmax - cap_room)
        if fh < max(24, w // 6):
            return 0
        fx = x + (w - fw) // 2
        self.add(FIGURE, R.draw_figure(self.image, (fx, y, fx + fw, y + fh), self.rng, self.size))
        used = fh
        if cap:
            c = self.caption(x, y + used + self.lh // 2, w, hmax - used - self.lh // 2)
            used += self.lh // 2 + c if c else 0
        return used

    # ------------------------------------------------------------------ page furniture

    def furniture(self, top: int, bottom: int, x0: int, x1: int) -> None:
        """Running header / footer in the margins: drawn, deliberately not annotated."""
        small = max(self.size - 2, 4)
        if self.rng.random() < 0.5:
            y = top - 2 * self.lh
            if y > 2:
                R.draw_line(
                    self.image,
                    x0,
                    y,
                    (x1 - x0) * 0.6,
                    self.body,
                    small,
                    self.rng,
                    (90, 90, 90),
                    self.rng.uniform(0.3, 1),
                )
                if self.rng.random() < 0.5:
                    ImageDraw.Draw(self.image).line(
                        (x0, y + self.lh, x1, y + self.lh), fill=(120, 120, 120)
                    )
        if self.rng.random() < 0.5:
            y = bottom + self.lh
            if y + self.lh < self.h - 2:
                xc = (x0 + x1) // 2 - small
                R.draw_line(
                    self.image,
                    xc,
                    y,
                    small * 4,
                    self.body,
                    small,
                    self.rng,
                    (90, 90, 90),
                    numeric=True,
                    max_words=1,
                )


_KINDS = PUBLAYNET_CLASSES
_WEIGHTS = np.array([0.52, 0.14, 0.1, 0.1, 0.14])


def _fill_column(
    p: _Page, x: int, y: int, w: int, bottom: int, forced: tuple[int, str] | None
) -> None:
    gap_lo, gap_hi = 0.6, 1.6
    k, prev = 0, None
    while bottom - y > 2 * p.lh:
        if forced is not None and k == forced[0]:
            kind = forced[1]
        else:
            kind = str(p.rng.choice(_KINDS, p=_WEIGHTS))
            if kind == "title" and prev == "title":
                kind = "text"
        if prev == "title":
            kind = "text" if p.rng.random() < 0.8 else kind
        hmax = bottom - y
        used = getattr(p, {"text": "paragraph", "list": "listing"}.get(kind, kind))(x, y, w, hmax)
        if used <= 0:
            if kind in ("table", "figure"):  # not enough room: finish the column with text
                used = p.paragraph(x, y, w, hmax)
            if used <= 0:
                break
        y += used + int(p.lh * p.rng.uniform(gap_lo, gap_hi)) + 2
        k, prev = k + 1, kind


def _layout(p: _Page) -> None:
    rng = p.rng
    ml, mr = (int(p.w * rng.uniform(0.07, 0.12)) for _ in range(2))
    mt, mb = (int(p.h * rng.uniform(0.06, 0.09)) for _ in range(2))
    x0, x1, top, bottom = ml, p.w - mr, mt, p.h - mb
    p.furniture(top, bottom, x0, x1)
    two = rng.random() < 0.65
    forced_kind = str(rng.choice(["table", "figure", "list"]))
    y = top
    if two and rng.random() < 0.6:  # full-width article title (+ sometimes a full-width float)
        used = p.title(x0, y, x1 - x0, bottom - y, big=True)
        y += used + int(p.lh * 1.5) if used else 0
    if two and rng.random() < 0.2:
        kind = str(rng.choice(["table", "figure"]))
        used = getattr(p, kind)(x0, y, x1 - x0, (bottom - y) // 2)
        y += used + int(p.lh * 1.2) if used else 0
    if not two:
        _fill_column(p, x0, y, x1 - x0, bottom, (int(rng.integers(0, 3)), forced_kind))
        return
    gutter = int(p.w * rng.uniform(0.03, 0.05))
    cw = (x1 - x0 - gutter) // 2
    col = int(rng.integers(0, 2))
    for c in range(2):
        forced = (int(rng.integers(0, 3)), forced_kind) if c == col else None
        _fill_column(p, x0 + c * (cw + gutter), y, cw, bottom, forced)


def _rotate_box(box: R.Box, angle_deg: float, w: int, h: int) -> R.Box:
    """Axis-aligned box of ``box`` after PIL's ``Image.rotate(angle_deg)`` about the centre."""
    t = math.radians(angle_deg)
    c, s = math.cos(t), math.sin(t)
    cx, cy = w / 2.0, h / 2.0
    xs = np.array([box[0], box[2], box[2], box[0]]) - cx
    ys = np.array([box[1], box[1], box[3], box[3]]) - cy
    # PIL rotates counter-clockwise on screen (y axis pointing down).
    rx = cx + c * xs + s * ys
    ry = cy - s * xs + c * ys
    return (
        float(np.clip(rx.min(), 0, w)),
        float(np.clip(ry.min(), 0, h)),
        float(np.clip(rx.max(), 0, w)),
        float(np.clip(ry.max(), 0, h)),
    )


def _overlaps(boxes: list[R.Box]) -> bool:
    if len(boxes) < 2:
        return False
    a = np.asarray(boxes)
    ix = np.minimum(a[:, None, 2], a[None, :, 2]) - np.maximum(a[:, None, 0], a[None, :, 0])
    iy = np.minimum(a[:, None, 3], a[None, :, 3]) - np.maximum(a[:, None, 1], a[None, :, 1])
    inter = (ix > 0) & (iy > 0)
    np.fill_diagonal(inter, False)
    return bool(inter.any())


def _scan_noise(p: _Page) -> tuple[Image.Image, list[tuple[int, R.Box]], int | None]:
    """Apply scan noise; returns the image, the (possibly rotated) blocks and a JPEG quality."""
    rng, img, blocks = p.rng, p.image, p.blocks
    noisy = rng.random() < 0.7
    quality = int(rng.integers(60, 96)) if noisy else None
    if not noisy:
        return img, blocks, quality
    if rng.random() < 0.5:
        angle = float(rng.uniform(-1.0, 1.0))
        while abs(angle) > 0.02:
            rotated = [(c, _rotate_box(b, angle, p.w, p.h)) for c, b in blocks]
            if not _overlaps([b for _, b in rotated]):
                break
            angle /= 2
        if abs(angle) > 0.02:
            fill = img.getpixel((0, 0))
            img = img.rotate(angle, resample=Image.BILINEAR, fillcolor=fill)
            blocks = rotated
    if rng.random() < 0.4:
        img = img.filter(ImageFilter.GaussianBlur(float(rng.uniform(0.3, 0.8))))
    if rng.random() < 0.35:
        a = np.asarray(img).copy()
        n = int(a.shape[0] * a.shape[1] * rng.uniform(2e-4, 1.5e-3))
        ys, xs = rng.integers(0, a.shape[0], n), rng.integers(0, a.shape[1], n)
        a[ys, xs] = rng.integers(0, 120, (n, 1))
        img = Image.fromarray(a)
    if rng.random() < 0.4:  # slightly yellowed / grey paper
        tint = rng.uniform([0.93, 0.92, 0.86], [1.0, 1.0, 0.98]).astype(np.float32)
        img = Image.fromarray((np.asarray(img, dtype=np.float32) * tint).astype(np.uint8))
    return img, blocks, quality


def _check_style(style: str) -> str:
    if style not in STYLES:
        raise ValueError(f"style must be one of {list(STYLES)}, got {style!r}")
    return style


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
    the scan-noise model. ``style``: "classic" or "realistic" (see the module docstring).
    """
    if _check_style(style) == "realistic":
        from pagedata.synthetic_realistic import render_realistic

        page_size(image_size)  # validates
        return render_realistic(_page_rng(seed, split, index), image_size, noise)
    p = _Page(_page_rng(seed, split, index), image_size)
    _layout(p)
    if noise:
        img, blocks, quality = _scan_noise(p)
    else:
        img, blocks, quality = p.image, p.blocks, None
    w, h = img.size
    clipped = []
    for c, b in blocks:
        x0, y0 = max(0.0, float(b[0])), max(0.0, float(b[1]))
        x1, y1 = min(float(w), float(b[2])), min(float(h), float(b[3]))
        if x1 - x0 >= 1 and y1 - y0 >= 1:
            clipped.append((c, (x0, y0, x1, y1)))
    return img, clipped, quality


def _render_job(args) -> tuple[bytes, list, int, int]:
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
    if workers and workers > 1:
        import multiprocessing as mp

        with mp.get_context("spawn").Pool(workers) as pool:
            yield from pool.imap(_render_job, jobs, chunksize=8)
    else:
        yield from map(_render_job, jobs)


def coco_categories() -> list[dict]:
    return [{"id": i + 1, "name": n, "supercategory": ""} for i, n in enumerate(CLASSES)]


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
    image_format = image_format.lower().lstrip(".").replace("jpeg", "jpg")
    if image_format not in ("jpg", "png"):
        raise ValueError(f"image_format must be 'jpg' or 'png', got {image_format!r}")
    page_size(image_size)  # validates
    _check_style(style)
    out = Path(out_dir)
    img_dir = out / split
    img_dir.mkdir(parents=True, exist_ok=True)
    images, annotations = [], []
    jobs = [
        (int(seed), i, int(image_size), split, bool(noise), image_format, style)
        for i in range(int(num_pages))
    ]
    t0 = time.perf_counter()
    for i, (data, blocks, w, h) in enumerate(_pages(jobs, workers)):
        name = f"{i:06d}.{image_format}"
        (img_dir / name).write_bytes(data)
        image_id = i + 1
        images.append({"id": image_id, "file_name": name, "width": w, "height": h})
        for cat, (x0, y0, x1, y1) in blocks:
            x0, y0, x1, y1 = (round(float(v), 2) for v in (x0, y0, x1, y1))
            bw, bh = round(x1 - x0, 2), round(y1 - y0, 2)
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image_id,
                    "category_id": int(cat),
                    "bbox": [x0, y0, bw, bh],
                    "area": round(bw * bh, 2),
                    "iscrowd": 0,
                    "segmentation": [[x0, y0, x1, y0, x1, y1, x0, y1]],
                }
            )
    coco = {
        "info": {
            "description": "GraphKD synthetic document pages (PubLayNet classes)",
            "generator_version": GENERATOR_VERSION,
            "seed": int(seed),
            "split": split,
            "image_size": int(image_size),
            **_style_info(style),
        },
        "licenses": [],
        "images": images,
        "annotations": annotations,
        "categories": coco_categories(),
    }
    json_path = out / f"{split}.json"
    tmp = json_path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(coco))
    os.replace(tmp, json_path)
    dt = time.perf_counter() - t0
    logger.info("wrote %d pages (%d boxes) to %s in %.1f s", num_pages, len(annotations), out, dt)
    return json_path


def _style_info(style: str) -> dict:
    """Extra json / manifest keys of a non-classic style (classic files stay byte-identical)."""
    if style == "classic":
        return {}
    from pagedata.synthetic_realistic import VERSION

    return {"style": style, "style_version": VERSION}


def _split_params(
    num_pages: int, seed: int, image_size: int, image_format: str, noise: bool,
    style: str = "classic",
) -> dict:  # fmt: skip
    return {
        "generator_version": GENERATOR_VERSION,
        "num_pages": int(num_pages),
        "seed": int(seed),
        "image_size": int(image_size),
        "image_format": image_format,
        "noise": bool(noise),
        **_style_info(style),
    }


@contextlib.contextmanager
def _locked(root: Path):
    """Inter-process lock so concurrent ranks / jobs do not generate the same split twice."""
    root.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - non-POSIX
        yield
        return
    with open(root / ".lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def ensure_synthetic(
    root: str | os.PathLike,
    splits: Mapping[str, int] | None = None,
    seed: int = 0,
    image_size: int = 640,
    *,
    image_format: str = "jpg",
    noise: bool = True,
    workers: int = 0,
    style: str = "classic",
) -> dict[str, tuple[Path, Path]]:
    """Generate the synthetic dataset under ``root`` on first use and reuse it afterwards.

    A split is reused when ``root/manifest.json`` records exactly the requested parameters
    (pages, seed, image size, format, noise, generator version, style) and its json and images
    exist; otherwise that split is deleted and regenerated. Returns ``{split: (json_path,
    image_dir)}``. Give each style its own ``root`` (``register_dataset`` does).
    """
    _check_style(style)
    splits = dict(splits or {"train": 200, "val": 50})
    root = Path(root)
    manifest_path = root / "manifest.json"
    out: dict[str, tuple[Path, Path]] = {}
    with _locked(root):
        manifest = {}
        if manifest_path.is_file():
            try:
                manifest = json.loads(manifest_path.read_text())
            except json.JSONDecodeError:
                logger.warning("ignoring unreadable %s; regenerating", manifest_path)
        manifest.setdefault("splits", {})
        for split, n in splits.items():
            params = _split_params(n, seed, image_size, image_format, noise, style)
            json_path, img_dir = root / f"{split}.json", root / split
            have = manifest["splits"].get(split)
            complete = (
                have == params
                and json_path.is_file()
                and img_dir.is_dir()
                and sum(1 for _ in img_dir.glob(f"*.{image_format}")) == int(n)
            )
            if complete:
                logger.info("reusing synthetic split %r (%d pages) in %s", split, n, root)
            else:
                if have is not None:
                    logger.info(
                        "synthetic split %r parameters changed (%s -> %s): regenerating",
                        split,
                        have,
                        params,
                    )
                manifest["splits"].pop(split, None)
                shutil.rmtree(img_dir, ignore_errors=True)
                json_path.unlink(missing_ok=True)
                generate_synthetic(
                    root,
                    n,
                    seed,
                    image_size,
                    split=split,
                    image_format=image_format,
                    noise=noise,
                    workers=workers,
                    style=style,
                )
                manifest["splits"][split] = params
                tmp = manifest_path.with_suffix(".json.tmp")
                tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True))
                os.replace(tmp, manifest_path)
            out[split] = (json_path, img_dir)
    return out
