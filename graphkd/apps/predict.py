"""Detect layout regions in page images and PDFs with a trained (student or teacher) detector.

    graphkd-predict checkpoint=RUN_DIR input=DIR_OR_FILES out=DIR [score_thresh=0.5] [dpi=150]
        [backend=auto] [precision=fp32] [threads=0] [calibration=DIR_OR_FILES]
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
backend: auto (default: ONNX fp32 through onnxruntime when the `export` extra is installed, else
    TorchScript, else eager detectron2), eager, torchscript or onnx. The exported backends use the
    run's model.onnx / model.ts, exported into the run dir first when it has none (or into
    out/export when the run dir is read-only), and give the eager model's detections within the
    export check's tolerance (graphkd.apps.backends).
precision: fp32 (default) or int8: onnxruntime static quantisation of the ONNX export, calibrated
    on `calibration_pages` pages of `calibration` (default: the input pages); opt-in, see
    docs/deployment.md for what it costs.
threads: CPU threads of the model (default 0: one per core but one, at least 1: the core left
    over reads and draws the pages; measured on 2 cores, docs/benchmarks.md).
out: gets predictions.json (COCO-style results: file_name, page (PDF pages only, from 1),
    image_id (one per page), category_id in the dataset's ids when the label map has them,
    category_name, bbox [x, y, w, h], score), coco_results.json (the same detections as a COCO
    results list: image_id, category_id, bbox, score) and one drawn PNG per page (detectron2
    Visualizer): <image stem>.png, or <pdf stem>_page001.png, _page002.png, ... for PDFs.
Pages are read (PDFs rendered) in a background thread while the model runs, and drawn and
written by another (the model is then the only work on the main thread; threads= counts the
model's threads only); the progress bar and the last line give pages/s. The measured model time
per page (and an export's seconds) goes into the run's latency.json and MODEL_CARD.md (student
run dirs). ``python scripts/bench_predict.py`` times it end to end on a PDF (docs/benchmarks.md).
"""

from __future__ import annotations

import os

# The pages are drawn by a background thread while the model runs: OpenMP threads that spin at
# their barriers then fight it (or any other job) for the cores, and the model runs up to 10x
# slower (measured on 2 cores); sleeping ones do not. libgomp reads this once, when torch loads,
# so it applies when predict is imported first (the command line); a value already set wins, and
# the variable is removed again below so that processes started later do not inherit it.
OMP_WAIT_POLICY = "PASSIVE"
_SET_WAIT_POLICY = "OMP_WAIT_POLICY" not in os.environ
os.environ.setdefault("OMP_WAIT_POLICY", OMP_WAIT_POLICY)
# ruff: noqa: E402 (the imports below load torch)

import json
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
from detectron2.data import transforms as T
from detectron2.structures import Instances
from omegaconf import MISSING
from PIL import Image
from tqdm import tqdm

from graphkd.apps.artifacts import ModelFiles, resolve_model
from graphkd.apps.backends import Backend, build_predictor, open_backend
from graphkd.apps.background import BackgroundCalls, prefetch
from graphkd.apps.export_cache import read_export_info
from graphkd.apps.package import STUDENT_CONFIG, record_latency
from graphkd.apps.quantize import CALIBRATION_PAGES
from graphkd.apps.tool import register_tool, run_tool
from graphkd.apps.visualize import draw_detections, load_image

if _SET_WAIT_POLICY:
    del os.environ["OMP_WAIT_POLICY"]

