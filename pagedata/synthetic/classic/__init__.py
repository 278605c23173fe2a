"""The ``classic`` style of :mod:`pagedata.synthetic`: word-like glyph runs in DejaVu fonts at
the page's own resolution, one or two columns, and scan noise (the pages of the GraphKD-vs-DSIG
experiments in docs/experiments.md, kept bit-identical).

Modules: ``glyphs`` (the word bank and text lines), ``floats`` (figures and tables), ``page``
(:class:`ClassicPage` and its block renderers), ``noise`` (scan noise) and ``layout``
(columns, :func:`render_classic`).
"""

from pagedata.synthetic.classic.layout import render_classic
from pagedata.synthetic.classic.page import ClassicPage

__all__ = ["ClassicPage", "render_classic"]
