"""The class vocabularies of the layout datasets GraphKD knows: one home for each list.

Class names are in COCO category-id order (ids 1..N). A dataset's *text* classes are those whose
regions hold running text: GraphKD's graph treats them as text nodes (merged, lighter weight).
"""

from __future__ import annotations

__all__ = [
    "DOCBANK_LABELS",
    "DOCBANK_TEXT",
    "DOCLAYNET_CLASSES",
    "DOCLAYNET_TEXT",
    "HJ_CLASSES",
    "HJ_TEXT",
    "PRIMA_CLASSES",
    "PRIMA_TEXT",
    "PUBLAYNET_CLASSES",
    "PUBLAYNET_TEXT",
]

# PubLayNet (Zhong et al., 2019); also the synthetic pages' and converted DocBank pages' classes.
PUBLAYNET_CLASSES = ("text", "title", "list", "table", "figure")
PUBLAYNET_TEXT = ("text", "title", "list")

# DocBank's 13 token labels (Li et al., 2020), kept as classes by the ``docbank_labels`` set.
DOCBANK_LABELS = (
    "abstract", "author", "caption", "date", "equation", "figure", "footer", "list",
    "paragraph", "reference", "section", "table", "title",
)  # fmt: skip
# Formulas, figures and tables are non-text, as DocLayNet's Formula below.
DOCBANK_TEXT = tuple(c for c in DOCBANK_LABELS if c not in ("equation", "figure", "table"))

DOCLAYNET_CLASSES = (
    "Caption", "Footnote", "Formula", "List-item", "Page-footer", "Page-header", "Picture",
    "Section-header", "Table", "Text", "Title",
)  # fmt: skip
# Formula counts as non-text: it is laid out and looks like a graphic, not running text.
DOCLAYNET_TEXT = (
    "Caption", "Footnote", "List-item", "Page-footer", "Page-header", "Section-header", "Text",
    "Title",
)  # fmt: skip

# PRIMA Layout Analysis (Antonacopoulos et al., 2009): the 6 real region classes (the converter
# drops the placeholder "Background" id 0; ids start at 1, background is implicit).
PRIMA_CLASSES = (
    "TextRegion", "ImageRegion", "TableRegion", "MathsRegion", "SeparatorRegion", "OtherRegion",
)  # fmt: skip
PRIMA_TEXT = ("TextRegion",)

# HJDataset (Shen et al., 2020): category ids 1..7 in its dataloader's colour-map order. Rows,
# titles and text regions hold (vertical) text; the page frame and "other" do not.
HJ_CLASSES = ("Page Frame", "Row", "Title Region", "Text Region", "Title", "Subtitle", "Other")
HJ_TEXT = ("Row", "Title Region", "Text Region", "Title", "Subtitle")
