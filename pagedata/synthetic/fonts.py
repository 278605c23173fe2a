"""The TrueType fonts matplotlib bundles (DejaVu, Computer Modern, STIX): where they are and
the classic style's DejaVu faces by name."""

from __future__ import annotations

import functools
import os

from PIL import ImageFont

FONT_FILES = {
    "sans": "DejaVuSans.ttf",
    "sans_bold": "DejaVuSans-Bold.ttf",
    "serif": "DejaVuSerif.ttf",
    "serif_bold": "DejaVuSerif-Bold.ttf",
    "serif_italic": "DejaVuSerif-Italic.ttf",
}


@functools.lru_cache(maxsize=1)
def font_dir() -> str:
    """Directory holding the DejaVu TTFs: matplotlib's bundled copy, else the system one."""
    candidates = []
    try:
        import matplotlib

        candidates.append(os.path.join(matplotlib.get_data_path(), "fonts", "ttf"))
    except ImportError:
        pass
    candidates.append("/usr/share/fonts/truetype/dejavu")
    for d in candidates:
        if os.path.isfile(os.path.join(d, FONT_FILES["serif"])):
            return d
    raise FileNotFoundError(
        f"No DejaVu fonts found in {candidates}. The synthetic generator draws text with the "
        "DejaVu TTFs shipped inside matplotlib: `pip install matplotlib`."
    )


@functools.lru_cache(maxsize=256)
def get_font(style: str, size: int) -> ImageFont.FreeTypeFont:
    """The DejaVu face ``style`` (a :data:`FONT_FILES` key) at ``size`` px (at least 4)."""
    return ImageFont.truetype(os.path.join(font_dir(), FONT_FILES[style]), size=max(int(size), 4))
