"""Convert the PRIMA Layout Analysis Dataset's PAGE-XML ground truth to COCO json.

    python scripts/prima_to_coco.py xml_dir=ROOT/prima/XML out_dir=ROOT/prima/COCO
        [image_dir=ROOT/prima/Images] [val_fraction=0.2] [seed=0]

Writes out_dir/train.json and out_dir/val.json (a seeded random val_fraction of the pages),
6 classes with ids 1..6 (see pagedata/prima.py); image_dir resolves image file extensions.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from omegaconf import MISSING

from graphkd.apps.tool import register_tool, run_tool
from pagedata.prima import convert_prima_dir

__all__ = ["PrimaOptions", "main", "prima_to_coco"]


@dataclass
class PrimaOptions:
    """Options of :func:`pagedata.prima.convert_prima_dir` (see the module docstring)."""

    xml_dir: str = MISSING
    out_dir: str = MISSING
    image_dir: str | None = None
    val_fraction: float = 0.2
    seed: int = 0


register_tool("prima_to_coco", PrimaOptions, __doc__)


def prima_to_coco(opts: PrimaOptions) -> dict[str, Path]:
    """Convert and print what was written; returns split -> json path."""
    written = convert_prima_dir(
        opts.xml_dir, opts.out_dir, opts.image_dir, opts.val_fraction, opts.seed
    )
    for path in written.values():
        coco = json.loads(path.read_text())
        print(f"wrote {path}: {len(coco['images'])} images, {len(coco['annotations'])} regions")
    return written


def main(argv: Sequence[str] | None = None) -> dict[str, Path] | None:
    """The command line (``argv`` None) or a list of ``key=value``."""
    return run_tool("prima_to_coco", prima_to_coco, argv)
