"""DocBank's labels and the class sets they map to (step 4 of :mod:`pagedata.docbank` cuts
blocks by label kind)."""

from __future__ import annotations

import numpy as np

from pagedata.classes import DOCBANK_LABELS, PUBLAYNET_CLASSES

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

LABEL_ID = {lab: i for i, lab in enumerate(DOCBANK_LABELS)}
FIGURE, TABLE = LABEL_ID["figure"], LABEL_ID["table"]
# How blocks of a (source) label are cut into paragraphs (step 4 of the module docstring).
LIST_LIKE = np.zeros(len(DOCBANK_LABELS), bool)
LIST_LIKE[LABEL_ID["list"]] = True
REFERENCE = np.zeros(len(DOCBANK_LABELS), bool)
REFERENCE[LABEL_ID["reference"]] = True
CENTRED = np.zeros(len(DOCBANK_LABELS), bool)  # display formulas: no indentation rule
CENTRED[LABEL_ID["equation"]] = True


def class_map(class_set: str) -> tuple[tuple[str, ...], np.ndarray]:
    """(class names, (13,) target class index of each DocBank label, -1 = not annotated)."""
    try:
        classes, mapping = CLASS_SETS[class_set]
    except KeyError:
        raise ValueError(f"Unknown class set {class_set!r}; known: {sorted(CLASS_SETS)}") from None
    idx = {c: k for k, c in enumerate(classes)}
    classes_of = np.array([idx[m] if m is not None else -1 for m in mapping.values()])
    order = np.array(
        [LABEL_ID[lab] for lab in mapping]
    )  # mapping keys in DOCBANK_LABELS index order
    out = np.empty(len(DOCBANK_LABELS), np.int64)
    out[order] = classes_of
    return classes, out
