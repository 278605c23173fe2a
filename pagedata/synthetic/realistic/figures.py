"""Figures of realistic pages as papers have them: framed plots with ticks, tick labels, axis
labels and legends, scatter plots, bar charts, heat maps / photos, block diagrams and
multi-panel figures with (a)/(b) labels."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from pagedata.synthetic.common import Box
from pagedata.synthetic.realistic.glyphs import INK, word_mask
from pagedata.synthetic.realistic.text import number

if TYPE_CHECKING:
    from pagedata.synthetic.realistic.page import RealPage

# a plot area (ax0, ay0, ax1, ay1) in supersampled pixels
Axes = tuple[int, int, int, int]

_TAB10 = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
          (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207)]  # fmt: skip


def _field(r: np.random.Generator, w: int, h: int) -> np.ndarray:
    """Smooth random field in 0..1 (a heat map, micrograph or photo stand-in)."""
    acc = np.zeros((h, w), np.float32)
    for octave, amp in ((3, 1.0), (7, 0.5), (17, 0.25)):
        lo = r.random((octave, octave)).astype(np.float32)
        acc += amp * np.asarray(Image.fromarray(lo).resize((w, h), Image.BICUBIC))
    acc -= acc.min()
    return acc / (acc.max() + 1e-6)


def _colormap(v: np.ndarray, kind: str) -> np.ndarray:
    """(H, W, 3) uint8 colours of the values ``v`` (H, W) in 0..1 under a named colour map."""
    if kind == "gray":
        g = (v * 235).astype(np.uint8)
        return np.stack([g, g, g], -1)
    # viridis-like / jet-like ramps
    stops = {
        "viridis": [(68, 1, 84), (59, 82, 139), (33, 145, 140), (94, 201, 98), (253, 231, 37)],
        "jet": [(0, 0, 143), (0, 128, 255), (128, 255, 128), (255, 128, 0), (128, 0, 0)],
        "hot": [(10, 0, 0), (200, 0, 0), (255, 160, 0), (255, 255, 120), (255, 255, 250)],
    }[kind]
    s = np.asarray(stops, np.float32)
    t = v * (len(s) - 1)
    i = np.clip(t.astype(int), 0, len(s) - 2)
    f = (t - i)[..., None]
    return (s[i] * (1 - f) + s[i + 1] * f).astype(np.uint8)


def _image_panel(p: RealPage, rect: Axes, kind: str, lw: int) -> None:
    """A heat map (a colour map of a smooth field) or a grey photo, sometimes framed."""
    r, d = p.rng, p.draw
    x0, y0, x1, y1 = rect
    v = _field(r, x1 - x0, y1 - y0)
    cm = "gray" if kind == "photo" else str(r.choice(["viridis", "jet", "hot", "gray"]))
    p.image.paste(Image.fromarray(_colormap(v, cm)), (x0, y0))
    if r.random() < 0.6:
        d.rectangle((x0, y0, x1 - 1, y1 - 1), outline=INK, width=lw)


def _frame(p: RealPage, axes: Axes, lw: int) -> None:
    """The plot's frame (or just its left and bottom axes), sometimes over a light grid."""
    r, d = p.rng, p.draw
    ax0, ay0, ax1, ay1 = axes
    frame = r.random() < 0.75
    if r.random() < 0.25:  # light grid
        for t in np.linspace(0, 1, 5)[1:-1]:
            gx, gy = ax0 + t * (ax1 - ax0), ay1 - t * (ay1 - ay0)
            d.line((gx, ay0, gx, ay1), fill=(220, 220, 220), width=lw)
            d.line((ax0, gy, ax1, gy), fill=(220, 220, 220), width=lw)
    if frame:
        d.rectangle((ax0, ay0, ax1, ay1), outline=INK, width=lw)
    else:
        d.line((ax0, ay0, ax0, ay1, ax1, ay1), fill=INK, width=lw)


