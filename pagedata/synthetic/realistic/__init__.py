"""Synthetic pages that look like real papers: the ``realistic`` style of :mod:`pagedata.synthetic`.

The ``classic`` style (:mod:`pagedata.synthetic.classic`) draws random glyph runs in DejaVu
fonts at the page's own resolution; at 320 px that gives black, coarse text blocks that real
pages do not have (the demo's teacher scored 7 AP on real DocBank pages). This style imitates
arXiv / PubMed pages as DocBank and PubLayNet show them:

* **Text.** Real English sentences (the prose of Python's own documentation, ``pydoc_data``,
  shipped with every CPython: no download, no dependency), set in the fonts matplotlib bundles:
  Computer Modern (``cmr10`` / ``cmb10``, LaTeX's look), STIX (Times-like), DejaVu Serif / Sans.
  Body text is 9-12 pt on a letter or A4 page (about 1.2% of the page height), justified, with
  LaTeX's tight leading (1.2; sometimes double-spaced drafts), paragraphs marked by a first-line
  indent (no gap) or by a gap.
* **Rendering.** The page is drawn at ``ss`` times the output size (about 1000 px high) and box
  filtered down, so thin serif strokes become the light grey texture that real pages have after
  resizing, not 1-pixel black glyphs.
* **Structure.** One column with wide LaTeX margins or two columns; a first-page title block
  (title, authors, abstract); numbered section titles (``2.1 Word word``, or REVTeX's centred
  ``II. WORDS``); display equations (matplotlib mathtext in Computer Modern, with equation numbers;
  annotated ``text`` as the DocBank converter and PubLayNet do); bulleted / numbered lists with
  hanging indents; reference lists (one ``text`` block per entry); figures as papers have them
  (framed line plots with ticks, tick labels, axis labels and legends, scatter plots, bar charts,
  multi-panel figures with (a)/(b) labels, heat maps / photos, block diagrams) with ``Figure n:``
  captions below; tables (booktabs rules, full grid or unruled) with ``Table n:`` captions above;
  floats at the top of a column or the page. Running headers, page numbers and footnotes are
  drawn but not annotated (DocBank tags them ``footer``, which PubLayNet's classes leave out).
* **Noise.** Digital pages: JPEG quality 70-95 and an occasional slight blur; no rotation.

Boxes follow the DocBank -> PubLayNet converter (:mod:`pagedata.docbank`), whose token boxes
are a PDF's text boxes: a line of text spans its font's em box (``glyphs.em_rows``), not just
its ink; a display equation with its number is one ``text`` block; a caption is ``text``; a list
is one block; a table box spans its rules and cells (not its caption); a figure box spans its panels
and their sub-labels.

Determinism: everything is drawn from the page's ``numpy`` generator; the equation bank is
rendered once per process from a fixed seed.

Modules: ``text`` (prose and numbers), ``glyphs`` (fonts, word masks, em boxes), ``equations``,
``page`` (:class:`RealPage` and its block renderers), ``figures``, ``tables`` and ``layout``
(columns, the title block, :func:`render_realistic`).
"""

from pagedata.synthetic.realistic.layout import layout, render_realistic
from pagedata.synthetic.realistic.page import RealPage

# Bump whenever a change alters the generated pixels or boxes of this style.
VERSION = 4  # 4: display formulas spaced as on the DocBank pages and joined to a paragraph as
# closely spaced as the converter joins them; consecutive paragraphs always indented; section
# titles tight under the text above on half the pages
# 3: text boxes span the font's em box (PDF text boxes) instead of the ink, lists
# and references included; denser tables with hairline rules
# 2: one-line paragraphs, short 'where ...' blocks after equations, fewer lists

__all__ = ["VERSION", "RealPage", "layout", "render_realistic"]