__all__ = [
    "COCO_RESULTS",
    "IMAGE_SUFFIXES",
    "OMP_WAIT_POLICY",
    "PREDICTIONS",
    "Page",
    "PredictOptions",
    "PredictRun",
    "build_predictor",
    "draw_page",
    "iter_pages",
    "list_inputs",
    "main",
    "model_threads",
    "pdf_page_count",
    "predict",
    "prefetch",
    "render_pdf",
    "run_predict",
    "to_coco",
]

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff")
PDF_SUFFIX = ".pdf"
DEFAULT_DPI = 150.0
PDF_EXTRA_HINT = (
    "install GraphKD's optional `pdf` extra: pip install 'graphkd[pdf]' (in a checkout: "
    "pip install -e '.[pdf]'; `make setup` installs it), or render the pages to PNG first"
)
PREDICTIONS = "predictions.json"
COCO_RESULTS = "coco_results.json"
# zlib level of the drawn PNGs: the same pixels as Pillow's default 6, encoded ~2.5x faster, and
# about as small on drawn pages (mostly flat colour).
PNG_COMPRESS_LEVEL = 1


@dataclass
class PredictOptions:
    """``graphkd-predict``'s options (see the module docstring)."""

    checkpoint: str = MISSING
    input: list[str] = MISSING  # folders and files: input=a.pdf,b.png
    out: str = MISSING
    score_thresh: float = 0.5
    dpi: float = DEFAULT_DPI
    backend: str = "auto"  # auto | eager | torchscript | onnx
    precision: str = "fp32"  # fp32 | int8 (ONNX, opt-in)
    threads: int = 0  # 0: cores - 1 (at least 1), see model_threads
    calibration: list[str] = field(default_factory=list)  # int8 calibration pages; empty: input
    calibration_pages: int = CALIBRATION_PAGES


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


def _export_dir(files: ModelFiles, out: Path) -> Path:
    """Where exports are found and written: the run dir, or ``out/export`` when it is read-only."""
    return files.run_dir if os.access(files.run_dir, os.W_OK) else out / "export"


def model_threads(requested: int) -> int:
    """The model's CPU threads: ``requested``, or for 0 one per available core but one (at least
    1), leaving a core to the threads that read and draw the pages beside it."""
    if requested > 0:
        return requested
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, (cores or 1) - 1)


def _open(opts: PredictOptions, files: ModelFiles, out: Path) -> Backend:
    """The backend of ``opts``; int8 calibrates on ``opts.calibration`` or the input pages."""
    calibration = ",".join(opts.calibration or opts.input)
    return open_backend(
        files,
        opts.backend,
        opts.precision,
        score_thresh=opts.score_thresh,
        threads=model_threads(opts.threads),
        export_dir=_export_dir(files, out),
        calibration=lambda: (p.image for p in iter_pages(list_inputs(calibration), opts.dpi)),
        calibration_pages=opts.calibration_pages,
    )


def draw_page(
    image: np.ndarray, inst: Instances, path: Path, classes: Sequence[str], score_thresh: float
) -> None:
    """Draw a page's detections (detectron2 ``Visualizer``) and save them as the PNG ``path``."""
    # Visualizer's labels have a minimum font size: enlarge small pages so boxes stay visible.
    scale = max(1.0, 800 / max(image.shape[:2]))
    drawn = draw_detections(image, inst, classes, score_thresh=score_thresh, scale=scale)
    Image.fromarray(drawn).save(path, compress_level=PNG_COMPRESS_LEVEL)


def _detect_pages(
    backend: Backend,
    pages: Iterable[Page],
    num_pages: int,
    files: ModelFiles,
    out: Path,
    score_thresh: float,
) -> tuple[list[dict], list[tuple[float, tuple[int, int]]]]:
    """Detect on every page; the pages are drawn into ``out`` by a background writer thread
    (drawing and PNG encoding cost as much as a small model: they overlap with it).

    Returns:
        The COCO-style results and, per page, (model seconds, page (H, W)).
    """
    results, used, timed = [], set(), []
    bar = tqdm(pages, total=num_pages, desc=f"predict ({backend.name})", unit="page")
    draw = partial(draw_page, classes=files.classes, score_thresh=score_thresh)
    with BackgroundCalls(draw, name="writer") as writer:  # waits for the last page on exit
        for i, page in enumerate(bar):
            start = time.perf_counter()
            inst = backend(page.image)
            timed.append((time.perf_counter() - start, page.image.shape[:2]))
            results += to_coco(inst, i + 1, str(page.source), files, page.number)
            writer.submit(page.image, inst, _unique_png(out, page.stem, used))
    return results, timed


