"""Synthetic document pages with exact layout ground truth (the embedded default dataset).

Pages follow PubLayNet's classes and annotation style: COCO category ids 1..5 =
``text, title, list, table, figure``. A page has one or two columns (two-column pages may start
with a full-width title and/or a full-width table or figure), titles, paragraphs (lines of
word-like glyph runs in the DejaVu fonts shipped with matplotlib), bulleted / numbered lists,
ruled tables, figures (line plots, bar charts, shape diagrams, photo-like noise images), figure
and table captions (annotated as ``text``, as PubLayNet does), an optional running header and
footer, and optional scan noise (paper tint, blur, speckle, JPEG artefacts, rotation <= 1 degree).

Annotation rules:

* boxes are the tight ink extent of each block; lists are one ``list`` block each (PubLayNet);
* page headers / footers / page numbers are drawn but NOT annotated (PubLayNet leaves them out);
* annotated blocks never overlap and lie inside the page, also after rotation: a rotated box is
  replaced by the axis-aligned box of its rotated corners (clipped to the page), and the angle is
  halved until no two such boxes overlap;
* ``segmentation`` is the box polygon, ``iscrowd`` 0, ``area`` = box area.

Styles: ``classic`` (:mod:`pagedata.synthetic.classic`; the pages of the GraphKD-vs-DSIG
experiments in docs/experiments.md, kept bit-identical) and ``realistic`` (:mod:`pagedata.synthetic.realistic`:
real words in LaTeX / Times fonts at real sizes, drawn supersampled, equations, paper-like figures
and tables; made to transfer to real pages). The style is a parameter of every function here;
datasets of the two styles live in different folders (see
:func:`detectors.datasets.register_dataset`).

Determinism: page ``i`` of split ``s`` with seed ``k`` is drawn from
``numpy.random.default_rng(SeedSequence([k, crc32(s), i]))``, so it does not depend on how many
pages are generated, and ``train`` / ``val`` never share pages.

On-disk layout (PubLayNet's, so the same registration code reads it)::

    out_dir/
        manifest.json          # generator parameters per split (reuse check of ensure_synthetic)
        train.json  val.json   # COCO instances
        train/000000.jpg ...   # page images (jpg or png)
        val/000000.jpg ...

Modules: ``common`` (box type, category ids, page size), ``fonts``, ``classic/`` and
``realistic/`` (the two styles), ``generate`` (:func:`render_page`,
:func:`generate_synthetic`) and ``ensure`` (:func:`ensure_synthetic`).
"""

from pagedata.synthetic.common import CLASSES, STYLES, page_size
from pagedata.synthetic.ensure import ensure_synthetic
from pagedata.synthetic.generate import GENERATOR_VERSION, generate_synthetic, render_page

__all__ = [
    "CLASSES",
    "STYLES",
    "GENERATOR_VERSION",
    "page_size",
    "render_page",
    "generate_synthetic",
    "ensure_synthetic",
]
