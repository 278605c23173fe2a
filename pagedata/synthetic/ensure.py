"""Generate a synthetic dataset on first use and reuse it afterwards (a manifest of the
generator parameters per split, under an inter-process lock)."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
from collections.abc import Mapping
from pathlib import Path

from pagedata.synthetic.common import check_style
from pagedata.synthetic.generate import (
    GENERATOR_VERSION,
    generate_synthetic,
    style_info,
    write_atomic,
)

logger = logging.getLogger(__name__)


def _split_params(
    num_pages: int, seed: int, image_size: int, image_format: str, noise: bool,
    style: str = "classic",
) -> dict:  # fmt: skip
    """The manifest entry of one split: every parameter that changes its pages."""
    return {
        "generator_version": GENERATOR_VERSION,
        "num_pages": int(num_pages),
        "seed": int(seed),
        "image_size": int(image_size),
        "image_format": image_format,
        "noise": bool(noise),
        **style_info(style),
    }


@contextlib.contextmanager
def _locked(root: Path):
    """Inter-process lock so concurrent ranks / jobs do not generate the same split twice."""
    root.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - non-POSIX
        yield
        return
    with open(root / ".lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _read_manifest(path: Path) -> dict:
    """The manifest at ``path`` (``{"splits": {split: params}}``); empty when missing or
    unreadable."""
    manifest = {}
    if path.is_file():
        try:
            manifest = json.loads(path.read_text())
        except json.JSONDecodeError:
            logger.warning("ignoring unreadable %s; regenerating", path)
    manifest.setdefault("splits", {})
    return manifest


def _complete(root: Path, split: str, n: int, image_format: str) -> bool:
    """Whether the split's json and its ``n`` images are on disk."""
    json_path, img_dir = root / f"{split}.json", root / split
    return (
        json_path.is_file()
        and img_dir.is_dir()
        and sum(1 for _ in img_dir.glob(f"*.{image_format}")) == int(n)
    )


def ensure_synthetic(
    root: str | os.PathLike,
    splits: Mapping[str, int] | None = None,
    seed: int = 0,
    image_size: int = 640,
    *,
    image_format: str = "jpg",
    noise: bool = True,
    workers: int = 0,
    style: str = "classic",
) -> dict[str, tuple[Path, Path]]:
    """Generate the synthetic dataset under ``root`` on first use and reuse it afterwards.

    A split is reused when ``root/manifest.json`` records exactly the requested parameters
    (pages, seed, image size, format, noise, generator version, style) and its json and images
    exist; otherwise that split is deleted and regenerated. Returns ``{split: (json_path,
    image_dir)}``. Give each style its own ``root`` (``register_dataset`` does).
    """
    check_style(style)
    splits = dict(splits or {"train": 200, "val": 50})
    root = Path(root)
    manifest_path = root / "manifest.json"
    out: dict[str, tuple[Path, Path]] = {}
    with _locked(root):
        manifest = _read_manifest(manifest_path)
        for split, n in splits.items():
            params = _split_params(n, seed, image_size, image_format, noise, style)
            json_path, img_dir = root / f"{split}.json", root / split
            have = manifest["splits"].get(split)
            if have == params and _complete(root, split, n, image_format):
                logger.info("reusing synthetic split %r (%d pages) in %s", split, n, root)
            else:
                if have is not None:
                    logger.info("synthetic split %r parameters changed (%s -> %s): regenerating",
                                split, have, params)  # fmt: skip
                manifest["splits"].pop(split, None)
                shutil.rmtree(img_dir, ignore_errors=True)
                json_path.unlink(missing_ok=True)
                generate_synthetic(root, n, seed, image_size, split=split,
                                   image_format=image_format, noise=noise, workers=workers,
                                   style=style)  # fmt: skip
                manifest["splits"][split] = params
                write_atomic(manifest_path, json.dumps(manifest, indent=2, sort_keys=True))
            out[split] = (json_path, img_dir)
    return out
