"""Figures and tables of the classic style: plots, bar charts, shape diagrams, photo-like noise
images and ruled tables, each returning the box it annotates."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from pagedata.synthetic.classic.glyphs import draw_line, line_height
from pagedata.synthetic.common import Box

Rect = tuple[int, int, int, int]
_AXIS = (20, 20, 20)


def _ink_box(page: Image.Image, x0: int, y0: int, x1: int, y1: int, bg: int = 250) -> Box | None:
    """Tight box of non-background pixels inside a region (the figure's own extent)."""
    a = np.asarray(page.crop((x0, y0, x1, y1)).convert("L"))
    ys, xs = np.nonzero(a < bg)
    if len(xs) == 0:
        return None
    return (x0 + xs.min(), y0 + ys.min(), x0 + xs.max() + 1, y0 + ys.max() + 1)


def _palette(rng: np.random.Generator, n: int) -> list[tuple[int, int, int]]:
    """``n`` colours of evenly spaced hues from a random start."""
    hues = (rng.random() + np.arange(n) / max(n, 1)) % 1.0
    out = []
    for h in hues:
        rgb = np.clip(np.abs((h * 6 + np.array([0, 4, 2])) % 6 - 3) - 1, 0, 1)
        out.append(tuple(int(v) for v in 40 + 180 * rgb))
    return out


def _photo(page: Image.Image, rect: Rect, rng: np.random.Generator) -> None:
    """A blurry colour field with grain filling ``rect``: a photograph stand-in."""
    x0, y0, x1, y1 = rect
    w, h = x1 - x0, y1 - y0
    lo = (rng.random((int(rng.integers(3, 8)), int(rng.integers(3, 8)), 3)) * 255).astype(np.uint8)
    img = Image.fromarray(lo).resize((w, h), Image.BICUBIC)
    noise = rng.normal(0, 12, (h, w, 1))
    arr = np.clip(np.asarray(img, dtype=np.float32) + noise, 0, 235).astype(np.uint8)
    page.paste(Image.fromarray(arr), (x0, y0))


def _shapes(page: Image.Image, rect: Rect, rng: np.random.Generator) -> None:
    """Rectangles, ellipses and lines in ``rect``, sometimes framed: a diagram stand-in."""
    x0, y0, x1, y1 = rect
    w, h = x1 - x0, y1 - y0
    d = ImageDraw.Draw(page)
    colors = _palette(rng, 6)
    if rng.random() < 0.5:
        d.rectangle((x0, y0, x1 - 1, y1 - 1), outline=(60, 60, 60))
    for _ in range(int(rng.integers(3, 9))):
        cw, ch = rng.uniform(0.1, 0.4) * w, rng.uniform(0.1, 0.4) * h
        cx, cy = x0 + rng.uniform(0, w - cw), y0 + rng.uniform(0, h - ch)
        c = colors[int(rng.integers(len(colors)))]
        fill = c if rng.random() < 0.5 else None
        shape = (cx, cy, cx + cw, cy + ch)
        if rng.random() < 0.5:
            d.rectangle(shape, outline=c, fill=fill, width=2)
        else:
            d.ellipse(shape, outline=c, fill=fill, width=2)
    for _ in range(int(rng.integers(0, 4))):
        p = rng.uniform([x0, y0, x0, y0], [x1 - 1, y1 - 1, x1 - 1, y1 - 1])
        d.line(tuple(p), fill=(30, 30, 30), width=1)


def _axes(page: Image.Image, rect: Rect, rng: np.random.Generator, small: int) -> Rect:
    """Draw an L-shaped axis with ticks and numeric tick labels; returns the plot area
    ``(ax0, ay0, ax1, ay1)`` inside it."""
    x0, y0, x1, y1 = rect
    w, h = x1 - x0, y1 - y0
    d = ImageDraw.Draw(page)
    pad_l, pad_b = int(w * 0.12), int(h * 0.14)
    ax0, ay1 = x0 + pad_l, y1 - pad_b
    ax1, ay0 = x1 - int(w * 0.03), y0 + int(h * 0.04)
    d.line((ax0, ay0, ax0, ay1, ax1, ay1), fill=_AXIS, width=1)
    for t in np.linspace(0, 1, int(rng.integers(3, 7))):
        tx, ty = ax0 + t * (ax1 - ax0), ay1 - t * (ay1 - ay0)
        d.line((tx, ay1, tx, ay1 + 3), fill=_AXIS)
        d.line((ax0 - 3, ty, ax0, ty), fill=_AXIS)
        draw_line(page, tx - small, ay1 + 4, small * 3, "sans", small, rng, _AXIS,
                  numeric=True, max_words=1)  # fmt: skip
        draw_line(page, x0, ty - small // 2, pad_l - 5, "sans", small, rng, _AXIS,
                  numeric=True, max_words=1)  # fmt: skip
    return ax0, ay0, ax1, ay1


def _bars(page: Image.Image, axes: Rect, rng: np.random.Generator, colors: list) -> None:
    """A bar chart in the plot area, two colours alternating."""
    ax0, ay0, ax1, ay1 = axes
    d = ImageDraw.Draw(page)
    n = int(rng.integers(3, 12))
    bw = (ax1 - ax0) / (n * 1.5 + 0.5)
    for i in range(n):
        bx = ax0 + bw * (0.5 + 1.5 * i)
        bh = rng.uniform(0.1, 0.95) * (ay1 - ay0)
        d.rectangle((bx, ay1 - bh, bx + bw, ay1 - 1), fill=colors[i % 2], outline=_AXIS)


def _curves(page: Image.Image, axes: Rect, rng: np.random.Generator, colors: list) -> None:
    """One to three random walks across the plot area."""
    ax0, ay0, ax1, ay1 = axes
    d = ImageDraw.Draw(page)
    xs = np.linspace(ax0 + 2, ax1 - 2, 40)
    for c in colors[: int(rng.integers(1, 4))]:
        walk = np.cumsum(rng.normal(0, 1, len(xs)))
        walk = (walk - walk.min()) / (np.ptp(walk) + 1e-6)
        ys = ay1 - 3 - walk * (ay1 - ay0 - 6)
        d.line(list(zip(xs.tolist(), ys.tolist())), fill=c, width=2 if rng.random() < 0.5 else 1)


def draw_figure(page: Image.Image, rect: Rect, rng: np.random.Generator, size: int) -> Box:
    """A plot, bar chart, shape diagram or photo-like noise image inside ``rect``; returns the
    box it annotates (the whole rect for a photo, else the ink's extent)."""
    x0, y0, x1, y1 = rect
    kind = rng.choice(["plot", "bars", "shapes", "photo"], p=[0.3, 0.2, 0.25, 0.25])
    if kind == "photo":
        _photo(page, rect, rng)
        return (x0, y0, x1, y1)
    if kind == "shapes":
        _shapes(page, rect, rng)
    else:
        axes = _axes(page, rect, rng, max(size - 2, 4))
        colors = _palette(rng, 4)
        (_bars if kind == "bars" else _curves)(page, axes, rng, colors)
    return _ink_box(page, x0, y0, x1, y1) or (x0, y0, x1, y1)


def _cells(
    page: Image.Image, edges: np.ndarray, y: float, row_h: int, header: bool,
    rng: np.random.Generator, size: int, color: tuple[int, int, int],
) -> None:  # fmt: skip
    """One table row's cell text between the column ``edges`` (C + 1,): bold in the header,
    mostly numbers below it except in the first column."""
    for c in range(len(edges) - 1):
        cw = edges[c + 1] - edges[c] - size
        style = "serif_bold" if header else "serif"
        draw_line(page, edges[c] + size / 2, y + row_h * 0.18, cw, style, size, rng, color,
                  fill=rng.uniform(0.3, 0.95),
                  numeric=not header and c > 0 and rng.random() < 0.7, max_words=3)  # fmt: skip


def draw_table(
    page: Image.Image,
    x: int,
    y: int,
    width: int,
    max_height: int,
    rng: np.random.Generator,
    size: int,
    color: tuple[int, int, int],
) -> Box | None:
    """A ruled table (booktabs style or full grid) whose box spans its rules and cell text."""
    row_h = int(round(line_height(size, 1.0) * 1.45))
    rows = min(int(rng.integers(3, 11)), (max_height - 2) // row_h)
    if rows < 2:
        return None
    cols = int(rng.integers(2, 7))
    widths = rng.uniform(0.6, 1.6, cols)
    edges = x + np.concatenate([[0], np.cumsum(widths / widths.sum())]) * width
    d = ImageDraw.Draw(page)
    grid = rng.random() < 0.4
    y1 = y + rows * row_h
    d.line((x, y, x + width - 1, y), fill=color, width=2)
    d.line((x, y1, x + width - 1, y1), fill=color, width=2)
    for r in range(rows):
        if r == 1 or (grid and r > 0):
            d.line((x, y + r * row_h, x + width - 1, y + r * row_h), fill=color, width=1)
        _cells(page, edges, y + r * row_h, row_h, r == 0, rng, size, color)
    if grid:
        for e in edges:
            ex = min(int(round(e)), x + width - 1)
            d.line((ex, y, ex, y1), fill=color, width=1)
    return (float(x), float(y), float(x + width), float(y1 + 2))
