"""Detect layout regions in page images and PDFs with a trained (student or teacher) detector.

    graphkd-predict checkpoint=RUN_DIR input=DIR_OR_FILES out=DIR [score_thresh=0.5] [dpi=150]
    (in a checkout: python scripts/predict.py ...; options: :class:`PredictOptions`)

checkpoint: a student run dir (student_config.yaml + model_student.pth + label_map.json), a
    teacher dir (config.yaml + model_final.pth), a config .yaml, or a .pth next to its config.
input: a folder (its .pdf/.jpg/.jpeg/.png/.bmp/.tif images and PDFs, sorted), one file, or a
    comma-separated list of files.
score_thresh: minimum score of a reported (and drawn) detection, default 0.5; the other
    test-time settings (proposals, detections per page) are the ones saved in the model's config.
dpi: resolution PDF pages are rendered at (default 150); a page of H points (1/72 inch) becomes
    H * dpi / 72 pixels, and its boxes are in those pixels. PDF input needs pypdfium2, the
    optional `pdf` extra: pip install 'graphkd[pdf]' (`make setup` installs it).
out: gets predictions.json (COCO-style results: file_name, page (PDF pages only, from 1),
    image_id (one per page), category_id in the dataset's ids when the label map has them,
    category_name, bbox [x, y, w, h], score) and one drawn PNG per page (detectron2
    Visualizer): <image stem>.png, or <pdf stem>_page001.png, _page002.png, ... for PDFs.
Runs detectron2's DefaultPredictor on CPU (or CUDA when the config asks and one is visible).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from detectron2.engine import DefaultPredictor
from omegaconf import MISSING
from PIL import Image
from tqdm import tqdm

from detectors.build import load_checkpoint
from graphkd.apps.artifacts import ModelFiles, resolve_model
from graphkd.apps.tool import register_tool, run_tool
from graphkd.apps.visualize import draw_detections, load_image

__all__ = [
    "IMAGE_SUFFIXES",
    "Page",
    "PredictOptions",
    "build_predictor",
    "iter_pages",
    "list_inputs",
    "main",
    "pdf_page_count",
    "predict",
    "render_pdf",
    "to_coco",
]

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff")
PDF_SUFFIX = ".pdf"
DEFAULT_DPI = 150.0
PDF_EXTRA_HINT = (
    "install GraphKD's optional `pdf` extra: pip install 'graphkd[pdf]' (in a checkout: "
    "pip install -e '.[pdf]'; `make setup` installs it), or render the pages to PNG first"
)


@dataclass
class PredictOptions:
    """``graphkd-predict``'s options (see the module docstring)."""

    checkpoint: str = MISSING
    input: list[str] = MISSING  # folders and files: input=a.pdf,b.png
    out: str = MISSING
    score_thresh: float = 0.5
    dpi: float = DEFAULT_DPI


register_tool("predict", PredictOptions, __doc__)


@dataclass
class Page:
    """One page to detect on: an image file, or page ``number`` (from 1) of a PDF.

    ``image`` is (H, W, 3) uint8 BGR, what ``DefaultPredictor`` takes.
    """

    source: Path
    number: int | None
    image: np.ndarray

    @property
    def stem(self) -> str:
        """Name of the drawn PNG (without suffix)."""
        if self.number is None:
            return self.source.stem
        return f"{self.source.stem}_page{self.number:03d}"


def _is_pdf(path: Path) -> bool:
    return path.suffix.lower() == PDF_SUFFIX


def list_inputs(spec: str) -> list[Path]:
    """Images and PDFs named by a folder (sorted; other files ignored), files, or a
    comma-separated list of both. Explicitly named files must have a supported suffix."""
    supported = (*IMAGE_SUFFIXES, PDF_SUFFIX)
    paths: list[Path] = []
    for part in (p for p in spec.split(",") if p):
        path = Path(part)
        if path.is_dir():
            paths += sorted(
                p for p in path.iterdir() if p.is_file() and p.suffix.lower() in supported
            )
        elif path.is_file():
            if path.suffix.lower() not in supported:
                raise ValueError(
                    f"Input {part!r} is neither an image ({', '.join(IMAGE_SUFFIXES)}) nor a PDF."
                )
            paths.append(path)
        else:
            raise FileNotFoundError(f"Input {part!r} does not exist (expected a folder, images or PDFs).")  # fmt: skip
    if not paths:
        raise FileNotFoundError(f"No images ({', '.join(IMAGE_SUFFIXES)}) or PDFs in {spec!r}.")
    return paths


def _pdfium(path: Path):
    """The pypdfium2 module, or an ImportError saying which extra provides it."""
    try:
        import pypdfium2
    except ImportError as e:
        raise ImportError(
            f"Reading the PDF {str(path)!r} needs pypdfium2: {PDF_EXTRA_HINT}."
        ) from e
    return pypdfium2


def _open_pdf(path: Path):
    pdfium = _pdfium(path)
    try:
        return pdfium.PdfDocument(str(path))
    except pdfium.PdfiumError as e:  # not a PDF, truncated, encrypted ...
        raise ValueError(f"Cannot read PDF {str(path)!r}: {e}") from e


