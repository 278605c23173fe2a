"""What both page styles share: the box type, PubLayNet's category ids and the page size rule."""

from __future__ import annotations

from pagedata.classes import PUBLAYNET_CLASSES

Box = tuple[float, float, float, float]  # (x0, y0, x1, y1) pixels, exclusive right / bottom

CLASSES = PUBLAYNET_CLASSES
TEXT, TITLE, LIST, TABLE, FIGURE = 1, 2, 3, 4, 5
STYLES = ("classic", "realistic")
PAGE_ASPECT = 8.5 / 11.0  # US Letter, like most PubLayNet (PMC) pages


def page_size(image_size: int) -> tuple[int, int]:
    """(width, height) of a page whose height (the long side) is ``image_size`` pixels."""
    if int(image_size) < 128:
        raise ValueError(f"image_size={image_size} is too small for a page; use >= 128 pixels.")
    return int(round(image_size * PAGE_ASPECT)), int(image_size)


def check_style(style: str) -> str:
    """``style`` if it is one of :data:`STYLES`, else ValueError."""
    if style not in STYLES:
        raise ValueError(f"style must be one of {list(STYLES)}, got {style!r}")
    return style
