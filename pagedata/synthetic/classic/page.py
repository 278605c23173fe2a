"""The classic style's page: canvas, fonts and the renderers of its blocks (text, titles,
lists, tables, figures, captions) and of its unannotated furniture."""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw

from pagedata.synthetic.classic.floats import draw_figure, draw_table
from pagedata.synthetic.classic.glyphs import draw_line, line_height, union
from pagedata.synthetic.common import FIGURE, LIST, TABLE, TEXT, TITLE, Box, page_size

INK = (25, 25, 25)


class ClassicPage:
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
        self.lh = line_height(self.size, self.spacing)
        paper = rng.integers(243, 256)
        self.image = Image.new("RGB", (self.w, self.h), (int(paper),) * 3)
        self.blocks: list[tuple[int, Box]] = []

    def add(self, cat: int, box: Box | None) -> None:
        if box is not None:
            self.blocks.append((cat, box))

    # ------------------------------------------------------------------ block renderers
    # Each takes the top-left corner, width and the height still free, draws, and returns the
    # height used (0 when the block did not fit and nothing was drawn).

    def paragraph(
        self, x: int, y: int, w: int, hmax: int, lines: int | None = None, size=None, cat=TEXT
    ) -> int:
        size = size or self.size
        lh = line_height(size, self.spacing) if size != self.size else self.lh
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
            b = draw_line(
                self.image,
                x0,
                y + i * lh,
                w - (x0 - x),
                self.body,
                size,
                self.rng,
                INK,
                fill,
                justify and not last,
            )
            if b is not None:
                boxes.append(b)
        if boxes:
            self.add(cat, union(boxes))
        return n * lh

    def title(self, x: int, y: int, w: int, hmax: int, big: bool = False) -> int:
        scale = self.rng.uniform(1.6, 2.2) if big else self.rng.uniform(1.05, 1.45)
        size = max(int(round(self.size * scale)), 5)
        lh = line_height(size, 1.15)
        n = 1 + int(self.rng.random() < (0.5 if big else 0.15))
        if n * lh > hmax:
            return 0
        style = self.bold if self.rng.random() < 0.85 else "serif_italic"
        boxes = []
        for i in range(n):
            fill = self.rng.uniform(0.3, 0.95 if i == 0 and n > 1 else 0.7)
            center = big and self.rng.random() < 0.6
            b = draw_line(self.image, x, y + i * lh, w, style, size, self.rng, (10, 10, 10), fill)
            if b is not None and center:  # re-centre: shift the drawn line by pasting (cheap crop)
                b = self._shift(b, (x + (w - (b[2] - b[0])) / 2) - b[0])
            if b is not None:
                boxes.append(b)
        if boxes:
            self.add(TITLE, union(boxes))
        return n * lh

    def _shift(self, box: Box, dx: float) -> Box:
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
                b = draw_line(
                    self.image,
                    x,
                    ty,
                    indent,
                    self.body,
                    self.size,
                    self.rng,
                    INK,
                    numeric=True,
                    max_words=1,
                )
            else:
                r = max(self.size / 5, 1.5)
                cy = ty + self.lh / 2 - 1
                d.ellipse((x + r, cy - r, x + 3 * r, cy + r), fill=INK)
                b = (x + r, cy - r, x + 3 * r + 1, cy + r + 1)
            if b is not None:
                boxes.append(b)
            for i in range(n):
                fill = self.rng.uniform(0.3, 0.9) if i == n - 1 else 1.0
                b = draw_line(
                    self.image,
                    x + indent,
                    ty + i * self.lh,
                    w - indent,
                    self.body,
                    self.size,
                    self.rng,
                    INK,
                    fill,
                )
                if b is not None:
                    boxes.append(b)
            used += n * self.lh + int(self.lh * 0.25) * (k < items - 1)
        if len(boxes) < 2:
            return 0
        self.add(LIST, union(boxes))
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
        box = draw_table(self.image, tx, y + used, tw, hmax - used, self.rng, size, INK)
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
        cap_room = 3 * line_height(max(self.size - 1, 4), self.spacing) + self.lh // 2 if cap else 0
        fh = min(fh, hmax - cap_room)
        if fh < max(24, w // 6):
            return 0
        fx = x + (w - fw) // 2
        self.add(FIGURE, draw_figure(self.image, (fx, y, fx + fw, y + fh), self.rng, self.size))
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
                draw_line(
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
                draw_line(
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
