"""Export a trained detector to TorchScript and ONNX, checked against the eager model.

    graphkd-export checkpoint=RUN_DIR [out=DIR] [formats=torchscript,onnx]
        [pages=IMG,IMG] [quantize=false] [package=true]
    (in a checkout: python scripts/export.py ...)

checkpoint: a student run dir, a teacher dir, a config .yaml or a .pth next to its config.
out: where model.ts / model.onnx / export.json go (default: the checkpoint's directory).
formats: comma-separated subset of torchscript, onnx (ONNX needs the `export` extra).
pages: page images to trace on and to compare eager vs exported detections on (default: two
    synthetic pages of the model's size, one portrait and one landscape crop, so the check also
    covers a size the trace was not made at).
quantize: int8 dynamic quantisation of the box head's linear layers before exporting
    (TorchScript only); the comparison is then against the quantised eager model.
package: for a student run dir, also (re)write its package files: a stock detectron2 config for
    ResNet students, label_map.json as {id: name}, classes.json and MODEL_CARD.md (default true;
    brings runs made before the package format up to date).

The exported graph takes a float32 (3, H, W) page in the model's INPUT.FORMAT, resized as
detectron2's DefaultPredictor does, and returns boxes (N, 4), scores (N,), classes (N,);
export.json records this, the classes, the test-time settings and the comparison. Running the
files needs torch + torchvision (TorchScript) or onnxruntime (ONNX), not detectron2 or GraphKD.
Exits with an error when an export does not match the eager model within the tolerance
(detectors.export.BOX_ATOL pixels, SCORE_ATOL, same classes).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from omegaconf import MISSING

from detectors.export import EXPORT_FORMATS, export_model, quantize_box_head
from graphkd.apps.artifacts import load_model, resolve_model
from graphkd.apps.package import STUDENT_CONFIG, package_run
from graphkd.apps.tool import register_tool, run_tool
from graphkd.apps.visualize import load_image
from pagedata.synthetic import render_page

__all__ = ["ExportOptions", "default_pages", "export", "main"]


@dataclass
class ExportOptions:
    """``graphkd-export``'s options (see the module docstring)."""

    checkpoint: str = MISSING
    out: str | None = None  # None: the checkpoint's directory
    formats: list[str] = field(default_factory=lambda: list(EXPORT_FORMATS))
    pages: list[str] = field(default_factory=list)  # empty: default_pages
    quantize: bool = False
    package: bool = True


register_tool("export", ExportOptions, __doc__)


def default_pages(min_size: int) -> list[np.ndarray]:
    """Two BGR synthetic pages whose short side is about ``min_size``: a portrait page and a
    landscape crop of another one."""
    height = max(160, round(min_size * 11 / 8.5))
    portrait = np.asarray(render_page(0, 0, image_size=height)[0])[:, :, ::-1]
    other = np.asarray(render_page(0, 1, image_size=height)[0])[: height // 2, :, ::-1]
    return [portrait.copy(), other.copy()]


def export(opts: ExportOptions) -> dict:
    """Export as the module docstring says; returns export.json's content."""
    formats = [f.strip() for f in opts.formats if f.strip()]
    files = resolve_model(opts.checkpoint)
    if opts.quantize and "onnx" in formats:
        raise ValueError("quantize=true exports TorchScript only: pass formats=torchscript.")
    if opts.package and (files.run_dir / STUDENT_CONFIG) == files.config:
        print(f"package: {package_run(files.run_dir)}")
        files = resolve_model(opts.checkpoint)  # the rewritten config
    model = load_model(files).cpu()
    if opts.quantize:
        quantize_box_head(model)
    cfg = files.cfg
    if opts.pages:
        pages = [load_image(p, cfg.INPUT.FORMAT) for p in opts.pages]
    else:
        pages = default_pages(int(cfg.INPUT.MIN_SIZE_TEST))
    out = Path(opts.out or files.run_dir)
    info = export_model(
        model,
        cfg,
        pages,
        out,
        formats,
        classes=files.classes,
        extra_info={"source": str(files.weights), "quantized_box_head": bool(opts.quantize)},
    )
    print(json.dumps({"out": str(out), "files": info["files"], "checks": info["checks"]}, indent=1))
    bad = [f for f, checks in info["checks"].items() if not all(c["match"] for c in checks)]
    if bad:
        raise ValueError(
            f"exported {bad} do not match the eager model within the tolerance "
            f"{info['tolerance']}: see {out / 'export.json'}"
        )
    return info


def main(argv: Sequence[str] | None = None) -> dict | None:
    """``graphkd-export``: the command line (``argv`` None) or a list of ``key=value``."""
    return run_tool("export", export, argv)
