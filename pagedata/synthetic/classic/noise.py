"""Scan noise of classic pages: a small rotation that keeps the annotated boxes disjoint, blur,
speckle, paper tint and a JPEG quality."""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageFilter

from pagedata.synthetic.classic.page import ClassicPage
from pagedata.synthetic.common import Box


def rotate_box(box: Box, angle_deg: float, w: int, h: int) -> Box:
    """Axis-aligned box of ``box`` after PIL's ``Image.rotate(angle_deg)`` about the centre."""
    t = math.radians(angle_deg)
    c, s = math.cos(t), math.sin(t)
    cx, cy = w / 2.0, h / 2.0
    xs = np.array([box[0], box[2], box[2], box[0]]) - cx
    ys = np.array([box[1], box[1], box[3], box[3]]) - cy
    # PIL rotates counter-clockwise on screen (y axis pointing down).
    rx = cx + c * xs + s * ys
    ry = cy - s * xs + c * ys
    return (
        float(np.clip(rx.min(), 0, w)),
        float(np.clip(ry.min(), 0, h)),
        float(np.clip(rx.max(), 0, w)),
        float(np.clip(ry.max(), 0, h)),
    )


def overlaps(boxes: list[Box]) -> bool:
    """Whether any two of the XYXY ``boxes`` overlap."""
    if len(boxes) < 2:
        return False
    a = np.asarray(boxes)
    ix = np.minimum(a[:, None, 2], a[None, :, 2]) - np.maximum(a[:, None, 0], a[None, :, 0])
    iy = np.minimum(a[:, None, 3], a[None, :, 3]) - np.maximum(a[:, None, 1], a[None, :, 1])
    inter = (ix > 0) & (iy > 0)
    np.fill_diagonal(inter, False)
    return bool(inter.any())


def scan_noise(p: ClassicPage) -> tuple[Image.Image, list[tuple[int, Box]], int | None]:
    """Apply scan noise; returns the image, the (possibly rotated) blocks and a JPEG quality."""
    rng, img, blocks = p.rng, p.image, p.blocks
    noisy = rng.random() < 0.7
    quality = int(rng.integers(60, 96)) if noisy else None
    if not noisy:
        return img, blocks, quality
    if rng.random() < 0.5:
        angle = float(rng.uniform(-1.0, 1.0))
        while abs(angle) > 0.02:
            rotated = [(c, rotate_box(b, angle, p.w, p.h)) for c, b in blocks]
            if not overlaps([b for _, b in rotated]):
                break
            angle /= 2
        if abs(angle) > 0.02:
            fill = img.getpixel((0, 0))
            img = img.rotate(angle, resample=Image.BILINEAR, fillcolor=fill)
            blocks = rotated
    if rng.random() < 0.4:
        img = img.filter(ImageFilter.GaussianBlur(float(rng.uniform(0.3, 0.8))))
    if rng.random() < 0.35:
        a = np.asarray(img).copy()
        n = int(a.shape[0] * a.shape[1] * rng.uniform(2e-4, 1.5e-3))
        ys, xs = rng.integers(0, a.shape[0], n), rng.integers(0, a.shape[1], n)
        a[ys, xs] = rng.integers(0, 120, (n, 1))
        img = Image.fromarray(a)
    if rng.random() < 0.4:  # slightly yellowed / grey paper
        tint = rng.uniform([0.93, 0.92, 0.86], [1.0, 1.0, 0.98]).astype(np.float32)
        img = Image.fromarray((np.asarray(img, dtype=np.float32) * tint).astype(np.uint8))
    return img, blocks, quality
