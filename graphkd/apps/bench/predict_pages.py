"""End-to-end PDF benchmark of ``graphkd-predict``: pages per second, as a user runs it; prints JSON.

    python scripts/bench_predict.py checkpoint=RUN_DIR [pages=50] [source=DIR] [dpi=150]
        [backends=eager,auto] [threads=0] [reps=1] [baseline=OLD_CHECKOUT]
        [out=outputs/bench_predict.json] [work=DIR]

Builds one PDF of ``pages`` pages from the page images of ``source`` (default: the 80 DocBank
pages shipped in samples/docbank/images, in name order, repeated when there are fewer), each page
11 inches high (8.5 x 11 for the DocBank pages), then times the project's own predict function
(:func:`graphkd.apps.predict.run_predict`) on it once per backend of ``backends``, end to end:
render at ``dpi``, detect, write predictions.json, coco_results.json and the drawn PNGs, with
``threads`` model threads (predict's ``threads=``; 0, the default, is predict's own default).

Each timed run is one fresh interpreter (so that no backend inherits another's thread pools, and
predict sets the OpenMP wait policy before torch loads, as on the command line) that runs predict
once on the first page (warm-up), then times the predict call on the PDF; ``reps`` rounds over
the entries, so load drifts hit all alike. The exported backends (``auto``, ``onnx``,
``torchscript``) export first, before any timing: ``export_s`` is the seconds the export took
(export.json; ``exported_now``: whether this run made it).

Per entry: ``wall_s`` (the predict call: model load, rendering, detection, files; median and min
over reps), ``pages_per_s`` (pages / median ``wall_s``), ``speedup_vs_first``, ``loop_s`` (the
same without the model load), ``model_ms_per_page`` (the model alone, as latency.json records
it) and whether predictions.json is byte-identical to the first entry's.

``baseline``: the root of another checkout, timed first in each round the same way with that
checkout first on ``PYTHONPATH`` (e.g. predict before the speed-ups, commit ac933a7: ``git
worktree add /tmp/predict_old ac933a7``, then ``baseline=/tmp/predict_old``); only the options
it knew (checkpoint, input, out, dpi: eager), ``OMP_WAIT_POLICY`` unset as it ran.

The exports and latency.json go into the run dir (as predict writes them): copy a run you want
to keep unchanged first. Timings on a shared machine are noisy: compare numbers from one run.
"""

from __future__ import annotations

import filecmp
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from omegaconf import MISSING
from PIL import Image

import graphkd
from graphkd.apps.artifacts import resolve_model
from graphkd.apps.backends import open_backend
from graphkd.apps.bench import machine_info, write_report
from graphkd.apps.demo_real.pages import SAMPLES
from graphkd.apps.export_cache import read_export_info
from graphkd.apps.predict import IMAGE_SUFFIXES, PREDICTIONS
from graphkd.apps.tool import register_tool, run_tool

__all__ = ["PredictBenchOptions", "bench_predict", "main", "make_pdf"]

PAGE_HEIGHT_IN = 11.0  # letter: the DocBank pages (1000 px high) become 8.5 x 11 inch pages
BASELINE = "baseline"


@dataclass
class PredictBenchOptions:
    """``scripts/bench_predict.py``'s options (see the module docstring)."""

    checkpoint: str = MISSING  # a student run dir (exports and latency.json are written there)
    pages: int = 50
    source: str = ""  # a folder of page images; empty: samples/docbank/images
    dpi: float = 150.0
    backends: list[str] = field(default_factory=lambda: ["eager", "auto"])
    threads: int = 0  # model threads; 0: predict's default (graphkd.apps.predict.model_threads)
    reps: int = 1
    baseline: str = ""  # root of another checkout whose predict is timed first; empty: none
    out: str = "outputs/bench_predict.json"
    work: str = ""  # the PDF and predict's outputs; empty: a temporary folder


register_tool("bench_predict", PredictBenchOptions, __doc__)