def _record_latency(
    backend: Backend,
    files: ModelFiles,
    timed: list[tuple[float, tuple[int, int]]],
    export_dir: Path,
) -> float:
    """Mean model seconds per page (the first page, a warm-up, left out when there are more);
    written into a writable student run dir's latency.json and model card, with the seconds the
    export took (export.json) for an exported backend."""
    seconds = [t for t, _ in timed[1:] or timed]
    mean = sum(seconds) / len(seconds)
    cfg = files.cfg
    input_hw = T.ResizeShortestEdge.get_output_shape(
        *timed[0][1], int(cfg.INPUT.MIN_SIZE_TEST), int(cfg.INPUT.MAX_SIZE_TEST)
    )
    entry = {"backend": backend.name, "precision": backend.precision,
             "ms_per_page": round(mean * 1e3, 1), "pages": len(seconds),
             "input_hw": list(input_hw), "threads": backend.threads,
             "device": str(cfg.MODEL.DEVICE) if backend.name == "eager" else "cpu",
             "measured_by": "predict"}  # fmt: skip
    export_s = (read_export_info(export_dir).get("export_s") or {}).get(backend.name)
    if backend.name != "eager" and export_s is not None:
        entry["export_s"] = export_s
    run_dir = files.run_dir
    if (run_dir / STUDENT_CONFIG) == files.config and os.access(run_dir, os.W_OK):
        record_latency(run_dir, entry)
    return mean


@dataclass
class PredictRun:
    """What one :func:`run_predict` did.

    Attributes:
        predictions: the path of predictions.json; pages: pages detected on; detections: results
        written; seconds: wall time from the opened model to the last file written; model_ms:
        mean model milliseconds per page (as in latency.json); backend: ``Backend.describe()``.
    """

    predictions: Path
    pages: int
    detections: int
    seconds: float
    model_ms: float
    backend: str


def run_predict(opts: PredictOptions) -> PredictRun:
    """Detect on ``opts.input`` and write ``opts.out`` (the module docstring); returns what it did."""
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
    backend = _open(opts, files, out)
    start = time.perf_counter()
    with closing(prefetch(iter_pages(paths, dpi))) as pages:  # a model error stops the reader
        results, timed = _detect_pages(backend, pages, num_pages, files, out, opts.score_thresh)
    pred_path = out / PREDICTIONS
    pred_path.write_text(json.dumps(results, indent=1))
    coco = [{k: r[k] for k in ("image_id", "category_id", "bbox", "score")} for r in results]
    (out / COCO_RESULTS).write_text(json.dumps(coco))
    elapsed = time.perf_counter() - start
    export_dir = _export_dir(files, out)
    ms = _record_latency(backend, files, timed, export_dir) * 1e3 if timed else float("nan")
    print(f"{len(results)} detections on {len(timed)} page(s) in {elapsed:.1f} s "
          f"({len(timed) / elapsed:.2f} pages/s; model {ms:.0f} ms/page, {backend.describe()}) "
          f"-> {pred_path}, {COCO_RESULTS} and drawn PNGs")  # fmt: skip
    return PredictRun(pred_path, len(timed), len(results), elapsed, ms, backend.describe())


def predict(opts: PredictOptions) -> Path:
    """Detect on ``opts.input`` and write ``opts.out``; returns the path of predictions.json."""
    return run_predict(opts).predictions


def main(argv: Sequence[str] | None = None) -> Path | None:
    """``graphkd-predict``: the command line (``argv`` None) or a list of ``key=value``."""
    return run_tool("predict", predict, argv)
