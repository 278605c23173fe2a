"""The demo's tables: students paired with kd=none by seed, per-class AP, and the scores of its
models on real pages."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from graphkd.apps.tables.runs import DemoRuns, read_json

__all__ = ["class_counts", "demo_tables", "read_real_pages", "real_pages_table"]


def demo_tables(demo: DemoRuns, baseline: str = "none") -> tuple[str, str]:
    """``(summary, per-class table)``: AP per seed, mean ± std, paired differences to the
    baseline and gap closed (:func:`graphkd.apps.compare.summary_markdown`); then AP50, AP75,
    per-class AP, parameters and latency (:func:`graphkd.apps.report.metrics_table`)."""
    from graphkd.apps.compare import paired_summary, summary_markdown
    from graphkd.apps.report import metrics_table

    order = [baseline] + [kd for kd in demo.runs if kd != baseline]
    runs = {kd: demo.metrics(kd) for kd in order if kd in demo.runs}
    aps = {
        kd: {s: float(m["AP"]) for s, m in zip(sorted(demo.runs[kd]), ms)}
        for kd, ms in runs.items()
    }
    t_ap = float(demo.teacher["AP"])
    summary = summary_markdown(t_ap, paired_summary(t_ap, aps, baseline), baseline)
    classes = list(demo.teacher.get("per_class") or {})
    return summary, metrics_table(demo.teacher, runs, baseline=baseline, class_names=classes)


REAL_MODEL = re.compile(r"^student_kd-(?P<kd>\w+?)(?:_seed(?P<seed>\d+))?$")


def read_real_pages(folder: str | Path) -> dict[str, dict[int, dict]]:
    """The demo's real-page metrics (``<folder>/real_pages/<model>/metrics.json``, as
    :func:`graphkd.apps.demo.run_demo` writes them): ``{"teacher": {0: m}, kd: {seed: m}}``.
    A student folder is ``student_kd-<kd>`` (seed 0) or ``student_kd-<kd>_seed<N>``."""
    out: dict[str, dict[int, dict]] = {}
    for path in sorted(Path(folder).glob("real_pages/*/metrics.json")):
        name = path.parent.name
        m = REAL_MODEL.match(name)
        if name == "teacher":
            out.setdefault("teacher", {})[0] = read_json(path)
        elif m:
            out.setdefault(m["kd"], {})[int(m["seed"] or 0)] = read_json(path)
    order = ["teacher", "none", *sorted(k for k in out if k not in ("teacher", "none"))]
    return {k: out[k] for k in order if k in out}


def real_pages_table(
    results: Mapping[str, Mapping[int, dict]],
    synthetic_ap: Mapping[str, Sequence[float | None]] | None = None,
    once: Sequence[str] = ("teacher",),
) -> str:
    """Markdown: per model (``results`` as :func:`read_real_pages` returns it), AP per seed,
    mean ± std, AP50, AP75 and per-class AP (means); with ``synthetic_ap`` (model -> AP on the
    synthetic val split, one per seed) also their mean ± std beside the real-page AP. Rows are
    named "teacher" and "student, kd=<kd>", other keys as they are; the models in ``once`` were
    scored once (no seed columns). With the metrics' ``gt`` (the ground truth's json), a heading
    line names it and counts its boxes per class when readable."""
    from graphkd.apps.report import mean_std

    seeds = sorted({s for kd, r in results.items() if kd not in once for s in r})
    first = next(iter(next(iter(results.values())).values()))
    classes = list(first.get("per_class") or {})
    head = ["model", *(f"seed {s}" for s in seeds), "AP mean ± std"]
    head += ["synthetic val AP"] * (synthetic_ap is not None) + ["AP50", "AP75"]
    lines = ["| " + " | ".join(head + [f"AP {c}" for c in classes]) + " |"]
    lines.append("|" + "---|" * (len(head) + len(classes)))

    def fmt(values: Sequence, std: bool = False) -> str:
        mean, sd = mean_std(list(values))
        if mean != mean:  # NaN: no value
            return "n/a"
        return f"{mean:.1f} ± {sd:.1f}" if std and len(values) > 1 else f"{mean:.1f}"

    for kd, by_seed in results.items():
        ms = [by_seed[s] for s in sorted(by_seed)]
        name = kd if kd == "teacher" or " " in kd else f"student, kd={kd}"
        cells = [
            f"{by_seed[s]['AP']:.1f}" if s in by_seed and kd not in once else "" for s in seeds
        ]
        row = [name, *cells, fmt([m["AP"] for m in ms], std=True)]
        if synthetic_ap is not None:
            row.append(fmt(synthetic_ap.get(kd) or [None], std=True))
        row += [fmt([m.get(k) for m in ms]) for k in ("AP50", "AP75")]
        row += [fmt([(m.get("per_class") or {}).get(c) for m in ms]) for c in classes]
        lines.append("| " + " | ".join(row) + " |")
    if "gt" not in first:
        return "\n".join(lines)
    gt = first["gt"]
    about = f"{first.get('num_pages', '?')} pages of `{gt}`"
    if Path(gt).is_file():
        counts = class_counts(gt)
        about += " (" + ", ".join(f"{k} {v}" for k, v in counts.items()) + " boxes)"
    return about + ".\n\n" + "\n".join(lines)


def class_counts(gt: str | Path) -> dict[str, int]:
    """Boxes per category name in the COCO json ``gt``."""
    data = read_json(Path(gt))
    names = {c["id"]: c["name"] for c in data["categories"]}
    counts = dict.fromkeys(names.values(), 0)
    for a in data.get("annotations", []):
        if a["category_id"] in names:
            counts[names[a["category_id"]]] += 1
    return counts
