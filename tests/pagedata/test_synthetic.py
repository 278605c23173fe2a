"""Synthetic page generator: determinism, geometry of the boxes, class coverage, reuse."""

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pagedata.synthetic import CLASSES, ensure_synthetic, generate_synthetic, render_page

SIZE = 256  # small pages keep the suite fast; layout logic is size-independent


def _pixel_hashes(img_dir: Path) -> list[str]:
    return [
        hashlib.sha256(np.asarray(Image.open(f)).tobytes()).hexdigest()
        for f in sorted(img_dir.iterdir())
    ]


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    out = tmp_path_factory.mktemp("syn")
    path = generate_synthetic(out, 50, seed=3, image_size=SIZE)
    return out, json.loads(path.read_text())


def test_determinism(tmp_path, sample):
    out, coco = sample
    again = generate_synthetic(tmp_path, 6, seed=3, image_size=SIZE)
    coco2 = json.loads(again.read_text())
    first6 = {k: v for k, v in coco.items()}
    first6["images"] = coco["images"][:6]
    ids = {im["id"] for im in first6["images"]}
    first6["annotations"] = [a for a in coco["annotations"] if a["image_id"] in ids]
    # page i does not depend on how many pages are generated
    assert coco2["images"] == first6["images"]
    assert coco2["annotations"] == first6["annotations"]
    assert _pixel_hashes(tmp_path / "train") == _pixel_hashes(out / "train")[:6]
    # byte-identical json for identical arguments
    third = generate_synthetic(tmp_path / "b", 6, seed=3, image_size=SIZE)
    assert third.read_bytes() == again.read_bytes()
    other = generate_synthetic(tmp_path / "c", 6, seed=4, image_size=SIZE)
    assert _pixel_hashes(tmp_path / "c" / "train") != _pixel_hashes(tmp_path / "train")
    assert other.read_bytes() != again.read_bytes()


def test_boxes_inside_pages_and_not_overlapping(sample):
    out, coco = sample
    sizes = {im["id"]: (im["width"], im["height"]) for im in coco["images"]}
    by_image: dict[int, list] = {}
    for a in coco["annotations"]:
        x, y, w, h = a["bbox"]
        W, H = sizes[a["image_id"]]
        assert w >= 1 and h >= 1
        assert x >= 0 and y >= 0 and x + w <= W + 1e-6 and y + h <= H + 1e-6
        assert a["iscrowd"] == 0 and a["area"] == pytest.approx(w * h, abs=0.05)
        seg = a["segmentation"][0]
        # the box polygon (corners rounded to 0.01 px, like the box)
        assert seg == pytest.approx([x, y, x + w, y, x + w, y + h, x, y + h], abs=0.011)
        by_image.setdefault(a["image_id"], []).append((x, y, x + w, y + h))
    for boxes in by_image.values():
        b = np.asarray(boxes)
        ix = np.minimum(b[:, None, 2], b[None, :, 2]) - np.maximum(b[:, None, 0], b[None, :, 0])
        iy = np.minimum(b[:, None, 3], b[None, :, 3]) - np.maximum(b[:, None, 1], b[None, :, 1])
        overlap = (ix > 0) & (iy > 0)
        np.fill_diagonal(overlap, False)
        assert not overlap.any()
    # image files match the json
    for im in coco["images"][:5]:
        assert Image.open(out / "train" / im["file_name"]).size == (im["width"], im["height"])


def test_every_class_in_50_pages(sample):
    _, coco = sample
    assert [c["name"] for c in coco["categories"]] == list(CLASSES)
    assert [c["id"] for c in coco["categories"]] == [1, 2, 3, 4, 5]
    present = {a["category_id"] for a in coco["annotations"]}
    assert present == {1, 2, 3, 4, 5}
    assert len(coco["images"]) == 50
    assert all(any(a["image_id"] == im["id"] for a in coco["annotations"]) for im in coco["images"])


def test_boxes_cover_ink():
    """Annotated boxes hold drawn content: the page outside all boxes is mostly blank."""
    img, blocks, _ = render_page(seed=0, index=1, image_size=512, noise=False)
    a = np.asarray(img.convert("L")) < 128
    inside = np.zeros_like(a)
    for _, (x0, y0, x1, y1) in blocks:
        inside[int(y0) : int(np.ceil(y1)), int(x0) : int(np.ceil(x1))] = True
    for _, (x0, y0, x1, y1) in blocks:
        assert a[int(y0) : int(np.ceil(y1)), int(x0) : int(np.ceil(x1))].any()
    # headers/footers are not annotated, everything else is
    assert (a & ~inside).sum() < 0.2 * a.sum()


def test_ensure_synthetic_reuses_and_regenerates(tmp_path):
    root = tmp_path / "synthetic"
    out = ensure_synthetic(root, {"train": 3, "val": 2}, seed=0, image_size=SIZE)
    assert set(out) == {"train", "val"}
    js, imgs = out["val"]
    assert js.is_file() and len(list(imgs.iterdir())) == 2
    mtime = js.stat().st_mtime_ns
    ensure_synthetic(root, {"train": 3, "val": 2}, seed=0, image_size=SIZE)
    assert js.stat().st_mtime_ns == mtime  # reused
    train_json = json.loads((root / "train.json").read_text())
    val_json = json.loads(js.read_text())
    assert train_json["annotations"][:3] != val_json["annotations"][:3]  # splits differ
    ensure_synthetic(root, {"train": 3, "val": 4}, seed=0, image_size=SIZE)
    assert len(list(imgs.iterdir())) == 4 and len(json.loads(js.read_text())["images"]) == 4
    manifest = json.loads((root / "manifest.json").read_text())
    assert (
        manifest["splits"]["val"]["num_pages"] == 4
        and manifest["splits"]["train"]["num_pages"] == 3
    )


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="num_pages"):
        generate_synthetic(tmp_path, 0)
    with pytest.raises(ValueError, match="image_size"):
        generate_synthetic(tmp_path, 1, image_size=32)
    with pytest.raises(ValueError, match="image_format"):
        generate_synthetic(tmp_path, 1, image_size=SIZE, image_format="gif")


def test_cli(tmp_path):
    root = Path(__file__).resolve().parents[2]
    r = subprocess.run(
        [sys.executable, str(root / "scripts/make_synthetic.py"), f"out={tmp_path}", "num_pages=2", "seed=1", "image_size=256"],
        capture_output=True, text=True, cwd=root, env={"PYTHONPATH": str(root), "PATH": ""},
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "wrote 2 images" in r.stdout and (tmp_path / "train.json").is_file()
