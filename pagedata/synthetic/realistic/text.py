"""Text of realistic pages: English prose from Python's own documentation, read from a random
position, and the numbers tables and tick labels print."""

from __future__ import annotations

import functools
import re

import numpy as np

_FALLBACK = (
    "the of and a to in is that for it as with on be by this are from an or at which not can "
    "model data method results we our two each these between layout page figure table section "
    "document detection teacher student network training image feature region distribution"
).split()


@functools.lru_cache(maxsize=1)
def corpus() -> tuple[str, ...]:
    """English prose tokens: the text of Python's documentation topics (``pydoc_data``)."""
    try:
        from pydoc_data.topics import topics
    except ImportError:  # pragma: no cover - stripped CPython builds
        return tuple(_FALLBACK * 50)
    words = []
    for key in sorted(topics):
        for line in topics[key].splitlines():
            s = line.strip()
            # prose lines only: no code, tables or reST markup
            if not s or s.startswith((">>>", "...", "*", "+", "|", "=", "-", ".. ")) or "_" in s:
                continue
            for tok in s.split():
                tok = tok.strip("\"`*'")
                if re.fullmatch(r"\(?[A-Za-z][a-z]*(?:-[a-z]+)?[.,;:)]?", tok):
                    words.append(tok)
    return tuple(words) if len(words) > 1000 else tuple(_FALLBACK * 50)


class Words:
    """A reader of the corpus from a random position (sentences stay sentences)."""

    def __init__(self, rng: np.random.Generator):
        self.c = corpus()
        self.i = int(rng.integers(len(self.c)))

    def next(self) -> str:
        self.i = (self.i + 1) % len(self.c)
        return self.c[self.i]

    def phrase(self, n: int, title: bool = False) -> list[str]:
        out = [self.next().strip(".,;:()") or "data" for _ in range(n)]
        out = [w for w in out if w] or ["Results"]
        if title:
            out = [w.capitalize() if (len(w) > 3 or i == 0) else w for i, w in enumerate(out)]
        return out


def number(r: np.random.Generator) -> str:
    """A number as a table cell or a tick label prints it: an integer, or 1-2 decimals."""
    k = r.random()
    if k < 0.4:
        return str(int(r.integers(0, 100)))
    if k < 0.8:
        return f"{r.uniform(0, 10):.1f}"
    return f"{r.uniform(0, 1):.2f}"
