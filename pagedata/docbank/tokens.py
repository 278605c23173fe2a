"""Reading DocBank pages: token files, their page images, and the page in pixels."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from pagedata.classes import DOCBANK_LABELS
from pagedata.docbank.labels import LABEL_ID


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
        if lab not in LABEL_ID:
            raise ValueError(
                f"{where}: unknown label {lab!r}; DocBank's labels are {list(DOCBANK_LABELS)}"
            )
        boxes.append(box)
        labels.append(LABEL_ID[lab])
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