def _ticks(p: RealPage, axes: Axes, ts: int, lw: int) -> None:
    """Ticks with numeric labels along the x and the y axis."""
    r, d = p.rng, p.draw
    ax0, ay0, ax1, ay1 = axes
    nt = int(r.integers(3, 7))
    for t in np.linspace(0, 1, nt):
        tx, ty = ax0 + t * (ax1 - ax0), ay1 - t * (ay1 - ay0)
        d.line((tx, ay1, tx, ay1 - ts * 0.4), fill=INK, width=lw)
        d.line((ax0, ty, ax0 + ts * 0.4, ty), fill=INK, width=lw)
        s = number(r)
        sw = p.width(s, p.reg, ts)
        p.word(tx - sw / 2, ay1 + ts * 0.2, s, p.reg, ts)
        s = number(r)
        sw = p.width(s, p.reg, ts)
        p.word(ax0 - sw - ts * 0.3, ty - ts * 0.6, s, p.reg, ts)


def _axis_labels(p: RealPage, x0: int, y0: int, axes: Axes, ts: int, ylab: bool) -> None:
    """An x axis label below the tick labels (most plots) and a rotated y axis label left of
    them (``ylab``), in the panel whose top-left corner is (x0, y0)."""
    r = p.rng
    ax0, ay0, ax1, ay1 = axes
    if r.random() < 0.8:  # x axis label
        words = p.words.phrase(int(r.integers(1, 3)), title=True)
        tw = sum(p.width(t, p.reg, ts) for t in words) + ts * 0.33 * (len(words) - 1)
        p.line((ax0 + ax1 - tw) / 2, ay1 + ts * 1.3, tw, words, p.reg, ts, False)
    if ylab:
        t = p.words.phrase(1, title=True)[0]
        m, ink, _, _ = word_mask(p.reg, ts, t)
        mr = m.rotate(90, expand=True)
        yy = int((ay0 + ay1 - mr.height) / 2)
        if yy > y0:
            p.image.paste(INK, (x0, yy, x0 + mr.width, yy + mr.height), mr)


def _bars(p: RealPage, axes: Axes, lw: int, colors: list) -> None:
    """Groups of one to three bars."""
    r, d = p.rng, p.draw
    ax0, ay0, ax1, ay1 = axes
    iw, ih = ax1 - ax0 - 2 * lw, ay1 - ay0 - 2 * lw
    n, g = int(r.integers(3, 10)), int(r.integers(1, 4))
    bw = iw / (n * (g + 1))
    for i in range(n):
        for j in range(g):
            bx = ax0 + lw + bw * (i * (g + 1) + j + 0.5)
            bh = r.uniform(0.1, 0.95) * ih
            d.rectangle((bx, ay1 - bh, bx + bw, ay1 - lw), fill=colors[j % len(colors)],
                        outline=INK if r.random() < 0.5 else None)  # fmt: skip


def _scatter(p: RealPage, axes: Axes, lw: int, colors: list) -> None:
    """One to three Gaussian clouds of dots."""
    r, d = p.rng, p.draw
    ax0, ay0, ax1, ay1 = axes
    iw, ih = ax1 - ax0 - 2 * lw, ay1 - ay0 - 2 * lw
    for j in range(int(r.integers(1, 4))):
        n = int(r.integers(15, 80))
        cx, cy = r.uniform(0.2, 0.8, 2)
        xs = np.clip(r.normal(cx, 0.18, n), 0.02, 0.98)
        ys = np.clip(r.normal(cy, 0.18, n), 0.02, 0.98)
        rad = p.ss * r.uniform(0.6, 1.3)
        for a, b in zip(xs, ys):
            px, py = ax0 + a * iw, ay1 - b * ih
            d.ellipse((px - rad, py - rad, px + rad, py + rad), fill=colors[j % len(colors)])


