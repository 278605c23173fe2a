"""Step 2 of :mod:`pagedata.docbank`: tokens -> text lines with label votes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pagedata.classes import DOCBANK_LABELS
from pagedata.docbank.boxes import components, pairs, union
from pagedata.docbank.columns import same_column, sides
from pagedata.docbank.params import GroupingParams


@dataclass(frozen=True)
class _Tokens:
    """The geometry of N text tokens that line building uses."""

    boxes: np.ndarray  # (N, 4) XYXY
    th: np.ndarray  # (N,) heights
    anchor: np.ndarray  # (N,) bool, ordinary text height
    tall: np.ndarray  # (N,) bool, taller than tall * h
    vov: np.ndarray  # (N, N) vertical overlap
    near: np.ndarray  # (N, N) bool, at most line_gap apart in one column (no self pairs)
    window: np.ndarray  # (N, N) bool, at most snap_window apart in one column
    lo: np.ndarray  # (N, N) the smaller of the two heights
    hi: np.ndarray  # (N, N) the larger


def _tokens(tb: np.ndarray, gutters: np.ndarray, h: float, p: GroupingParams) -> _Tokens:
    """The pairwise geometry of the text tokens ``tb`` (N, 4)."""
    th = tb[:, 3] - tb[:, 1]
    vov = np.minimum(tb[:, None, 3], tb[None, :, 3]) - np.maximum(tb[:, None, 1], tb[None, :, 1])
    hgap = np.maximum(tb[None, :, 0] - tb[:, None, 2], tb[:, None, 0] - tb[None, :, 2])
    same_col = same_column(sides(tb, gutters))
    np.fill_diagonal(same_col, False)
    near = (hgap <= p.line_gap * h) & same_col
    window = (hgap <= p.snap_window * h) & same_col
    lo, hi = np.minimum(th[:, None], th[None, :]), np.maximum(th[:, None], th[None, :])
    anchor = (th >= p.anchor[0] * h) & (th <= p.anchor[1] * h)
    tall = th > p.tall * h
    return _Tokens(tb, th, anchor, tall, vov, near, window, lo, hi)


def _attach(t: _Tokens, h: float, p: GroupingParams) -> tuple[np.ndarray, np.ndarray]:
    """(N,) bool: the non-anchor tokens that join an anchor's line, and (N,) that anchor.

    Other tokens (sub/superscripts, math symbols) join the line of the anchor they overlap
    most. Tokens taller than tall * h are mostly DocBank's oversized boxes (words with
    ligatures, accents, big delimiters in CMEX fonts) that reach up or down into other lines:
    they join the nearby line whose anchors share their top or bottom edge.
    """
    tb, anchor, vov = t.boxes, t.anchor, t.vov
    cand = t.near & anchor[None, :] & (vov >= p.line_overlap * t.lo)
    score = np.where(cand, vov, -np.inf)
    edge = np.minimum(
        np.abs(tb[:, None, 1] - tb[None, :, 1]), np.abs(tb[:, None, 3] - tb[None, :, 3])
    )
    aligned = anchor[None, :] & (vov > 0) & (edge <= p.line_overlap * h) & t.window
    score = np.where(t.tall[:, None], np.where(aligned, -edge, -np.inf), score)
    best = score.argmax(1)
    attach = ~anchor & np.isfinite(score.max(1))
    return attach, best


def _line_ids(t: _Tokens, h: float, p: GroupingParams) -> tuple[np.ndarray, np.ndarray]:
    """(N,) a line id per token (not consecutive) and (N,) bool, the tokens dropped."""
    n, anchor, vov = len(t.boxes), t.anchor, t.vov
    # Anchors (ordinary text height) form lines when they overlap by half the taller one's
    # height: tokens of adjacent lines never do, so lines cannot chain.
    line_of = np.full(n, -1)
    if anchor.any():
        sub = t.near[np.ix_(anchor, anchor)] & (
            vov[np.ix_(anchor, anchor)] >= 0.5 * t.hi[np.ix_(anchor, anchor)]
        )
        line_of[anchor] = components(int(anchor.sum()), *pairs(sub))
    attach, best = _attach(t, h, p)
    line_of[attach] = line_of[best[attach]]
    # an oversized glyph box (taller than wide) that aligns with no line but reaches lines of
    # text would stretch them; wide tall tokens are kept (DocBank sometimes merges two lines
    # into one garbled token)
    glyph = t.tall & ~attach & (t.boxes[:, 2] - t.boxes[:, 0] <= t.th)
    drop = glyph & (anchor[None, :] & (vov > -p.line_overlap * h) & t.window).any(1)
    line_of[drop] = n  # set aside, removed below
    # The rest group among themselves (display formulas, headings in large type).
    rest = line_of < 0
    if rest.any():
        r = np.ix_(rest, rest)
        sub = (
            t.near[r]
            & (vov[r] >= p.line_overlap * t.lo[r])
            & (vov[r] >= p.line_overlap_tall * t.hi[r])
        )
        line_of[rest] = line_of.max() + 1 + components(int(rest.sum()), *pairs(sub))
    return line_of, drop


def extent_tokens(line_of: np.ndarray, *preferred: np.ndarray) -> np.ndarray:
    """(N,) tokens that set their line's box: the first ``preferred`` mask the line has any of,
    else all its tokens."""
    use = np.zeros(len(line_of), bool)
    done = np.zeros(int(line_of.max()) + 1, bool)
    for mask in preferred:
        has = np.bincount(line_of[mask], minlength=len(done)) > 0
        use |= mask & has[line_of] & ~done[line_of]
        done |= has
    return use | ~done[line_of]


def _line_boxes(
    tb: np.ndarray, line_of: np.ndarray, anchor: np.ndarray, tall: np.ndarray, k: int
) -> np.ndarray:
    """(k, 4) line boxes: x from every token, y from the anchors (else ordinary tokens, else
    all)."""
    use = extent_tokens(line_of, anchor, ~tall)
    boxes = union(tb[use], line_of[use], k)
    boxes[:, [0, 2]] = union(tb, line_of, k)[:, [0, 2]]
    return boxes


def _join_pieces(
    tb: np.ndarray, line_of: np.ndarray, anchor: np.ndarray, tall: np.ndarray,
    gutters: np.ndarray, h: float, p: GroupingParams,
) -> np.ndarray:  # fmt: skip
    """(N,) consecutive line ids after pieces of one line that math tokens (attached to the
    next line) split apart join: same row (y extents from anchors, else ordinary tokens), same
    column, at most piece_gap apart."""
    k = int(line_of.max()) + 1
    pieces = _line_boxes(tb, line_of, anchor, tall, k)
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
        & same_column(sides(pieces, gutters))
    )
    return components(k, *pairs(join))[line_of]


def group_lines(
    tb: np.ndarray, tl: np.ndarray, gutters: np.ndarray, h: float, p: GroupingParams
) -> tuple[np.ndarray, np.ndarray]:
    """Step 2: tokens (N, 4) with labels (N,) -> line boxes (L, 4) and label votes (L, 13)."""
    n = len(tb)
    if n == 0:
        return np.zeros((0, 4)), np.zeros((0, len(DOCBANK_LABELS)))
    t = _tokens(tb, gutters, h, p)
    line_of, drop = _line_ids(t, h, p)
    keep = ~drop
    if not keep.any():
        return np.zeros((0, 4)), np.zeros((0, len(DOCBANK_LABELS)))
    tb, tl, anchor, tall = tb[keep], tl[keep], t.anchor[keep], t.tall[keep]
    line_of = np.unique(line_of[keep], return_inverse=True)[1]
    line_of = _join_pieces(tb, line_of, anchor, tall, gutters, h, p)
    k = int(line_of.max()) + 1
    votes = np.zeros((k, len(DOCBANK_LABELS)))
    np.add.at(votes, (line_of, tl), tb[:, 2] - tb[:, 0] + 1e-3)  # label weight = token width
    return _line_boxes(tb, line_of, anchor, tall, k), votes
