"""Layout of classic pages: margins, one or two columns of random blocks, scan noise."""

from __future__ import annotations

import numpy as np
from PIL import Image

from pagedata.synthetic.classic.noise import scan_noise
from pagedata.synthetic.classic.page import ClassicPage
from pagedata.synthetic.common import CLASSES, Box

_KINDS = CLASSES
_WEIGHTS = np.array([0.52, 0.14, 0.1, 0.1, 0.14])


def _fill_column(
    p: ClassicPage, x: int, y: int, w: int, bottom: int, forced: tuple[int, str] | None
) -> None:
    """Fill one column from y down to bottom with random blocks; ``forced`` = (k, kind) makes
    the k-th block a ``kind``."""
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


def layout(p: ClassicPage) -> None:
    """Margins, furniture, an optional full-width title and float, then one or two columns."""
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


def _clip(blocks: list[tuple[int, Box]], w: int, h: int) -> list[tuple[int, Box]]:
    """The blocks clipped to the ``w`` x ``h`` page; those thinner than a pixel are dropped."""
    clipped = []
    for c, b in blocks:
        x0, y0 = max(0.0, float(b[0])), max(0.0, float(b[1]))
        x1, y1 = min(float(w), float(b[2])), min(float(h), float(b[3]))
        if x1 - x0 >= 1 and y1 - y0 >= 1:
            clipped.append((c, (x0, y0, x1, y1)))
    return clipped


def render_classic(
    rng: np.random.Generator, image_size: int, noise: bool = True
) -> tuple[Image.Image, list[tuple[int, Box]], int | None]:
    """Render one page: ``(PIL RGB image, [(category_id, box), ...], jpeg quality or None)``."""
    p = ClassicPage(rng, image_size)
    layout(p)
    if noise:
        img, blocks, quality = scan_noise(p)
    else:
        img, blocks, quality = p.image, p.blocks, None
    return img, _clip(blocks, *img.size), quality
