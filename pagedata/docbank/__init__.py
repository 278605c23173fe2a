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
   with text close on both sides (``columns.find_gutters``); boxes on opposite sides never join.
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

Modules: ``labels`` (class sets, label kinds), ``params`` (:class:`GroupingParams`), ``tokens``
(reading token files and pages), ``boxes`` (components and unions), ``columns`` (step 0),
``lines`` (step 2), ``blocks`` (steps 1, 3-5), ``grouping`` (:func:`group_tokens`), ``coco``
(:func:`docbank_to_coco`) and ``convert`` (:func:`convert_docbank_dir`).
"""

from pagedata.classes import DOCBANK_LABELS, PUBLAYNET_CLASSES
from pagedata.docbank.coco import docbank_to_coco
from pagedata.docbank.convert import convert_docbank_dir, split_stems
from pagedata.docbank.grouping import group_tokens
from pagedata.docbank.labels import CLASS_SETS, COCO_DIRS
from pagedata.docbank.params import GroupingParams
from pagedata.docbank.tokens import DocBankPage, find_page_image, read_page, read_token_file

__all__ = [
    "CLASS_SETS",
    "COCO_DIRS",
    "DOCBANK_LABELS",
    "PUBLAYNET_CLASSES",
    "GroupingParams",
    "DocBankPage",
    "read_token_file",
    "find_page_image",
    "read_page",
    "group_tokens",
    "docbank_to_coco",
    "split_stems",
    "convert_docbank_dir",
]
