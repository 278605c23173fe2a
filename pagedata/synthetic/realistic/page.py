"""The realistic style's page: paper size, fonts and spacing drawn per page, and the
renderers of its blocks (paragraphs, section titles, display equations, lists, captions,
references, figures, tables) and of its unannotated furniture."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from pagedata.docbank import GroupingParams
from pagedata.synthetic.common import FIGURE, LIST, TABLE, TEXT, TITLE, Box
from pagedata.synthetic.realistic.equations import EQ_PX, equation_bank
from pagedata.synthetic.realistic.figures import draw_figure
from pagedata.synthetic.realistic.glyphs import FAMILIES, INK, em_rows, union, word_mask
from pagedata.synthetic.realistic.tables import draw_table
from pagedata.synthetic.realistic.text import Words

_FAMILY_P = (("cm", 0.5), ("stix", 0.32), ("dejavu_serif", 0.1), ("dejavu_sans", 0.08))
ASPECTS = ((8.5 / 11.0, 792.0, 0.6), (210.0 / 297.0, 842.0, 0.4))  # letter, A4: (w/h, pt, p)
_LINK = [(0, 0, 200), (200, 0, 0), (0, 140, 0)]


class RealPage:
    """One page drawn at ``ss`` times its output size; blocks in output-size pixels at the end."""

    def __init__(self, rng: np.random.Generator, image_size: int):
        self.rng = r = rng
        k = int(r.choice(len(ASPECTS), p=[a[2] for a in ASPECTS]))
        aspect, points, _ = ASPECTS[k]
        self.out_h = int(image_size)
        self.out_w = int(round(image_size * aspect))
        self.ss = max(1, int(round(1000 / image_size)))
        self.h, self.w = self.out_h * self.ss, self.out_w * self.ss
        self.pt = self.h / points  # pixels per typographic point
        names = [f for f, _ in _FAMILY_P]
        fam = FAMILIES[str(r.choice(names, p=[p for _, p in _FAMILY_P]))]
        self.reg, self.bold, self.ital = fam
        body_pt = float(r.choice([9.0, 10.0, 11.0, 12.0], p=[0.12, 0.55, 0.18, 0.15]))
        self.size = max(int(round(body_pt * self.pt)), 5)
        self.small = max(int(round(self.size * 0.85)), 4)
        lead = 2.0 if r.random() < 0.07 else r.uniform(1.12, 1.3)
        self.lh = int(round(self.size * lead))
        self.justify = r.random() < 0.9
        self.indent_paras = r.random() < 0.75  # LaTeX: first-line indent, no gap
        self.parindent = self.size * r.uniform(1.0, 2.0)
        # On the DocBank pages half the section titles sit within 0.4 body sizes of the text
        # above them (IEEE and other tight two-column styles), most others 1.5-3 sizes below
        # it (docs/experiments.md, "Generator versions"); _flow draws 0-0.35 or 1.3-3.2.
        self.tight_titles = r.random() < 0.5
        self.revtex = r.random() < 0.3  # centred upper-case section titles "II. METHODS"
        self.numbered = r.random() < 0.8
        self.sec = [int(r.integers(1, 6)), 0]
        self.fig_no, self.tab_no, self.eq_no = (int(r.integers(1, 8)) for _ in range(3))
        self.links = r.random() < 0.25
        self.words = Words(r)
        self.image = Image.new("RGB", (self.w, self.h), (255, 255, 255))
        self.draw = ImageDraw.Draw(self.image)
        self.blocks: list[tuple[int, Box]] = []
        self.last_box: Box | None = None

    # ------------------------------------------------------------------ text primitives

    def word(self, x: float, y: float, text: str, file: str, size: int, color=INK) -> Box:
        """Draw ``text`` with its top-of-line at y; returns its box: the ink's columns, the
        font's em box rows (``em_rows``, as a PDF's text box) or the ink's where it is taller."""
        m, ink, _, _ = word_mask(file, size, text)
        top, bottom = em_rows(file, size)
        ix, iy = int(round(x)), int(round(y))
        self.image.paste(color, (ix, iy, ix + m.width, iy + m.height), m)
        return (ix + ink[0], iy + min(ink[1], top), ix + ink[2], iy + max(ink[3], bottom))

    def width(self, text: str, file: str, size: int) -> int:
        return word_mask(file, size, text)[2]

    def line(self, x, y, w, words: list[str], file, size, justify, color=INK) -> Box | None:
        space = size * 0.33
        ws = [self.width(t, file, size) for t in words]
        gap = space
        if justify and len(words) > 1:
            gap = (w - sum(ws)) / (len(words) - 1)
        boxes, cx = [], float(x)
        for t, tw in zip(words, ws):
            c = color
            if self.links and color == INK and self.rng.random() < 0.015:
                c = _LINK[int(self.rng.integers(len(_LINK)))]
            boxes.append(self.word(cx, y, t, file, size, c))
            cx += tw + gap
        return union(boxes) if boxes else None

    def fill_lines(self, w: float, n: int, file: str, size: int, first_indent=0.0, hang=0.0):
        """Break corpus words into ``n`` lines of width w (the last one partly filled)."""
        space = size * 0.33
        lines, cur, used = [], [], 0.0
        last_fill = self.rng.uniform(0.15, 0.95)
        while len(lines) < n:
            lw = w - (first_indent if not lines else hang)
            if len(lines) == n - 1:
                lw *= last_fill
            t = self.words.next()
            tw = self.width(t, file, size)
            extra = tw + (space if cur else 0)
            if used + extra > lw and cur:
                lines.append(cur)
                cur, used = [], 0.0
                extra = tw
            if tw > lw and not cur:
                continue
            cur.append(t)
            used += extra
        return lines

    def paragraph(self, x, y, w, ymax, n=None, size=None, file=None, cat=TEXT,
                  first_indent=None, hang=0.0, prefix=None, center=False) -> int:  # fmt: skip
        """A justified paragraph; returns the height used (0: nothing fitted)."""
        self.last_box = None
        size = size or self.size
        file = file or self.reg
        lh = self.lh if size == self.size else int(round(size * self.lh / self.size))
        if n is None:
            # real pages have many one- and two-line text blocks (short paragraphs, lines
            # between equations); they are the blocks a 320-px detector finds hardest
            one = self.rng.random() < 0.15
            n = 1 if one else int(np.clip(self.rng.geometric(0.11), 2, 18))
        n = min(n, int((ymax - y) // lh))
        if n < 1:
            return 0
        if first_indent is None:
            # an unindented paragraph straight below another would be invisible as a new one
            first_indent = self.parindent if self.indent_paras else 0
        pre_w = sum(self.width(t, f, size) + size * 0.33 for t, f in prefix or ())
        lines = self.fill_lines(w, n, file, size, first_indent + pre_w, hang)
        boxes = []
        for i, ws in enumerate(lines):
            x0 = x + (first_indent if i == 0 else hang)
            lw = w - (x0 - x)
            last = i == len(lines) - 1
            if i == 0 and prefix:
                for t, f in prefix:
                    boxes.append(self.word(x0, y, t, f, size))
                    x0 += self.width(t, f, size) + size * 0.33
                lw = w - (x0 - x)
            if center and len(lines) == 1:
                tw = sum(self.width(t, file, size) for t in ws) + size * 0.33 * (len(ws) - 1)
                x0 = x + (w - tw) / 2
            b = self.line(x0, y + i * lh, lw, ws, file, size, self.justify and not last)
            if b:
                boxes.append(b)
        # the lines' box, for callers that make their own block of it (cat=0: list items,
        # references)
        self.last_box = union(boxes) if boxes else None
        if boxes and cat:
            self.blocks.append((cat, self.last_box))
        return len(lines) * lh

    # ------------------------------------------------------------------ blocks

    def section_title(self, x, y, w, ymax) -> int:
        r = self.rng
        sub = r.random() < 0.4 and not self.revtex
        if sub:
            self.sec[1] += 1
        else:
            self.sec = [self.sec[0] + 1, 0]
        words = self.words.phrase(int(r.integers(1, 6)), title=True)
        size = self.size if sub else int(round(self.size * r.uniform(1.0, 1.45)))
        if self.revtex:
            words = [t.upper() for t in words]
            size = self.size
            num = ["I", "II", "III", "IV", "V", "VI", "VII", "VIII"][min(self.sec[0], 8) - 1] + "."
        else:
            num = f"{self.sec[0]}.{self.sec[1]}" if sub else f"{self.sec[0]}"
        if self.numbered or self.revtex:
            words = [num] + words
        lh = int(size * 1.25)
        if y + lh > ymax:
            return 0
        tw = sum(self.width(t, self.bold, size) for t in words) + size * 0.4 * (len(words) - 1)
        if tw > w:
            words = words[: max(2, len(words) // 2)]
            tw = sum(self.width(t, self.bold, size) for t in words) + size * 0.4 * (len(words) - 1)
        x0 = x + (w - tw) / 2 if self.revtex else x
        b = self.line(x0, y, tw, words, self.bold, size, False)
        if b is None:
            return 0
        self.blocks.append((TITLE, b))
        return lh

    def equation(self, x, y, w, ymax) -> int:
        r = self.rng
        bank = equation_bank()
        if not bank:
            return 0
        rows = 1 if r.random() < 0.75 else int(r.integers(2, 4))
        scale = self.size / EQ_PX * r.uniform(0.95, 1.1)
        numbered = r.random() < 0.7
        num_w = self.width(f"({self.eq_no})", self.reg, self.size) if numbered else 0
        boxes, used = [], 0
        for _ in range(rows):
            m = bank[int(r.integers(len(bank)))]
            mw, mh = max(int(m.width * scale), 1), max(int(m.height * scale), 1)
            if mw > w - 2 * num_w - self.size:
                f = (w - 2 * num_w - self.size) / mw
                if f < 0.5:
                    continue
                mw, mh = int(mw * f), max(int(mh * f), 1)
            if y + used + mh > ymax:
                break
            mm = m.resize((mw, mh), Image.LANCZOS)
            ex = int(x + (w - mw) / 2)
            ey = int(y + used)
            self.image.paste(INK, (ex, ey, ex + mw, ey + mh), mm)
            b = mm.getbbox()
            if b:
                boxes.append((ex + b[0], ey + b[1], ex + b[2], ey + b[3]))
            if numbered:
                nb = self.word(x + w - num_w, ey + mh / 2 - self.size * 0.6, f"({self.eq_no})",
                               self.reg, self.size)  # fmt: skip
                self.eq_no += 1
                boxes.append(nb)
            used += mh + int(self.size * 0.5)
        if not boxes:
            return 0
        self.blocks.append((TEXT, union(boxes)))
        return used - int(self.size * 0.5)

    def join_display(self) -> None:
        """Make the last two blocks (text, one of them a display formula, the second straight
        below the first) one block when they are as close as the DocBank converter joins
        blocks: the leading plus ``block_gap`` body sizes (``pagedata.docbank``, step 4)."""
        (c0, a), (c1, b) = self.blocks[-2:]
        join = self.lh - self.size + GroupingParams.block_gap * self.size
        if c0 == c1 == TEXT and b[1] - a[3] <= join:
            self.blocks[-2:] = [(TEXT, union([a, b]))]

    def listing(self, x, y, w, ymax) -> int:
        r = self.rng
        kind = str(r.choice(["bullet", "number", "paren", "dash"], p=[0.45, 0.3, 0.15, 0.1]))
        hang = self.size * r.uniform(1.5, 2.6)
        x_lab = x + (r.uniform(0, 1.5) * self.size if r.random() < 0.6 else 0)
        boxes, used = [], 0
        gap = int(self.lh * r.uniform(0.0, 0.5))
        for k in range(int(r.integers(2, 7))):
            n = int(np.clip(r.geometric(0.5), 1, 4))
            if y + used + n * self.lh > ymax:
                break
            ty = y + used
            if kind == "bullet":
                rad = self.size * 0.17
                cx, cy = x_lab + rad + self.size * 0.2, ty + self.size * 0.55
                self.draw.ellipse((cx - rad, cy - rad, cx + rad, cy + rad), fill=INK)
                boxes.append((cx - rad, cy - rad, cx + rad + 1, cy + rad + 1))
            else:
                lab = {"number": f"{k + 1}.", "paren": f"({'abcdefg'[k]})", "dash": "–"}[kind]
                boxes.append(self.word(x_lab, ty, lab, self.reg, self.size))
            used += self.paragraph(x_lab + hang, ty, w - (x_lab - x) - hang, ymax, n=n,
                                   first_indent=0, cat=0) + gap  # fmt: skip
            boxes.append(self.last_box)
        boxes = [b for b in boxes if b is not None]
        if len(boxes) < 4:
            return 0
        self.blocks.append((LIST, union(boxes)))
        return used - gap

    def caption(self, x, y, w, ymax, kind: str) -> int:
        r = self.rng
        if kind == "figure":
            lab = str(r.choice(["Figure", "Fig.", "FIG."])) + f" {self.fig_no}"
            self.fig_no += 1
        else:
            lab = str(r.choice(["Table", "TABLE"])) + f" {self.tab_no}"
            self.tab_no += 1
        lab += str(r.choice([":", ".", ""]))
        f = self.bold if r.random() < 0.5 else self.reg
        n = int(np.clip(r.geometric(0.45), 1, 5))
        return self.paragraph(x, y, w, ymax, n=n, size=self.small if r.random() < 0.7 else self.size,
                              first_indent=0, prefix=[(lab, f)], center=n == 1)  # fmt: skip

    def reference(self, x, y, w, ymax, k: int) -> int:
        lab = f"[{k}]"
        hang = self.size * 2.2
        size = self.small
        lw = self.width(lab, self.reg, size)
        n = int(self.rng.integers(2, 4))
        used = self.paragraph(x + hang, y, w - hang, ymax, n=n, size=size, first_indent=0, cat=0)
        if not used:
            return 0
        b = self.word(x + hang - lw - size * 0.5, y, lab, self.reg, size)
        self.blocks.append((TEXT, union([b, self.last_box] if self.last_box else [b])))
        return used

    # ------------------------------------------------------------------ floats

    def figure(self, x, y, w, ymax, full=False) -> int:
        r = self.rng
        fw = int(w * (r.uniform(0.55, 1.0) if not full else r.uniform(0.7, 1.0)))
        fh = int(fw * r.uniform(0.4, 0.85))
        cap_room = 3 * self.lh
        fh = min(fh, int(ymax - y - cap_room - self.lh))
        if fh < self.h * 0.08:
            return 0
        fx = int(x + (w - fw) / 2)
        box = draw_figure(self, (fx, int(y), fx + fw, int(y) + fh))
        if box is None:
            return 0
        self.blocks.append((FIGURE, box))
        used = int(box[3] - y) + int(self.lh * r.uniform(0.6, 1.2))
        used += self.caption(x, y + used, w, ymax, "figure")
        return used

    def table(self, x, y, w, ymax) -> int:
        used = self.caption(x, y, w, ymax - 4 * self.lh, "table")
        if not used:
            return 0
        used += int(self.lh * 0.4)
        box = draw_table(self, x, y + used, w, ymax)
        if box is None:
            return used  # the caption alone is an honest text block
        self.blocks.append((TABLE, box))
        return int(box[3] - y)

    # ------------------------------------------------------------------ furniture (unannotated)

    def furniture(self, top, bottom, x0, x1) -> int:
        """Running header, page number, footnotes; returns the new bottom of the text area."""
        r = self.rng
        size = self.small
        if r.random() < 0.35:
            words = self.words.phrase(int(r.integers(2, 7)), title=True)
            f = self.ital if r.random() < 0.5 else self.reg
            tw = sum(self.width(t, f, size) for t in words) + size * 0.33 * (len(words) - 1)
            hx = x0 if r.random() < 0.4 else (x0 + x1 - tw) / 2
            self.line(hx, top - 2.2 * self.lh, tw, words, f, size, False)
            if r.random() < 0.5:
                self.word(
                    x1 - size * 1.5, top - 2.2 * self.lh, str(r.integers(1, 40)), self.reg, size
                )
            if r.random() < 0.3:
                yy = top - 0.8 * self.lh
                self.draw.line((x0, yy, x1, yy), fill=INK, width=max(1, self.ss // 2))
        if r.random() < 0.8:
            num = str(int(r.integers(1, 40)))
            if r.random() < 0.2:
                num = f"- {num} -"
            tw = self.width(num, self.reg, size)
            self.word((x0 + x1 - tw) / 2, bottom + 1.8 * self.lh, num, self.reg, size)
        if r.random() < 0.15:  # footnotes: small lines above the bottom margin after a short rule
            n = int(r.integers(1, 4))
            flh = int(size * 1.2)
            fy = bottom - n * flh
            self.draw.line((x0, fy - 0.5 * flh, x0 + (x1 - x0) * 0.3, fy - 0.5 * flh),
                           fill=INK, width=max(1, self.ss // 2))  # fmt: skip
            self.paragraph(
                x0, fy, x1 - x0, fy + n * flh + self.lh, n=n, size=size, first_indent=size, cat=0
            )
            return int(fy - 1.5 * flh)
        return bottom
