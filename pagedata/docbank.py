"""DocBank token files -> COCO instances json with block-level (PubLayNet-style) regions.

DocBank (Li et al., COLING 2020) annotates *tokens*: ``<stem>.txt`` holds one token per line,
tab-separated ``token x0 y0 x1 y1 R G B font_name label``, the box in DocBank's normalised
coordinates (0..1000 on both axes), next to the page image ``<stem>_ori.jpg``. Detectors learn
*blocks*, so neighbouring tokens are grouped into regions (:func:`group_tokens`).

Grouping rule (:func:`group_tokens`; distances in units of ``h``, the median height of the
page's text tokens; the thresholds are the fields of :class:`GroupingParams`):

0. **Clean-up and columns.** PDF drawings (``##LTLine##`` rules, fraction bars, plot axes) count
   only when labelled ``figure`` or ``table``. Column gutters are vertical strips
   (``gutter_min``) in the middle of the text that long stretches of text rows leave empty
   with text close on both sides (``_gutters``); boxes on opposite sides never join.
1. **Figures and tables.** Tokens labelled ``figure`` (one ``##LTFigure##`` per graphic and its
   sub-graphics) join when their gaps are at most ``figure_gap``: one region per figure,
   sub-figures included. ``table`` tokens (cell words and rules) join within ``table_gap_x``
   horizontally and ``table_gap_y`` vertically: one region per table.
2. **Lines.** Tokens of ordinary height (``anchor``) form lines when they overlap vertically by
   half the taller one's height and are at most ``line_gap`` apart: tokens of adjacent lines
   never do, so lines cannot chain. Other tokens (sub/superscripts, math symbols) join the
   line they overlap most; DocBank's oversized boxes (taller than ``tall``; words with
   ligatures, accents, big delimiters) join the line whose top or bottom edge they share, and
   are dropped when they share none but reach into text. Pieces of one row that math split
   apart join within ``piece_gap``. A line's height comes from its ordinary tokens and it
   takes the label most of its width carries, so inline formulas (``equation`` tokens in a
   paragraph line) and label noise (``FIG. 3.`` tagged paragraph before a caption) follow
   their line.
3. **Inside graphics.** A line at least ``inside`` of whose area lies in a figure or table
   region (axis labels, cell text tagged ``paragraph``) grows that region instead.
4. **Blocks.** Each line links to its predecessor, the lowest line above it in its column
   whose horizontal extent overlaps it, when both map to the same class and the gap between
   them is at most the page's leading (median gap between consecutive lines) plus
   ``block_gap`` (``list_gap`` for lists, whose items are spaced). A new paragraph cuts the
   link: for text, a line indented by ``indent_min..indent_max`` that reaches at least as far
   right as the line above (first-line indentation; centred lines of titles and captions are
   not cut); for references, a line at the outer margin of a column of hanging-indent (or
   ``[n]``-labelled) entries. Lists are never cut (one list, one block, as in PubLayNet).
   Lines of one class in one row of a column, or one mostly inside another, link too.
   Blocks are the connected components; a block whose vertical centre lies within another
   of its class in its column joins it (an equation number beside a two-line formula).
5. **Page furniture.** A one-line block tagged ``paragraph`` in the top or bottom
   ``furniture_band`` of the page with nothing beyond it, narrow (``furniture_width``: a page
   number) or ``furniture_gap`` away from everything (a running header), becomes ``footer``:
   DocBank often tags page numbers ``paragraph``.

Class sets (:data:`CLASS_SETS`):

- ``publaynet`` (text 1, title 2, list 3, table 4, figure 5, PubLayNet's ids):
  text <- paragraph, abstract, author, date, caption, reference, **equation**;
  title <- title, section; list <- list; table <- table; figure <- figure;
  ``footer`` (running headers, footers, page numbers) is not annotated, as in PubLayNet.
  Display equations become ``text`` blocks (PubLayNet has no equation class, its paragraphs
  carry their formulas, and a detector trained on PubLayNet calls a display formula text);
  blocks are built on the mapped class, so a display formula closer than ``block_gap`` to its
  paragraph joins it, and a caption's number tagged ``paragraph`` joins its caption.
- ``docbank``: DocBank's 13 labels (ids 1..13 in :data:`DOCBANK_LABELS` order), footer
  included; inline formulas still follow their line (step 2), display formulas are
  ``equation`` blocks.

Errors name the file and line: malformed lines (not 10 tab-separated fields, non-integer
coordinates, x0 > x1), boxes outside 0..1000, unknown labels, missing page images.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from pagedata.classes import DOCBANK_LABELS, PUBLAYNET_CLASSES

logger = logging.getLogger(__name__)

__all__ = [
    "CLASS_SETS",
    "COCO_DIRS",
    "GroupingParams",
    "DocBankPage",
    "read_token_file",
    "find_page_image",
    "group_tokens",
    "docbank_to_coco",
    "split_stems",
    "convert_docbank_dir",
]

_TO_PUBLAYNET = {
    "abstract": "text", "author": "text", "caption": "text", "date": "text",
    "equation": "text", "paragraph": "text", "reference": "text",
    "section": "title", "title": "title", "list": "list", "table": "table", "figure": "figure",
    "footer": None,
}  # fmt: skip
# class set -> (class names in COCO id order 1.., DocBank label -> class name or None)
CLASS_SETS: dict[str, tuple[tuple[str, ...], dict[str, str | None]]] = {
    "publaynet": (PUBLAYNET_CLASSES, _TO_PUBLAYNET),
    "docbank": (DOCBANK_LABELS, {lab: lab for lab in DOCBANK_LABELS}),
}
# class set -> json folder under the converted dataset (see detectors.datasets: docbank*)
COCO_DIRS = {"publaynet": "COCO", "docbank": "COCO_labels"}

_L = {lab: i for i, lab in enumerate(DOCBANK_LABELS)}
_FIGURE, _TABLE = _L["figure"], _L["table"]
# How blocks of a (source) label are cut into paragraphs (step 4 of the module docstring).
_LIST_LIKE = np.zeros(len(DOCBANK_LABELS), bool)
_LIST_LIKE[_L["list"]] = True
_REFERENCE = np.zeros(len(DOCBANK_LABELS), bool)
_REFERENCE[_L["reference"]] = True
_CENTRED = np.zeros(len(DOCBANK_LABELS), bool)  # display formulas: no indentation rule
_CENTRED[_L["equation"]] = True


@dataclass(frozen=True)
class GroupingParams:
    """Thresholds of :func:`group_tokens`, in units of the page's median text-token height."""

    line_gap: float = 0.8
    line_overlap: float = 0.5
    line_overlap_tall: float = 0.3
    tall: float = 2.0
    anchor: tuple[float, float] = (0.85, 1.1)
    piece_gap: float = 3.0
    snap_window: float = 8.0
    block_gap: float = 0.7
    list_gap: float = 1.2
    indent_min: float = 0.6
    indent_max: float = 4.0
    figure_gap: float = 1.0
    table_gap_x: float = 4.0
    table_gap_y: float = 1.5
    gutter_min: float = 0.5
    gutter_support: float = 0.6
    gutter_lines: float = 10.0
    gutter_near: float = 3.0
    inside: float = 0.25
    furniture_band: float = 0.12
    furniture_gap: float = 2.0
    furniture_width: float = 6.0


