"""Convert DocBank token files + page images into a COCO dataset folder with block-level boxes.

    python scripts/docbank_to_coco.py token_dir=DIR out_dir=ROOT/docbank [image_dir=DIR]
        [val_fraction=0.25] [class_sets=publaynet,docbank] [image_height=0]

token_dir: DocBank ``<stem>.txt`` token files; image_dir: their ``<stem>_ori.jpg`` pages
(default: token_dir). Writes out_dir/images/ (copies, or pages resized to image_height pixels
high; 0 keeps them) and per class set out_dir/COCO/{train,val,all}.json (publaynet: text,
title, list, table, figure) and out_dir/COCO_labels/{train,val,all}.json (docbank: its 13
labels). val = a fixed fraction by a hash of the stem; all = every page. Tokens are grouped
into lines, paragraphs, figures and tables as pagedata/docbank/ describes. Then train or
evaluate with ``dataset=docbank dataset.root=ROOT`` (``dataset=docbank_labels`` for DocBank's
labels).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from omegaconf import MISSING

from graphkd.apps.tool import register_tool, run_tool
from pagedata.docbank import convert_docbank_dir

__all__ = ["DocBankOptions", "docbank_to_coco", "main"]


@dataclass
class DocBankOptions:
    """Options of :func:`pagedata.docbank.convert_docbank_dir` (see the module docstring)."""

    token_dir: str = MISSING
    out_dir: str = MISSING
    image_dir: str | None = None
    val_fraction: float = 0.25
    class_sets: list[str] = field(default_factory=lambda: ["publaynet", "docbank"])
    image_height: int = 0


register_tool("docbank_to_coco", DocBankOptions, __doc__)


def docbank_to_coco(opts: DocBankOptions) -> dict[str, Path]:
    """Convert and print what was written; returns class set / split -> json path."""
    written = convert_docbank_dir(
        opts.token_dir, opts.out_dir, opts.image_dir, opts.val_fraction,
        [s for s in opts.class_sets if s], opts.image_height or None,
    )  # fmt: skip
    for path in written.values():
        coco = json.loads(path.read_text())
        print(f"wrote {path}: {len(coco['images'])} images, {len(coco['annotations'])} regions")
    return written


def main(argv: Sequence[str] | None = None) -> dict[str, Path] | None:
    """The command line (``argv`` None) or a list of ``key=value``."""
    return run_tool("docbank_to_coco", docbank_to_coco, argv)