def make_pdf(source: str | os.PathLike, pages: int, path: str | os.PathLike) -> Path:
    """A PDF of ``pages`` pages: the images of ``source`` in name order, repeated as needed, at
    a resolution that makes a page as high as the first image ``PAGE_HEIGHT_IN`` inches."""
    images = sorted(p for p in Path(source).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not images:
        raise FileNotFoundError(
            f"source={source}: no page images ({', '.join(IMAGE_SUFFIXES)}) in that folder."
        )
    if pages < 1:
        raise ValueError(f"pages={pages}: pass at least 1.")
    chosen = [Image.open(images[i % len(images)]).convert("RGB") for i in range(pages)]
    resolution = chosen[0].height / PAGE_HEIGHT_IN
    chosen[0].save(path, save_all=True, append_images=chosen[1:], resolution=resolution)
    return Path(path)


def _machine(threads: int) -> dict:
    return {**machine_info(), "python": platform.python_version(), "threads": threads}


def _prepare_backend(opts, name: str) -> dict:
    """Export (when ``name`` runs an export) before any timing; the resolved backend's name and
    the export's seconds."""
    if name == "eager":
        return {"resolved": name}
    files = resolve_model(opts.checkpoint)
    before = read_export_info(files.run_dir).get("export_s") or {}
    backend = open_backend(files, name, threads=opts.threads, export_dir=files.run_dir)
    info = {"resolved": backend.name}
    if backend.name != "eager":
        export_s = (read_export_info(files.run_dir).get("export_s") or {}).get(backend.name)
        info |= {"export_s": export_s, "exported_now": before.get(backend.name) != export_s}
    return info


# One timed predict in a fresh interpreter: predict imported first (it sets the OpenMP wait policy
# before torch loads), a warm-up run, then the timed run of the predict function itself.
_DRIVER = """
import json, os, sys, time
policy = os.environ.get("OMP_WAIT_POLICY")
from graphkd.apps import predict
from graphkd.apps.tool import run_tool
import torch
policy = policy or getattr(predict, "OMP_WAIT_POLICY", "libgomp default")
threads, warmup, timed = int(sys.argv[1]), *json.loads(sys.argv[2])
if threads > 0:
    torch.set_num_threads(threads)
task = getattr(predict, "run_predict", predict.predict)
run_tool("predict", task, warmup)
start = time.perf_counter()
done = run_tool("predict", task, timed)
result = {"wall_s": time.perf_counter() - start, "module": predict.__file__,
          "omp_wait_policy": policy}
if hasattr(done, "seconds"):
    result |= {"loop_s": done.seconds, "model_ms_per_page": done.model_ms,
               "backend": done.backend, "detections": done.detections}
print("RESULT " + json.dumps(result))
"""


def _checkout(baseline: str) -> Path:
    """The root of the baseline checkout, checked."""
    root = Path(baseline).resolve()
    if not (root / "graphkd" / "apps" / "predict.py").is_file():
        raise FileNotFoundError(
            f"baseline={baseline}: no graphkd/apps/predict.py there; pass the root of a checkout, "
            "e.g. `git worktree add /tmp/predict_old ac933a7` and baseline=/tmp/predict_old"
        )
    return root


def _run_once(opts, name: str, pdfs: tuple[Path, Path], out: Path, work: Path) -> dict:
    """One warm-up and one timed predict of entry ``name`` (a backend, or the baseline) in a
    subprocess (:data:`_DRIVER`)."""
    warmup_pdf, pdf = pdfs
    root = _checkout(opts.baseline) if name == BASELINE else Path(graphkd.__file__).parent.parent
    env = dict(os.environ)
    path = [*filter(None, env.get("PYTHONPATH", "").split(os.pathsep))]
    env["PYTHONPATH"] = os.pathsep.join([str(root), *path])
    if name == BASELINE:
        env.pop("OMP_WAIT_POLICY", None)  # as it ran: the old predict did not set it

    def argv(path: Path, to: Path) -> list[str]:
        checkpoint = Path(opts.checkpoint).resolve()  # the subprocess runs in ``root``
        known = [f"checkpoint={checkpoint}", f"input={path}", f"out={to}", f"dpi={opts.dpi}"]
        return known if name == BASELINE else [*known, f"backend={name}", f"threads={opts.threads}"]

    payload = json.dumps([argv(warmup_pdf, work / "warmup" / name), argv(pdf, out)])
    threads = 0 if name == BASELINE else opts.threads  # the baseline as it ran: its defaults
    done = subprocess.run([sys.executable, "-c", _DRIVER, str(threads), payload],
                          cwd=root, env=env, capture_output=True, text=True)  # fmt: skip
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith("RESULT ")), None)
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"predict ({name}, {root}) failed:\n{done.stderr[-3000:]}")
    result = json.loads(line[len("RESULT ") :])
    if not Path(result["module"]).resolve().is_relative_to(root):
        raise RuntimeError(f"{name}: predict was imported from {result['module']}, not {root}")
    return result


