"""A run's exports, made once and reused: ``model.ts`` / ``model.onnx`` and ``export.json`` in the
run directory, the files ``scripts/export.py`` writes there.

An export is reused while it belongs to the model: ``export.json`` lists it, its check against the
eager model matched, it was made from a weights file of the same name (a moved run dir keeps its
exports), with the config's test-time settings (frozen into the graph), without the int8 box
head, and it is newer than the weights. Otherwise it is made again, into a
temporary folder first, and moved in only once its check passed (a kill or a failed check leaves
the previous files as they were).
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path

from detectron2.config import CfgNode

from detectors.config import inference_settings
from detectors.export import EXPORT_INFO, ONNX_OPSET, export_model
from graphkd.apps.artifacts import ModelFiles, load_model
from graphkd.apps.export import default_pages
from graphkd.core.checkpoint import write_text

__all__ = ["current_export", "ensure_export", "read_export_info", "write_export_info"]

logger = logging.getLogger(__name__)


def read_export_info(export_dir: str | os.PathLike) -> dict:
    """``export.json`` of ``export_dir`` (``{}`` when there is none or it is unreadable)."""
    path = Path(export_dir) / EXPORT_INFO
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def write_export_info(export_dir: str | os.PathLike, info: Mapping) -> None:
    """Write ``export.json`` atomically, in the form ``detectors.export.export_model`` writes."""
    write_text(Path(export_dir) / EXPORT_INFO, json.dumps(info, indent=2))


def current_export(
    export_dir: str | os.PathLike, fmt: str, cfg: CfgNode, weights: str | os.PathLike
) -> Path | None:
    """The ``fmt`` export in ``export_dir`` when it is usable for the model of ``cfg`` +
    ``weights`` (see the module docstring), else None."""
    export_dir = Path(export_dir)
    info = read_export_info(export_dir)
    name = (info.get("files") or {}).get(fmt)
    if not name or not (export_dir / name).is_file():
        return None
    path = export_dir / name
    checks = (info.get("checks") or {}).get(fmt) or []
    usable = (
        bool(checks)
        and Path(info.get("source") or "").name == Path(weights).name
        and all(c.get("match") for c in checks)
        and not info.get("quantized_box_head")
        and info.get("test_settings") == asdict(inference_settings(cfg))
        and path.stat().st_mtime >= Path(weights).stat().st_mtime
    )
    return path if usable else None


def _merged(old: Mapping, new: Mapping, fmt: str) -> dict:
    """``new``'s export.json keeping ``old``'s other formats when they belong to the same model
    (same weights, test-time settings and box head); an old int8 copy of a replaced ONNX export
    is dropped."""
    same = all(old.get(k) == new.get(k) for k in ("source", "test_settings", "quantized_box_head"))
    if not old or not same:
        return dict(new)
    out = {**old, **new}
    out["files"] = {**old.get("files", {}), **new["files"]}
    out["checks"] = {**old.get("checks", {}), **new["checks"]}
    out["export_s"] = {**old.get("export_s", {}), **new.get("export_s", {})}
    out["onnx_opset"] = ONNX_OPSET if "onnx" in out["files"] else None
    if fmt == "onnx":
        out.pop("int8", None)
    return out


def ensure_export(files: ModelFiles, fmt: str, export_dir: str | os.PathLike) -> Path:
    """The model's ``fmt`` export in ``export_dir``, exported there first when there is no usable
    one (traced and checked on ``scripts/export.py``'s default pages).

    Raises:
        ValueError: the new export does not match the eager model within the tolerance.
    """
    export_dir = Path(export_dir)
    found = current_export(export_dir, fmt, files.cfg, files.weights)
    if found is not None:
        return found
    print(f"exporting {fmt} into {export_dir} (once: later runs reuse it)")
    start = time.perf_counter()
    model = load_model(files).cpu()
    pages = default_pages(int(files.cfg.INPUT.MIN_SIZE_TEST))
    export_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=export_dir, prefix=".export-") as tmp:
        info = export_model(
            model,
            files.cfg,
            pages,
            tmp,
            [fmt],
            classes=files.classes,
            extra_info={"source": str(files.weights), "quantized_box_head": False},
        )
        if not all(c["match"] for c in info["checks"][fmt]):
            raise ValueError(
                f"the {fmt} export of {files.weights} does not match the eager model within "
                f"the tolerance {info['tolerance']}: {info['checks'][fmt]}"
            )
        name = info["files"][fmt]
        os.replace(Path(tmp) / name, export_dir / name)
    info["export_s"] = {fmt: round(time.perf_counter() - start, 1)}  # trace + check, per format
    write_export_info(export_dir, _merged(read_export_info(export_dir), info, fmt))
    logger.info("exported %s -> %s", fmt, export_dir / name)
    return export_dir / name