@dataclass
class DocBankPage:
    """One page: its image, its size in pixels and its tokens.

    Attributes:
        stem: the token file's name without ``.txt``.
        image: path of the page image.
        width, height: image size in pixels.
        boxes: (N, 4) float token boxes, XYXY in pixels.
        labels: (N,) int indices into :data:`DOCBANK_LABELS`.
        drawing: (N,) bool, PDF drawings (``##LTLine##``, ``##LTFigure##``) rather than text.
    """

    stem: str
    image: Path
    width: int
    height: int
    boxes: np.ndarray
    labels: np.ndarray
    drawing: np.ndarray


def read_token_file(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Parse a DocBank token file.

    Returns:
        (boxes (N, 4) float XYXY in DocBank's 0..1000 coordinates, labels (N,) int indices into
        :data:`DOCBANK_LABELS`, drawing (N,) bool: the token is a PDF drawing such as
        ``##LTLine##`` or ``##LTFigure##``, not text). Blank lines are skipped.

    Raises:
        ValueError naming ``file:line`` for a malformed line, a box outside 0..1000 or x0 > x1 /
        y0 > y1, or an unknown label.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"{path}: not UTF-8 text ({e}); is this a DocBank token file?") from None
    boxes, labels, drawing = [], [], []
    for n, line in enumerate(text.split("\n"), 1):  # not splitlines(): tokens may hold U+2028
        line = line.rstrip("\r")
        if not line.strip():
            continue
        f = line.split("\t")
        where = f"{path}:{n}"
        if len(f) != 10:
            raise ValueError(
                f"{where}: expected 10 tab-separated fields (token x0 y0 x1 y1 R G B font "
                f"label), got {len(f)}: {line[:80]!r}"
            )
        try:
            box = [int(v) for v in f[1:5]]
        except ValueError:
            raise ValueError(f"{where}: coordinates {f[1:5]} are not integers") from None
        if min(box) < 0 or max(box) > 1000:
            raise ValueError(f"{where}: box {box} lies outside DocBank's 0..1000 page coordinates")
        if box[0] > box[2] or box[1] > box[3]:
            raise ValueError(f"{where}: box {box} has x0 > x1 or y0 > y1")
        lab = f[9].strip()
        if lab not in _L:
            raise ValueError(
                f"{where}: unknown label {lab!r}; DocBank's labels are {list(DOCBANK_LABELS)}"
            )
        boxes.append(box)
        labels.append(_L[lab])
        drawing.append(f[0].startswith("##LT") and f[0].endswith("##"))
    return (
        np.asarray(boxes, np.float64).reshape(-1, 4),
        np.asarray(labels, np.int64),
        np.asarray(drawing, bool),
    )


def find_page_image(token_file: str | os.PathLike, image_dir: str | os.PathLike) -> Path:
    """The page image of a token file: ``<stem>_ori.*`` (DocBank's name), else ``<stem>.*``."""
    token_file, image_dir = Path(token_file), Path(image_dir)
    stem = token_file.stem
    for pattern in (f"{stem}_ori.*", f"{stem}.*"):
        hits = sorted(
            p for p in image_dir.glob(pattern) if p.suffix.lower() in Image.registered_extensions()
        )
        if hits:
            return hits[0]
    raise FileNotFoundError(
        f"{token_file}: no page image {stem}_ori.jpg (or {stem}.<image extension>) in {image_dir}"
    )


def _components(n: int, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Connected components of ``n`` nodes and undirected edges ``i - j``: (n,) ids 0..k-1.

    Min-label propagation with pointer jumping (vectorised; a few passes per page).
    """
    lab = np.arange(n)
    while True:
        new = lab.copy()
        np.minimum.at(new, i, lab[j])
        np.minimum.at(new, j, lab[i])
        new = new[new]
        if np.array_equal(new, lab):
            break
        lab = new
    return np.unique(lab, return_inverse=True)[1]


def _pairs(adj: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.nonzero(np.triu(adj, 1))


def _union(boxes: np.ndarray, comp: np.ndarray, k: int) -> np.ndarray:
    """(k, 4) union box of the ``boxes`` in each component."""
    out = np.empty((k, 4))
    out[:, :2] = np.inf
    out[:, 2:] = -np.inf
    np.minimum.at(out[:, 0], comp, boxes[:, 0])
    np.minimum.at(out[:, 1], comp, boxes[:, 1])
    np.maximum.at(out[:, 2], comp, boxes[:, 2])
    np.maximum.at(out[:, 3], comp, boxes[:, 3])
    return out


def _gutters(boxes: np.ndarray, width: int, h: float, p: GroupingParams) -> np.ndarray:
    """(G,) x centres of the column gutters among text token boxes (N, 4).

    On a grid of h/4 x h/2 cells, a strip gutter_min * h wide is a gutter where at least
    gutter_support of the rows that meet it or have text on both its sides keep it empty with
    text on both sides within gutter_near * h (full-width titles and captions may cross it), and one stretch of rows
    that no text crosses holds gutter_lines lines' worth of such rows (a column is long; the
    gaps display formulas leave are a few rows each), in the middle 40% of the text width.
    """
    if len(boxes) == 0:
        return np.zeros(0)
    cx, cy = max(h / 4, 1.0), max(h / 2, 1.0)
    nx = int(np.ceil(width / cx)) + 2
    ny = int(np.ceil(boxes[:, 3].max() / cy)) + 2
    x0, x1 = (boxes[:, 0] // cx).astype(int), (boxes[:, 2] // cx).astype(int)
    y0, y1 = (boxes[:, 1] // cy).astype(int), (boxes[:, 3] // cy).astype(int)
    d = np.zeros((ny + 1, nx + 1))
    np.add.at(d, (y0, x0), 1)
    np.add.at(d, (y0, x1 + 1), -1)
    np.add.at(d, (y1 + 1, x0), -1)
    np.add.at(d, (y1 + 1, x1 + 1), 1)
    occ = d.cumsum(0).cumsum(1)[:ny, :nx] > 0.5
    g = max(int(round(p.gutter_min * h / cx)), 1)
    c = np.concatenate([np.zeros((ny, 1)), occ.cumsum(1)], 1)  # (ny, nx + 1)
    empty = (c[:, g:] - c[:, :-g]) == 0  # strip [x, x + g) per row: (ny, nx - g + 1)
    # text close on both sides (columns are justified up to the gutter)
    m = max(int(round(p.gutter_near * h / cx)), 1)
    cp = np.pad(c, ((0, 0), (m, m)), mode="edge")  # cp[:, i + m] = c[:, i]
    x = np.arange(empty.shape[1])
    both = (cp[:, x + m] - cp[:, x] > 0) & (cp[:, x + g + 2 * m] - cp[:, x + g + m] > 0)
    support = (empty & both).sum(0)
    frac = support / np.maximum(support + (~empty).sum(0), 1)
    # rows of text beside an empty strip, counted within stretches no text crosses: columns
    # are long; the gaps display formulas leave come a few rows at a time
    run = best = np.zeros(len(support))
    for row_empty, row_both in zip(empty, both):
        run = np.where(row_empty, run + row_both, 0)
        best = np.maximum(best, run)
    centre = (np.arange(len(support)) + g / 2) * cx
    lo, hi = boxes[:, 0].min(), boxes[:, 2].max()
    cand = (
        (frac >= p.gutter_support)
        & (best * cy >= p.gutter_lines * h)
        & (centre > lo + 0.3 * (hi - lo))
        & (centre < hi - 0.3 * (hi - lo))
    )
    edges = np.diff(np.r_[0, cand.astype(int), 0])
    starts, ends = np.nonzero(edges == 1)[0], np.nonzero(edges == -1)[0]
    # The gutter: within each corridor of candidate strips (corridors closer than
    # gutter_near * h are one), the middle of the x range fewest text tokens cross.
    if len(starts) == 0:
        return np.zeros(0)
    lo_px, hi_px = (starts * cx).astype(int), ((ends - 1 + g) * cx).astype(int) + 1
    group = np.cumsum(np.r_[True, lo_px[1:] - hi_px[:-1] > p.gutter_near * h]) - 1
    xs = np.arange(int(np.ceil(width)) + 1)
    cross = np.zeros(len(xs) + 1)
    np.add.at(cross, np.clip(np.floor(boxes[:, 0]).astype(int) + 1, 0, len(xs)), 1)
    np.add.at(cross, np.clip(np.ceil(boxes[:, 2]).astype(int), 0, len(xs)), -1)
    cross = np.cumsum(cross)[: len(xs)]  # tokens with x0 < x < x1
    out = []
    for k in range(int(group.max()) + 1):
        a, b = lo_px[group == k].min(), min(hi_px[group == k].max(), len(xs))
        best = np.nonzero(cross[a:b] == cross[a:b].min())[0]
        out.append(a + (best[0] + best[-1]) / 2)
    return np.array(out)


def _sides(boxes: np.ndarray, gutters: np.ndarray) -> np.ndarray:
    """(N, G) side of each box per gutter: -1 left of it, +1 right of it, 0 across it."""
    left = boxes[:, 2:3] <= gutters[None, :]
    right = boxes[:, 0:1] >= gutters[None, :]
    return right.astype(np.int64) - left.astype(np.int64)


def _same_column(sides: np.ndarray) -> np.ndarray:
    """(N, N) True where no gutter separates the two boxes."""
    out = np.ones((len(sides), len(sides)), bool)
    for side in sides.T:  # one boolean outer product per gutter (a page has 0-2)
        left, right = side < 0, side > 0
        out &= ~((left[:, None] & right[None, :]) | (right[:, None] & left[None, :]))
    return out


def _graphic_regions(boxes: np.ndarray, gap_x: float, gap_y: float) -> np.ndarray:
    """(R, 4) unions of the boxes whose gaps are at most ``gap_x`` / ``gap_y`` on both axes."""
    if len(boxes) == 0:
        return np.zeros((0, 4))
    gx = np.maximum(boxes[None, :, 0] - boxes[:, None, 2], boxes[:, None, 0] - boxes[None, :, 2])
    gy = np.maximum(boxes[None, :, 1] - boxes[:, None, 3], boxes[:, None, 1] - boxes[None, :, 3])
    comp = _components(len(boxes), *_pairs((gx <= gap_x) & (gy <= gap_y)))
    return _union(boxes, comp, int(comp.max()) + 1)


def _extent_tokens(line_of: np.ndarray, *preferred: np.ndarray) -> np.ndarray:
    """(N,) tokens that set their line's box: the first ``preferred`` mask the line has any of,
    else all its tokens."""
    use = np.zeros(len(line_of), bool)
    done = np.zeros(int(line_of.max()) + 1, bool)
    for mask in preferred:
        has = np.bincount(line_of[mask], minlength=len(done)) > 0
        use |= mask & has[line_of] & ~done[line_of]
        done |= has
    return use | ~done[line_of]


def _lines(
    tb: np.ndarray, tl: np.ndarray, gutters: np.ndarray, h: float, p: GroupingParams
) -> tuple[np.ndarray, np.ndarray]:
    """Step 2: tokens (N, 4) with labels (N,) -> line boxes (L, 4) and label votes (L, 13)."""
    n = len(tb)
    if n == 0:
        return np.zeros((0, 4)), np.zeros((0, len(DOCBANK_LABELS)))
    th = tb[:, 3] - tb[:, 1]
    vov = np.minimum(tb[:, None, 3], tb[None, :, 3]) - np.maximum(tb[:, None, 1], tb[None, :, 1])
    hgap = np.maximum(tb[None, :, 0] - tb[:, None, 2], tb[:, None, 0] - tb[None, :, 2])
    same_col = _same_column(_sides(tb, gutters))
    np.fill_diagonal(same_col, False)
    near = (hgap <= p.line_gap * h) & same_col
    window = (hgap <= p.snap_window * h) & same_col
    lo, hi = np.minimum(th[:, None], th[None, :]), np.maximum(th[:, None], th[None, :])
    # Anchors (ordinary text height) form lines when they overlap by half the taller one's
    # height: tokens of adjacent lines never do, so lines cannot chain.
    anchor = (th >= p.anchor[0] * h) & (th <= p.anchor[1] * h)
    line_of = np.full(n, -1)
    if anchor.any():
        sub = near[np.ix_(anchor, anchor)] & (
            vov[np.ix_(anchor, anchor)] >= 0.5 * hi[np.ix_(anchor, anchor)]
        )
        line_of[anchor] = _components(int(anchor.sum()), *_pairs(sub))
    # Other tokens (sub/superscripts, math symbols) join the line of the anchor they overlap
    # most. Tokens taller than tall * h are mostly DocBank's oversized boxes (words with
    # ligatures, accents, big delimiters in CMEX fonts) that reach up or down into other lines:
    # they join the nearby line whose anchors share their top or bottom edge.
    tall = th > p.tall * h
    cand = near & anchor[None, :] & (vov >= p.line_overlap * lo)
    score = np.where(cand, vov, -np.inf)
    edge = np.minimum(
        np.abs(tb[:, None, 1] - tb[None, :, 1]), np.abs(tb[:, None, 3] - tb[None, :, 3])
    )
    aligned = anchor[None, :] & (vov > 0) & (edge <= p.line_overlap * h) & window
    score = np.where(tall[:, None], np.where(aligned, -edge, -np.inf), score)
    best = score.argmax(1)
    attach = ~anchor & np.isfinite(score.max(1))
    line_of[attach] = line_of[best[attach]]
    # an oversized glyph box (taller than wide) that aligns with no line but reaches lines of
    # text would stretch them; wide tall tokens are kept (DocBank sometimes merges two lines
    # into one garbled token)
    glyph = tall & ~attach & (tb[:, 2] - tb[:, 0] <= th)
    drop = glyph & (anchor[None, :] & (vov > -p.line_overlap * h) & window).any(1)
    line_of[drop] = n  # set aside, removed below
    # The rest group among themselves (display formulas, headings in large type).
    rest = line_of < 0
    if rest.any():
        r = np.ix_(rest, rest)
        sub = near[r] & (vov[r] >= p.line_overlap * lo[r]) & (vov[r] >= p.line_overlap_tall * hi[r])
        line_of[rest] = line_of.max() + 1 + _components(int(rest.sum()), *_pairs(sub))
    keep = ~drop
    if not keep.any():
        return np.zeros((0, 4)), np.zeros((0, len(DOCBANK_LABELS)))
    tb, tl, th, anchor, tall = tb[keep], tl[keep], th[keep], anchor[keep], tall[keep]
    line_of = np.unique(line_of[keep], return_inverse=True)[1]
    k = int(line_of.max()) + 1
    # Pieces of one line that math tokens (attached to the next line) split apart join: same
    # row (y extents from anchors, else ordinary tokens), same column, at most piece_gap apart.
    use = _extent_tokens(line_of, anchor, ~tall)
    pieces = _union(tb[use], line_of[use], k)
    pieces[:, [0, 2]] = _union(tb, line_of, k)[:, [0, 2]]
    ph = pieces[:, 3] - pieces[:, 1]
    ov = np.minimum(pieces[:, None, 3], pieces[None, :, 3]) - np.maximum(
        pieces[:, None, 1], pieces[None, :, 1]
    )
    gap = np.maximum(
        pieces[None, :, 0] - pieces[:, None, 2], pieces[:, None, 0] - pieces[None, :, 2]
    )
    join = (
        (ov >= 0.5 * np.maximum(ph[:, None], ph[None, :]))
        & (gap <= p.piece_gap * h)
        & _same_column(_sides(pieces, gutters))
    )
    line_of = _components(k, *_pairs(join))[line_of]
    k = int(line_of.max()) + 1
    votes = np.zeros((k, len(DOCBANK_LABELS)))
    np.add.at(votes, (line_of, tl), tb[:, 2] - tb[:, 0] + 1e-3)  # label weight = token width
    # line boxes: x from every token, y from the anchors (else ordinary tokens, else all)
    use = _extent_tokens(line_of, anchor, ~tall)
    lines = _union(tb[use], line_of[use], k)
    lines[:, [0, 2]] = _union(tb, line_of, k)[:, [0, 2]]
    return lines, votes


def _absorb(
    lines: np.ndarray, regions: np.ndarray, p: GroupingParams
) -> tuple[np.ndarray, np.ndarray]:
    """Step 3: (lines kept mask (L,), regions grown by the lines inside them (R, 4))."""
    if len(regions) == 0 or len(lines) == 0:
        return np.ones(len(lines), bool), regions
    ix = np.minimum(lines[:, None, 2], regions[None, :, 2]) - np.maximum(
        lines[:, None, 0], regions[None, :, 0]
    )
    iy = np.minimum(lines[:, None, 3], regions[None, :, 3]) - np.maximum(
        lines[:, None, 1], regions[None, :, 1]
    )
    area = np.maximum((lines[:, 2] - lines[:, 0]) * (lines[:, 3] - lines[:, 1]), 1e-6)
    frac = np.clip(ix, 0, None) * np.clip(iy, 0, None) / area[:, None]
    inside = frac.max(1) >= p.inside
    owner = frac.argmax(1)[inside]
    grown = _union(
        np.concatenate([regions, lines[inside]]),
        np.r_[np.arange(len(regions)), owner],
        len(regions),
    )
    return ~inside, grown


def _blocks(
    lines: np.ndarray,
    label: np.ndarray,
    cls: np.ndarray,
    gutters: np.ndarray,
    h: float,
    p: GroupingParams,
) -> np.ndarray:
    """Step 4: lines (L, 4) with DocBank labels and target classes (L,) -> block id (L,)."""
    n = len(lines)
    if n == 0:
        return np.zeros(0, np.int64)
    lh = lines[:, 3] - lines[:, 1]
    col = _same_column(_sides(lines, gutters))
    same_cls = (cls[:, None] == cls[None, :]) & (cls[:, None] >= 0)
    xov = np.minimum(lines[:, None, 2], lines[None, :, 2]) - np.maximum(
        lines[:, None, 0], lines[None, :, 0]
    )
    yov = np.minimum(lines[:, None, 3], lines[None, :, 3]) - np.maximum(
        lines[:, None, 1], lines[None, :, 1]
    )
    same_row = yov >= 0.5 * np.maximum(lh[:, None], lh[None, :])
    # [i, j]: line i is above line j in the same column and overlaps it horizontally
    cy = lines[:, 1] + lines[:, 3]
    mostly_above = lines[:, None, 3] <= lines[None, :, 1] + 0.25 * np.minimum(
        lh[:, None], lh[None, :]
    )
    above = (cy[:, None] < cy[None, :]) & mostly_above & ~same_row & (xov > 0) & col
    score = np.where(above, lines[:, None, 3], -np.inf)
    j = np.nonzero(np.isfinite(score.max(0)))[0]
    i = score.argmax(0)[j]  # predecessor: the lowest such line
    gap = lines[j, 1] - lines[i, 3]
    same = same_cls[i, j]
    # the page's leading: median gap between a line and its same-class predecessor
    typical = same & (gap > -0.5 * h) & (gap < 2.5 * h)
    leading = max(float(np.median(gap[typical])), 0.0) if typical.sum() >= 3 else 0.2 * h
    src = label[j]
    max_gap = leading + np.where(_LIST_LIKE[src], p.list_gap, p.block_gap) * h
    dx0 = lines[j, 0] - lines[i, 0]
    indented = (
        (dx0 >= p.indent_min * h)
        & (dx0 <= p.indent_max * h)
        & (lines[j, 2] >= lines[i, 2] - p.indent_min * h)
    )
    # References with hanging indents (or [n] labels): an entry starts at the outer margin of
    # the column's reference lines, its continuation lines are indented.
    ref = _REFERENCE[label]
    same_refs = ref[:, None] & ref[None, :] & col & (xov > 0)
    x0 = lines[:, 0]
    outer = np.where(same_refs, x0[:, None], np.inf).min(0)
    off = x0[:, None] - outer[None, :]
    hanging = (same_refs & (off >= p.indent_min * h) & (off <= p.indent_max * h)).any(0)
    entry = ref & hanging & (x0 < outer + p.indent_min * h)
    new_para = np.where(
        _REFERENCE[src],
        entry[j] | (dx0 <= -p.indent_min * h),
        indented & ~_LIST_LIKE[src] & ~_CENTRED[src],
    )
    link = same & (gap <= max_gap) & ~new_para
    # lines in one row, and lines mostly inside another (a big operator's own line) link too
    ix = np.clip(xov, 0, None) * np.clip(yov, 0, None)
    area = np.maximum((lines[:, 2] - lines[:, 0]) * lh, 1e-6)
    nested = ix >= p.inside * np.minimum(area[:, None], area[None, :])
    ri, rj = _pairs((same_row | nested) & col & same_cls)
    block_of = _components(n, np.r_[i[link], ri], np.r_[j[link], rj])
    # A block whose vertical centre lies within another block of its class in its column
    # joins it (an equation number beside a two-line formula, a glossary's two columns).
    k = int(block_of.max()) + 1
    b = _union(lines, block_of, k)
    bcls = np.zeros(k, np.int64)
    bcls[block_of] = cls
    cb = (b[:, 1] + b[:, 3]) / 2
    inside = (cb[:, None] >= b[None, :, 1]) & (cb[:, None] <= b[None, :, 3])
    join = (
        (inside | inside.T)
        & (bcls[:, None] == bcls[None, :])
        & (bcls[:, None] >= 0)
        & _same_column(_sides(b, gutters))
    )
    return _components(k, *_pairs(join))[block_of]


def _furniture(
    blocks: np.ndarray, others: np.ndarray, height: int, h: float, p: GroupingParams
) -> np.ndarray:
    """(B,) True for page furniture: one-line blocks in the top / bottom margin band with
    nothing beyond them, narrow (page numbers) or far from the rest (running headers)."""
    if len(blocks) == 0:
        return np.zeros(0, bool)
    allb = np.concatenate([blocks, others])
    me = np.arange(len(blocks))
    vgap = np.maximum(allb[None, :, 1] - blocks[:, None, 3], blocks[:, None, 1] - allb[None, :, 3])
    vgap[me, me] = np.inf
    above = allb[None, :, 3] <= blocks[:, None, 1]
    below = allb[None, :, 1] >= blocks[:, None, 3]
    band = p.furniture_band * height
    top = (blocks[:, 3] <= band) & ~above.any(1)
    bottom = (blocks[:, 1] >= height - band) & ~below.any(1)
    narrow = blocks[:, 2] - blocks[:, 0] <= p.furniture_width * h
    return (
        (blocks[:, 3] - blocks[:, 1] <= 1.5 * h)
        & (top | bottom)
        & (narrow | (vgap.min(1) >= p.furniture_gap * h))
    )


def group_tokens(
    boxes: np.ndarray,
    labels: np.ndarray,
    classes_of: np.ndarray,
    size: tuple[int, int],
    drawing: np.ndarray | None = None,
    params: GroupingParams | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Group one page's tokens into block regions (the rule is in the module docstring).

    Args:
        boxes: (N, 4) token boxes, XYXY in pixels.
        labels: (N,) indices into :data:`DOCBANK_LABELS`.
        classes_of: (13,) target class index of each DocBank label, -1 = not annotated.
        size: page (width, height) in pixels.
        drawing: (N,) bool, PDF drawings (``##LTLine##`` ...); those not labelled figure or
            table (rules, fraction bars, plot axes tagged ``paragraph``) are ignored.
        params: thresholds; default :class:`GroupingParams`.

    Returns:
        (boxes (M, 4) XYXY pixels, classes (M,) target class indices, source (M,) the DocBank
        label that carries most of each block), blocks of unannotated classes removed.
    """
    p = params or GroupingParams()
    width, height = size
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    labels = np.asarray(labels, np.int64)
    classes_of = np.asarray(classes_of, np.int64)
    graphic = (labels == _FIGURE) | (labels == _TABLE)
    if drawing is not None:
        keep = ~np.asarray(drawing, bool) | graphic
        boxes, labels, graphic = boxes[keep], labels[keep], graphic[keep]
    heights = boxes[:, 3] - boxes[:, 1]
    text = ~graphic
    h = float(np.median(heights[text])) if text.any() else 0.0
    h = h if h > 0 else 0.01 * height

    # 1. figures and tables
    figs = _graphic_regions(boxes[labels == _FIGURE], p.figure_gap * h, p.figure_gap * h)
    tabs = _graphic_regions(boxes[labels == _TABLE], p.table_gap_x * h, p.table_gap_y * h)
    regions = np.concatenate([figs, tabs])
    region_label = np.r_[np.full(len(figs), _FIGURE), np.full(len(tabs), _TABLE)]
    # 0, 2, 3. columns, lines, lines inside graphics
    gutters = _gutters(boxes[text], width, h, p)
    lines, votes = _lines(boxes[text], labels[text], gutters, h, p)
    kept, regions = _absorb(lines, regions, p)
    lines, votes = lines[kept], votes[kept]
    # 4. blocks; one-line blocks in the margins are page furniture
    line_label = votes.argmax(1)
    block_of = _blocks(lines, line_label, classes_of[line_label], gutters, h, p)
    k = int(block_of.max()) + 1 if len(block_of) else 0
    blocks = _union(lines, block_of, k)
    bvotes = np.zeros((k, len(DOCBANK_LABELS)))
    np.add.at(bvotes, block_of, votes)
    block_src = bvotes.argmax(1)
    furniture = _furniture(blocks, regions, height, h, p) & (block_src == _L["paragraph"])
    block_src[furniture] = _L["footer"]

    out_boxes = np.concatenate([blocks, regions])
    out_src = np.r_[block_src, region_label].astype(np.int64)
    out_cls = classes_of[out_src]
    keep = (
        (out_cls >= 0) & (out_boxes[:, 2] > out_boxes[:, 0]) & (out_boxes[:, 3] > out_boxes[:, 1])
    )
    return out_boxes[keep], out_cls[keep], out_src[keep]


def read_page(
    token_file: str | os.PathLike, image_dir: str | os.PathLike | None = None
) -> DocBankPage:
    """Read a token file and its page image's size; token boxes scaled to pixels."""
    token_file = Path(token_file)
    image = find_page_image(token_file, image_dir if image_dir is not None else token_file.parent)
    try:
        with Image.open(image) as im:
            width, height = im.size
    except OSError as e:
        raise ValueError(f"{token_file}: page image {image} is unreadable ({e})") from None
    boxes, labels, drawing = read_token_file(token_file)
    boxes = boxes * np.array([width, height, width, height]) / 1000.0
    return DocBankPage(token_file.stem, image, width, height, boxes, labels, drawing)


def _class_map(class_set: str) -> tuple[tuple[str, ...], np.ndarray]:
    try:
        classes, mapping = CLASS_SETS[class_set]
    except KeyError:
        raise ValueError(f"Unknown class set {class_set!r}; known: {sorted(CLASS_SETS)}") from None
    idx = {c: k for k, c in enumerate(classes)}
    classes_of = np.array([idx[m] if m is not None else -1 for m in mapping.values()])
    order = np.array([_L[lab] for lab in mapping])  # mapping keys in DOCBANK_LABELS index order
    out = np.empty(len(DOCBANK_LABELS), np.int64)
    out[order] = classes_of
    return classes, out


def docbank_to_coco(
    pages: Sequence[DocBankPage],
    class_set: str = "publaynet",
    image_ids: dict[str, int] | None = None,
    params: GroupingParams | None = None,
) -> dict:
    """COCO instances dict of grouped pages (category ids 1.. in the class set's order).

    ``file_name`` is the image's name (relative to the image folder); ``image_ids`` maps a stem
    to its image id (default 1.. in the given order). Each annotation also records the DocBank
    label that carries most of it (``docbank_label``).
    """
    classes, classes_of = _class_map(class_set)
    images, anns = [], []
    for k, page in enumerate(pages):
        img_id = image_ids[page.stem] if image_ids is not None else k + 1
        images.append(
            {"id": img_id, "file_name": page.image.name, "width": page.width,
             "height": page.height}
        )  # fmt: skip
        boxes, cls, src = group_tokens(
            page.boxes, page.labels, classes_of, (page.width, page.height), page.drawing, params
        )
        for (x0, y0, x1, y1), c, s in zip(boxes.tolist(), cls.tolist(), src.tolist()):
            w, h = x1 - x0, y1 - y0
            anns.append(
                {
                    "id": len(anns) + 1,
                    "image_id": img_id,
                    "category_id": c + 1,
                    "bbox": [round(x0, 2), round(y0, 2), round(w, 2), round(h, 2)],
                    "area": round(w * h, 2),
                    "iscrowd": 0,
                    "docbank_label": DOCBANK_LABELS[s],
                }
            )
    cats = [{"id": i + 1, "name": n, "supercategory": "layout"} for i, n in enumerate(classes)]
    return {"images": images, "annotations": anns, "categories": cats}


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


def _write_image(page: DocBankPage, out: Path, image_height: int | None) -> DocBankPage:
    """Copy (or resize to ``image_height`` pixels high) the page image into ``out``."""
    dst = out / page.image.name
    if not image_height or image_height == page.height:
        if not (dst.is_file() and dst.stat().st_size == page.image.stat().st_size):
            shutil.copyfile(page.image, dst)
        return page
    scale = image_height / page.height
    w, h = max(1, int(round(page.width * scale))), int(image_height)
    dst = dst.with_suffix(".jpg")
    with Image.open(page.image) as im:
        im.convert("RGB").resize((w, h), Image.Resampling.LANCZOS).save(dst, quality=95)
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
) -> dict[str, Path]:
    """Convert every ``*.txt`` token file of ``token_dir`` into a dataset folder ``out_dir``.

    Writes ``out_dir/images/`` (the page images, copied, or resized to ``image_height`` pixels
    high) and, per class set, ``out_dir/<COCO_DIRS[set]>/{train,val,all}.json`` (train / val by
    :func:`split_stems`; ``all`` = every page). Image ids are the pages' ranks in ``all`` (sorted
    by image file name, the order ``scripts/predict.py`` reads a folder in), the same in every
    json. Returns ``{"<set>/<split>": json path}``.
    """
    files = sorted(Path(token_dir).glob("*.txt"))
    if not files:
        raise FileNotFoundError(f"No *.txt DocBank token files in {token_dir}")
    for s in class_sets:
        _class_map(s)  # fail on a bad class set before any work
    out_dir = Path(out_dir)
    (out_dir / "images").mkdir(parents=True, exist_ok=True)
    pages = [_write_image(read_page(f, image_dir), out_dir / "images", image_height) for f in files]
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