def _summary(runs: list[dict], pages: int, reference: Path | None, out: Path) -> dict:
    """Median / min of an entry's timed runs, its pages per second and output check."""
    wall = [r["wall_s"] for r in runs]
    summary = {"wall_s": statistics.median(wall), "wall_s_min": min(wall),
               "pages_per_s": pages / statistics.median(wall), "runs": runs}  # fmt: skip
    if "loop_s" in runs[0]:
        summary["loop_s"] = statistics.median(r["loop_s"] for r in runs)
    if reference is not None:
        summary["same_predictions_as_first"] = filecmp.cmp(reference, out / PREDICTIONS, False)
    return summary


def _run_all(opts, pdfs: tuple[Path, Path], work: Path) -> dict:
    """Every entry's runs, in rounds (baseline first in each), summarised per entry."""
    names = ([BASELINE] if opts.baseline else []) + [b for b in opts.backends if b]
    prepared = {b: _prepare_backend(opts, b) for b in names if b != BASELINE}
    runs: dict[str, list[dict]] = {name: [] for name in names}
    for k in range(opts.reps):
        for name in names:
            print(f"[bench_predict] {name} run {k + 1}/{opts.reps}", file=sys.stderr, flush=True)
            runs[name].append(_run_once(opts, name, pdfs, work / name / f"rep{k}", work))
    reference = work / names[0] / "rep0" / PREDICTIONS
    results = {
        name: {**prepared.get(name, {}),
               **_summary(runs[name], opts.pages, reference if i else None, work / name / "rep0")}
        for i, name in enumerate(names)
    }  # fmt: skip
    first = results[names[0]]["pages_per_s"]
    for r in results.values():
        r["speedup_vs_first"] = r["pages_per_s"] / first
    return results


def bench_predict(opts) -> dict:
    """Run the benchmark (module docstring); prints, writes and returns the report."""
    if opts.reps < 1:
        raise ValueError(f"reps={opts.reps}: pass at least 1.")
    names = ([BASELINE] if opts.baseline else []) + [b for b in opts.backends if b]
    if not names:
        raise ValueError("backends= is empty and there is no baseline=: nothing to time.")
    source = Path(opts.source) if opts.source else SAMPLES / "images"
    with tempfile.TemporaryDirectory(prefix="bench_predict_") as tmp:
        work = Path(opts.work or tmp).resolve()
        work.mkdir(parents=True, exist_ok=True)
        pdf = make_pdf(source, opts.pages, work / f"pages{opts.pages}.pdf")
        pdfs = (make_pdf(source, 1, work / "warmup.pdf"), pdf)
        settings = {"checkpoint": str(opts.checkpoint), "pages": opts.pages,
                    "source": str(source), "dpi": opts.dpi, "reps": opts.reps,
                    "pdf_mb": round(pdf.stat().st_size / 2**20, 2),
                    "baseline": opts.baseline or None}  # fmt: skip
        results = _run_all(opts, pdfs, work)
    report = {
        "machine": {**_machine(opts.threads), "load_avg_1min_at_end": os.getloadavg()[0]},
        "settings": settings,
        "backends": results,
    }
    return write_report(report, opts.out)


def main(argv: Sequence[str] | None = None) -> dict | None:
    """``scripts/bench_predict.py``: the command line (``argv`` None) or a list of overrides."""
    return run_tool("bench_predict", bench_predict, argv)