def _curves(p: RealPage, axes: Axes, lw: int, colors: list) -> None:
    """One to four curves of one shape (decays, damped waves or random walks), some with
    markers."""
    r, d = p.rng, p.draw
    ax0, ay0, ax1, ay1 = axes
    ih = ay1 - ay0 - 2 * lw
    n = int(r.integers(12, 60))
    xs = np.linspace(ax0 + lw * 2, ax1 - lw * 2, n)
    shape = r.random()
    for j in range(int(r.integers(1, 5))):
        t = np.linspace(0, 1, n)
        if shape < 0.4:
            yv = np.exp(-t * r.uniform(1, 5)) * r.uniform(0.5, 1) + r.uniform(0, 0.3)
        elif shape < 0.7:
            yv = 0.5 + 0.35 * np.sin(t * r.uniform(2, 12) + r.uniform(0, 6)) * np.exp(
                -t * r.uniform(0, 2)
            )
        else:
            yv = np.cumsum(r.normal(0, 1, n))
            yv = (yv - yv.min()) / (np.ptp(yv) + 1e-6)
        yv = np.clip(yv + r.normal(0, 0.01, n), 0.02, 0.98)
        ys = ay1 - lw * 2 - yv * (ih - 2 * lw)
        c = colors[j % len(colors)]
        d.line(list(zip(xs.tolist(), ys.tolist())), fill=c, width=lw + int(r.random() < 0.5))
        if r.random() < 0.4:
            rad = p.ss * 0.9
            for a, b in list(zip(xs, ys))[:: max(1, n // 10)]:
                d.rectangle((a - rad, b - rad, a + rad, b + rad), outline=c, width=lw)


def _legend(p: RealPage, axes: Axes, ts: int, lw: int, colors: list) -> None:
    """One to three legend entries (a line and a word) in the top-right corner, maybe boxed."""
    r, d = p.rng, p.draw
    ax0, ay0, ax1, ay1 = axes
    iw = ax1 - ax0 - 2 * lw
    k = int(r.integers(1, 4))
    lx, ly = ax1 - iw * 0.42, ay0 + ts * 0.5
    if r.random() < 0.5:
        d.rectangle((lx - ts * 0.3, ly - ts * 0.2, ax1 - ts * 0.3, ly + k * ts * 1.3),
                    outline=(120, 120, 120), width=lw)  # fmt: skip
    for j in range(k):
        yy = ly + j * ts * 1.3 + ts * 0.6
        d.line((lx, yy, lx + ts * 1.5, yy), fill=colors[j % len(colors)], width=lw + 1)
        t = p.words.next().strip(".,;:()") or "data"
        if lx + ts * 1.8 + p.width(t, p.reg, ts) < ax1:
            p.word(lx + ts * 1.8, yy - ts * 0.6, t, p.reg, ts)


def _panel(p: RealPage, rect, kind: str) -> None:
    """One plot panel of ``kind`` (plot, scatter, bars, heat, photo) in rect (supersampled
    pixels): axes, ticks, labels and marks."""
    r = p.rng
    x0, y0, x1, y1 = (int(v) for v in rect)
    ts = max(int(p.small * r.uniform(0.75, 1.0)), 4)
    lw = max(1, int(round(p.ss * r.uniform(0.4, 0.9))))
    if kind in ("heat", "photo"):
        _image_panel(p, (x0, y0, x1, y1), kind, lw)
        return
    ylab = r.random() < 0.8
    ax0 = x0 + int(ts * (3.2 if ylab else 2.2))
    ay1 = y1 - int(ts * (2.6 if r.random() < 0.8 else 1.5))
    ax1, ay0 = x1 - int(ts * 0.5), y0 + int(ts * 0.5)
    if ax1 - ax0 < 4 * ts or ay1 - ay0 < 4 * ts:
        return
    axes = (ax0, ay0, ax1, ay1)
    _frame(p, axes, lw)
    _ticks(p, axes, ts, lw)
    _axis_labels(p, x0, y0, axes, ts, ylab)
    colors = _TAB10 if r.random() < 0.75 else [INK, (90, 90, 90), (150, 150, 150)]
    if kind == "bars":
        _bars(p, axes, lw, colors)
    elif kind == "scatter":
        _scatter(p, axes, lw, colors)
    else:  # line plot
        _curves(p, axes, lw, colors)
        if r.random() < 0.6:
            _legend(p, axes, ts, lw, colors)


def _diagram(p: RealPage, rect) -> None:
    """A block diagram: a grid of labelled boxes, arrows between neighbours in a row."""
    r, d = p.rng, p.draw
    x0, y0, x1, y1 = (int(v) for v in rect)
    w, h = x1 - x0, y1 - y0
    rows, cols = int(r.integers(1, 4)), int(r.integers(2, 6))
    bw, bh = w / cols * 0.62, min(h / rows * 0.5, p.size * 3.5)
    lw = max(1, p.ss // 2)
    col = _TAB10[int(r.integers(10))] if r.random() < 0.5 else None
    centres = []
    for i in range(rows):
        for j in range(cols):
            if r.random() < 0.15:
                continue
            cx, cy = x0 + (j + 0.5) * w / cols, y0 + (i + 0.5) * h / rows
            box = (cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2)
            fill = tuple(int(v * 0.3 + 178) for v in col) if col and r.random() < 0.6 else None
            if r.random() < 0.5:
                d.rounded_rectangle(box, radius=bh * 0.2, outline=INK, width=lw, fill=fill)
            else:
                d.rectangle(box, outline=INK, width=lw, fill=fill)
            t = p.words.phrase(1, title=True)[0]
            ts = p.small
            tw = p.width(t, p.reg, ts)
            if tw < bw * 0.9:
                p.word(cx - tw / 2, cy - ts * 0.65, t, p.reg, ts)
            centres.append((cx, cy, i, j))
    for a, b in zip(centres, centres[1:]):
        if a[2] == b[2]:  # arrow to the right
            sx, ex, yy = a[0] + bw / 2, b[0] - bw / 2, a[1]
            d.line((sx, yy, ex, yy), fill=INK, width=lw)
            s = p.size * 0.35
            d.polygon([(ex, yy), (ex - s, yy - s * 0.6), (ex - s, yy + s * 0.6)], fill=INK)


def _multi(p: RealPage, rect) -> None:
    """A grid of panels of one kind, most with (a), (b) ... sub-labels below them."""
    r = p.rng
    x0, y0, x1, y1 = rect
    w, h = x1 - x0, y1 - y0
    cols = int(r.integers(2, 4)) if w > h * 1.3 else int(r.integers(1, 3))
    rows = 1 if cols > 2 or r.random() < 0.6 else 2
    sub = r.random() < 0.7
    lab_h = p.small * 1.6 if sub else 0
    pw, ph = w / cols, h / rows
    pk = str(r.choice(["plot", "plot", "scatter", "heat", "photo", "bars"]))
    for i in range(rows):
        for j in range(cols):
            px, py = x0 + j * pw, y0 + i * ph
            _panel(p, (px + pw * 0.03, py, px + pw * 0.97, py + ph - lab_h), pk)
            if sub:
                lab = f"({'abcdefghij'[i * cols + j]})"
                lw_ = p.width(lab, p.reg, p.small)
                p.word(px + (pw - lw_) / 2, py + ph - lab_h, lab, p.reg, p.small)


def draw_figure(p: RealPage, rect) -> Box | None:
    """A paper figure in rect; returns its ink box (sub-labels included) or None."""
    r = p.rng
    x0, y0, x1, y1 = rect
    kind = str(r.choice(["plot", "multi", "bars", "scatter", "heat", "photo", "diagram"],
                        p=[0.28, 0.2, 0.1, 0.1, 0.1, 0.1, 0.12]))  # fmt: skip
    if kind == "diagram":
        _diagram(p, rect)
    elif kind == "multi":
        _multi(p, rect)
    else:
        _panel(p, rect, kind)
    a = np.asarray(p.image.crop((x0, y0, x1, y1)).convert("L")) < 245
    ys, xs = np.nonzero(a)
    if len(xs) < 20:
        return None
    return (x0 + xs.min(), y0 + ys.min(), x0 + xs.max() + 1, y0 + ys.max() + 1)
