"""Generate synthetic document pages (PubLayNet classes) as COCO json + images.

    python scripts/make_synthetic.py out=DIR num_pages=N seed=S [image_size=640] [split=train]
        [image_format=jpg] [noise=true] [workers=0] [style=classic|realistic]

Writes DIR/<split>/NNNNNN.<fmt> and DIR/<split>.json (PubLayNet's layout) and prints the
generation speed (pages/s). style: classic (glyph runs; the pages of docs/experiments.md's GraphKD-vs-DSIG runs) or
realistic (real words in LaTeX / Times fonts, equations, paper-like figures and tables).
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from omegaconf import MISSING

from graphkd.apps.tool import register_tool, run_tool
from pagedata.synthetic import generate_synthetic

__all__ = ["MakeSyntheticOptions", "main", "make_synthetic"]


@dataclass
class MakeSyntheticOptions:
    """Options of :func:`pagedata.synthetic.generate_synthetic` (see the module docstring)."""

    out: str = MISSING
    num_pages: int = MISSING
    seed: int = 0
    image_size: int = 640
    split: str = "train"
    image_format: str = "jpg"
    noise: bool = True
    workers: int = 0
    style: str = "classic"


register_tool("make_synthetic", MakeSyntheticOptions, __doc__)


def make_synthetic(opts: MakeSyntheticOptions) -> Path:
    """Generate the pages and print what was written; returns the json's path."""
    t0 = time.perf_counter()
    path = generate_synthetic(
        opts.out, opts.num_pages, opts.seed, opts.image_size, split=opts.split,
        image_format=opts.image_format, noise=opts.noise, workers=opts.workers, style=opts.style,
    )  # fmt: skip
    dt = time.perf_counter() - t0
    coco = json.loads(path.read_text())
    counts = {c["name"]: 0 for c in coco["categories"]}
    names = {c["id"]: c["name"] for c in coco["categories"]}
    for ann in coco["annotations"]:
        counts[names[ann["category_id"]]] += 1
    print(f"wrote {len(coco['images'])} images to {path.parent / opts.split}/")
    print(
        f"wrote {len(coco['annotations'])} annotations to {path}  ({dt:.1f} s, {len(coco['images']) / dt:.1f} pages/s)"
    )
    print("boxes per class: " + ", ".join(f"{k}={v}" for k, v in counts.items()))
    return path


def main(argv: Sequence[str] | None = None) -> Path | None:
    """The command line (``argv`` None) or a list of ``key=value``."""
    return run_tool("make_synthetic", make_synthetic, argv)
