"""PRIMA Layout Analysis Dataset: PAGE-XML ground truth -> COCO instances json.

Region elements map to the six PRIMA classes used by the GraphKD paper (COCO ids 1..6)::

    TextRegion -> TextRegion        ImageRegion -> ImageRegion     TableRegion -> TableRegion
    MathsRegion -> MathsRegion      SeparatorRegion -> SeparatorRegion
    GraphicRegion, ChartRegion, LineDrawingRegion, ChemRegion, MusicRegion, AdvertRegion,
    NoiseRegion, FrameRegion, UnknownRegion, CustomRegion -> OtherRegion

Some public conversions carry a placeholder "Background" category with id 0; it is never a
class here (ids start at 1, as detectron2 expects; background is implicit).

Polygons are read from ``<Coords points="x1,y1 x2,y2 ...">`` (PAGE 2013+) or from ``<Point
x= y=>`` children (PAGE 2010); each region gives a box (the polygon's extent, clipped to the
page) and a segmentation polygon. Only top-level regions of ``<Page>`` are converted (regions
nested inside a table or frame would overlap their parent). Any PAGE namespace version works.
"""

from __future__ import annotations

import json
import logging
import os
import random
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from pathlib import Path

from pagedata.classes import PRIMA_CLASSES

logger = logging.getLogger(__name__)

__all__ = [
    "REGION_TO_CLASS",
    "parse_page_xml",
    "prima_to_coco",
    "convert_prima_dir",
]

REGION_TO_CLASS = {c: c for c in PRIMA_CLASSES[:5]} | {
    r: "OtherRegion"
    for r in (
        "GraphicRegion", "ChartRegion", "LineDrawingRegion", "ChemRegion", "MusicRegion",
        "AdvertRegion", "NoiseRegion", "FrameRegion", "UnknownRegion", "CustomRegion",
    )
}  # fmt: skip


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _polygon(region: ET.Element, xml_file: str) -> list[float] | None:
    coords = next((c for c in region if _local(c.tag) == "Coords"), None)
    if coords is None:
        return None
    pts: list[float] = []
    try:
        if coords.get("points"):
            for pair in coords.get("points").split():
                x, y = pair.split(",")
                pts += [float(x), float(y)]
        else:
            for p in coords:
                if _local(p.tag) == "Point":
                    pts += [float(p.get("x")), float(p.get("y"))]
    except (TypeError, ValueError) as e:
        raise ValueError(f"{xml_file}: bad Coords in region {region.get('id')!r}: {e}") from None
    return pts if len(pts) >= 6 else None


def parse_page_xml(xml_file: str | os.PathLike) -> dict:
    """Parse one PAGE-XML file.

    Returns ``{"file_name", "width", "height", "regions": [(class_name, polygon [x,y,...])]}``.
    """
    xml_file = str(xml_file)
    try:
        root = ET.parse(xml_file).getroot()
    except ET.ParseError as e:
        raise ValueError(f"{xml_file} is not well-formed XML: {e}") from None
    page = next((el for el in root.iter() if _local(el.tag) == "Page"), None)
    if page is None:
        raise ValueError(f"{xml_file}: no <Page> element; is this a PAGE-XML file?")
    try:
        width, height = int(page.get("imageWidth")), int(page.get("imageHeight"))
    except (TypeError, ValueError):
        raise ValueError(f"{xml_file}: <Page> lacks integer imageWidth/imageHeight") from None
    regions, skipped = [], {}
    for el in page:
        kind = _local(el.tag)
        if not kind.endswith("Region"):
            continue
        cls = REGION_TO_CLASS.get(kind)
        if cls is None:
            skipped[kind] = skipped.get(kind, 0) + 1
            continue
        poly = _polygon(el, xml_file)
        if poly is None:
            skipped[kind + " (no polygon)"] = skipped.get(kind + " (no polygon)", 0) + 1
            continue
        regions.append((cls, poly))
    if skipped:
        logger.warning("%s: skipped regions %s", xml_file, skipped)
    return {
        "file_name": os.path.basename(
            page.get("imageFilename") or Path(xml_file).with_suffix(".tif").name
        ),
        "width": width,
        "height": height,
        "regions": regions,
    }


def _find_image(image_dir: Path | None, file_name: str) -> str:
    """The image's name inside ``image_dir`` (same stem, any extension), else ``file_name``."""
    if image_dir is None:
        return file_name
    if (image_dir / file_name).is_file():
        return file_name
    stem = Path(file_name).stem
    hits = sorted(p.name for p in image_dir.glob(stem + ".*"))
    if hits:
        return hits[0]
    logger.warning("image %s not found in %s", file_name, image_dir)
    return file_name


def prima_to_coco(
    xml_files: Iterable[str | os.PathLike], image_dir: str | os.PathLike | None = None
) -> dict:
    """Convert PAGE-XML files to one COCO instances dict (image ids 1.., category ids 1..6)."""
    image_dir = Path(image_dir) if image_dir is not None else None
    cats = [
        {"id": i + 1, "name": n, "supercategory": "region"} for i, n in enumerate(PRIMA_CLASSES)
    ]
    cat_id = {c["name"]: c["id"] for c in cats}
    images, anns = [], []
    for k, f in enumerate(sorted(str(x) for x in xml_files)):
        page = parse_page_xml(f)
        w, h = page["width"], page["height"]
        img_id = k + 1
        images.append(
            {
                "id": img_id,
                "file_name": _find_image(image_dir, page["file_name"]),
                "width": w,
                "height": h,
            }
        )
        for cls, poly in page["regions"]:
            xs = [min(max(v, 0.0), w) for v in poly[0::2]]
            ys = [min(max(v, 0.0), h) for v in poly[1::2]]
            x0, y0, x1, y1 = min(xs), min(ys), max(xs), max(ys)
            if x1 - x0 < 1 or y1 - y0 < 1:
                continue
            seg = [v for xy in zip(xs, ys) for v in xy]
            anns.append(
                {
                    "id": len(anns) + 1,
                    "image_id": img_id,
                    "category_id": cat_id[cls],
                    "bbox": [x0, y0, x1 - x0, y1 - y0],
                    "area": (x1 - x0) * (y1 - y0),
                    "iscrowd": 0,
                    "segmentation": [seg],
                }
            )
    return {"images": images, "annotations": anns, "categories": cats}


def convert_prima_dir(
    xml_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    image_dir: str | os.PathLike | None = None,
    val_fraction: float = 0.2,
    seed: int = 0,
) -> dict[str, Path]:
    """Convert every ``*.xml`` in ``xml_dir``; write ``out_dir/train.json`` (+ ``val.json``).

    The val split is a seeded random ``val_fraction`` of the pages (0: everything in train).
    """
    files = sorted(Path(xml_dir).glob("*.xml"))
    if not files:
        raise FileNotFoundError(f"No *.xml PAGE files in {xml_dir}")
    if not 0 <= val_fraction < 1:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    order = list(range(len(files)))
    random.Random(seed).shuffle(order)
    n_val = int(round(len(files) * val_fraction))
    parts = {"train": sorted(order[n_val:]), "val": sorted(order[:n_val])}
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = {}
    for split, idx in parts.items():
        if not idx:
            continue
        coco = prima_to_coco([files[i] for i in idx], image_dir)
        path = out_dir / f"{split}.json"
        path.write_text(json.dumps(coco))
        written[split] = path
    return written