def pdf_page_count(path: str | Path) -> int:
    """Number of pages of a PDF (opening it, so a broken file fails here, before any model)."""
    pdf = _open_pdf(Path(path))
    try:
        return len(pdf)
    finally:
        pdf.close()


def render_pdf(path: str | Path, dpi: float = DEFAULT_DPI) -> Iterator[np.ndarray]:
    """Each page of a PDF, in order, rendered at ``dpi`` on white by PDFium.

    Yields:
        (H, W, 3) uint8 BGR arrays, H = page height in points * dpi / 72 (the page's /Rotate
        applied). One page is in memory at a time.
    """
    if not dpi > 0:
        raise ValueError(f"dpi={dpi} must be > 0")
    path = Path(path)
    pdfium = _pdfium(path)
    pdf = _open_pdf(path)
    try:
        for i in range(len(pdf)):
            page = pdf[i]
            try:
                bitmap = page.render(
                    scale=dpi / 72,  # PDF canvas units are points (1/72 inch)
                    fill_color=(255, 255, 255, 255),
                    force_bitmap_format=pdfium.raw.FPDFBitmap_BGR,
                )
                image = bitmap.to_numpy().copy()  # to_numpy is a view of PDFium's buffer
                bitmap.close()
            finally:
                page.close()
            yield image
    finally:
        pdf.close()


def iter_pages(paths: Sequence[Path], dpi: float = DEFAULT_DPI) -> Iterator[Page]:
    """The pages of ``paths`` in order: an image is one page, a PDF one per page."""
    for path in paths:
        if _is_pdf(path):
            for number, image in enumerate(render_pdf(path, dpi), start=1):
                yield Page(path, number, image)
        else:
            yield Page(path, None, load_image(path, "BGR"))


def build_predictor(files: ModelFiles, score_thresh: float) -> DefaultPredictor:
    """DefaultPredictor with the checkpoint loaded through the checked loader."""
    cfg = files.cfg.clone()
    cfg.MODEL.ROI_HEADS.SCORE_THRESH_TEST = score_thresh
    cfg.MODEL.WEIGHTS = ""  # DefaultPredictor would load unchecked; load_checkpoint checks
    predictor = DefaultPredictor(cfg)
    load_checkpoint(predictor.model, str(files.weights), cfg)
    return predictor


def to_coco(
    inst, image_id: int, file_name: str, files: ModelFiles, page: int | None = None
) -> list[dict]:
    """COCO-style result dicts of one page's ``Instances`` (XYXY -> [x, y, w, h]); ``page``
    (the PDF page number) is added when given."""
    boxes = inst.pred_boxes.tensor.tolist()
    where = {"file_name": file_name} if page is None else {"file_name": file_name, "page": page}
    return [
        {
            **where,
            "image_id": image_id,
            "category_id": files.dataset_ids.get(c, c),
            "category_name": files.classes[c],
            "bbox": [round(x0, 2), round(y0, 2), round(x1 - x0, 2), round(y1 - y0, 2)],
            "score": round(float(s), 5),
        }
        for (x0, y0, x1, y1), c, s in zip(boxes, inst.pred_classes.tolist(), inst.scores.tolist())
    ]


def _unique_png(out: Path, stem: str, used: set[str]) -> Path:
    name, k = stem, 1
    while name in used:
        name, k = f"{stem}_{k}", k + 1
    used.add(name)
    return out / f"{name}.png"


def predict(opts: PredictOptions) -> Path:
    """Detect on ``opts.input`` and write ``opts.out``; returns the path of predictions.json."""
    dpi = opts.dpi
    if not dpi > 0:
        raise ValueError(f"dpi={dpi} must be > 0")
    files = resolve_model(opts.checkpoint)
    paths = list_inputs(",".join(opts.input))
    # Count (and so open) every PDF before building the model: a missing renderer or a broken
    # file fails at once.
    num_pages = sum(pdf_page_count(p) if _is_pdf(p) else 1 for p in paths)
    out = Path(opts.out)
    out.mkdir(parents=True, exist_ok=True)
    thresh = opts.score_thresh
    predictor = build_predictor(files, thresh)
    results, used = [], set()
    pages = iter_pages(paths, dpi)
    for i, page in enumerate(tqdm(pages, total=num_pages, desc="predict", unit="page")):
        inst = predictor(page.image)["instances"].to("cpu")
        results += to_coco(inst, i + 1, str(page.source), files, page.number)
        # Visualizer's labels have a minimum font size: enlarge small pages so boxes stay visible.
        scale = max(1.0, 800 / max(page.image.shape[:2]))
        drawn = draw_detections(page.image, inst, files.classes, score_thresh=thresh, scale=scale)
        Image.fromarray(drawn).save(_unique_png(out, page.stem, used))
    pred_path = out / "predictions.json"
    pred_path.write_text(json.dumps(results, indent=1))
    print(f"{len(results)} detections on {num_pages} page(s) -> {pred_path} and drawn PNGs")
    return pred_path


def main(argv: Sequence[str] | None = None) -> Path | None:
    """``graphkd-predict``: the command line (``argv`` None) or a list of ``key=value``."""
    return run_tool("predict", predict, argv)
