"""The distillation report: a markdown table (teacher / baseline / distilled students), loss curves
and an AP bar chart. Drawing of pages and graphs lives in :mod:`graphkd.apps.visualize` and is
re-exported here for the demo.

Inputs are the ``metrics.json`` dicts that ``graphkd.apps.run`` writes (AP, AP50, AP75, per_class,
params, latency_s, ...): one teacher dict and, per KD method, one dict per seed.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from graphkd.apps.visualize import (  # noqa: E402,F401  (re-exported)
    draw_detections,
    draw_graph_pair,
    draw_instance_graph,
    side_by_side,
)
from graphkd.core.checkpoint import read_train_log  # noqa: E402

__all__ = [
    "DETECTOR_LOSSES",
    "draw_detections",
    "draw_graph_pair",
    "draw_instance_graph",
    "gap_closed",
    "mean_std",
    "metrics_table",
    "plot_ap_bars",
    "plot_losses",
    "side_by_side",
    "verdict",
    "write_report",
]

DETECTOR_LOSSES = ("loss_cls", "loss_box_reg", "loss_rpn_cls", "loss_rpn_loc")
_AP_KEYS = ("AP", "AP50", "AP75")


# ------------------------------------------------------------------------------- numbers
def _num(v) -> float:
    """float, with None / missing -> NaN."""
    return float("nan") if v is None else float(v)


def mean_std(values: Sequence[float | None]) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof=1; 0 for a single value) ignoring NaN/None.

    Returns (NaN, NaN) when no value is finite.
    """
    arr = np.array([_num(v) for v in values], dtype=float)
    arr = arr[np.isfinite(arr)]
    if arr.size == 0:
        return float("nan"), float("nan")
    return float(arr.mean()), float(arr.std(ddof=1)) if arr.size > 1 else 0.0


def gap_closed(ap_kd: float, ap_baseline: float, ap_teacher: float) -> float:
    """Fraction of the teacher-baseline gap closed by KD: (kd - base) / (teacher - base).

    NaN when the teacher is not better than the baseline (the ratio means nothing then).
    """
    gap = ap_teacher - ap_baseline
    if not math.isfinite(gap) or gap <= 0:
        return float("nan")
    return (ap_kd - ap_baseline) / gap


def _fmt(mean: float, std: float | None = None, digits: int = 1) -> str:
    if not math.isfinite(mean):
        return "–"
    if std is None or not math.isfinite(std):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def _stat(runs: Sequence[Mapping], key: str, cls: str | None = None) -> tuple[float, float]:
    vals = [(r.get("per_class") or {}).get(cls) if cls else r.get(key) for r in runs]
    return mean_std(vals)


def _class_names(teacher: Mapping, students: Mapping[str, Sequence[Mapping]]) -> list[str]:
    for runs in [[teacher], *students.values()]:
        for r in runs:
            if r.get("per_class"):
                return list(r["per_class"])
    return []


# -------------------------------------------------------------------------------- table
def metrics_table(
    teacher: Mapping,
    students: Mapping[str, Sequence[Mapping]],
    *,
    baseline: str = "none",
    class_names: Sequence[str] | None = None,
) -> str:
    """Markdown table: model, params (M), CPU latency per page (ms), AP, AP50, AP75, per-class
    AP (mean ± std over seeds when there are several), and the gap closed by KD vs ``baseline``.
    """
    classes = list(class_names) if class_names is not None else _class_names(teacher, students)
    head = ["model", "seeds", "params (M)", "CPU latency / page (ms)", *_AP_KEYS]
    head += [f"AP {c}" for c in classes] + ["gap closed"]
    rows = [_row("teacher", [teacher], classes, "")]
    base = students.get(baseline)
    t_ap = _num(teacher.get("AP"))
    for kd, runs in students.items():
        if not runs:
            continue
        gap = ""
        if base and kd != baseline:
            g = gap_closed(_stat(runs, "AP")[0], _stat(base, "AP")[0], t_ap)
            gap = f"{100 * g:.0f}%" if math.isfinite(g) else "n/a"
        elif kd == baseline:
            gap = "0% (baseline)"
        rows.append(_row(f"student, kd={kd}", runs, classes, gap))
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def _row(name: str, runs: Sequence[Mapping], classes: Sequence[str], gap: str) -> list[str]:
    many = len(runs) > 1

    def cell(key: str, cls: str | None = None, scale: float = 1.0, digits: int = 1, std=True):
        m, s = _stat(runs, key, cls)
        return _fmt(m * scale, s * scale if many and std else None, digits)

    pair = runs[0].get("pair")
    label = f"{name} ({pair})" if pair and name != "teacher" else name
    return [
        label,
        str(len(runs)),
        cell("params", scale=1e-6, digits=2, std=False),
        cell("latency_s", scale=1e3, digits=0, std=False),  # mean over seeds
        *(cell(k) for k in _AP_KEYS),
        *(cell("", c) for c in classes),
        gap,
    ]


def verdict(
    students: Mapping[str, Sequence[Mapping]], kd: str, baseline: str = "none", key: str = "AP"
) -> str:
    """One honest sentence: the KD margin over the baseline against the seed-to-seed spread."""
    if kd not in students or baseline not in students:
        return f"kd={kd}: no {'baseline' if baseline not in students else 'runs'} to compare."
    (m_kd, s_kd), (m_b, s_b) = _stat(students[kd], key), _stat(students[baseline], key)
    margin = m_kd - m_b
    n = min(len(students[kd]), len(students[baseline]))
    head = f"kd={kd} vs kd={baseline}: {key} {m_kd:.1f} vs {m_b:.1f} ({margin:+.1f})"
    if n < 2:
        return (
            f"{head}, from one seed each: the seed-to-seed spread is unknown, so this margin is "
            "not evidence by itself (run several seeds, e.g. `make demo SEEDS=3`)."
        )
    spread = max(s_kd, s_b)
    if margin > spread:
        judgement = "larger than the seed-to-seed spread"
    elif margin > 0:
        judgement = "within the seed-to-seed spread, so not a clear improvement"
    else:
        judgement = "no improvement over the baseline"
    return f"{head} over {n} seeds; std {s_kd:.1f} / {s_b:.1f}: {judgement}."


def write_report(
    out_dir: str | os.PathLike,
    teacher: Mapping,
    students: Mapping[str, Sequence[Mapping]],
    figures: Mapping[str, str | os.PathLike] | None = None,
    *,
    baseline: str = "none",
    title: str = "GraphKD distillation report",
    notes: Sequence[str] = (),
    class_names: Sequence[str] | None = None,
) -> Path:
    """Write ``out_dir/REPORT.md``: the table, one verdict sentence per KD method and links.

    Args:
        teacher: the teacher's metrics dict.
        students: KD method name -> its metrics dicts (one per seed); ``baseline`` is the
            student trained without KD.
        figures: caption -> image path; embedded with paths relative to ``out_dir``.
        notes: extra markdown lines (e.g. the machine, the schedule).

    Returns:
        The report's path.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    parts = [f"# {title}", "", metrics_table(teacher, students, baseline=baseline,
                                              class_names=class_names), ""]  # fmt: skip
    parts += [
        "AP in percent (COCO box AP on the held-out split); ± is the sample std over seeds. "
        "Gap closed = (AP_kd - AP_baseline) / (AP_teacher - AP_baseline), from mean APs.",
        "",
    ]
    parts += [f"- {verdict(students, kd, baseline)}" for kd in students if kd != baseline]
    parts += [""] + list(notes) + ([""] if notes else [])
    for caption, path in (figures or {}).items():
        rel = os.path.relpath(Path(path).resolve(), out.resolve())
        parts += [f"## {caption}", "", f"![{caption}]({rel})", ""]
    path = out / "REPORT.md"
    path.write_text("\n".join(parts))
    return path


# -------------------------------------------------------------------------------- plots
def plot_losses(run_dirs: Mapping[str, str | os.PathLike], out_png: str | os.PathLike) -> Path:
    """Total loss and detector loss (cls + box + RPN, without KD terms) per method vs iteration.

    Args:
        run_dirs: method name -> run dir (or its ``train_log.json``).
    """
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for name, run in run_dirs.items():
        recs = read_train_log(run, require="total_loss")  # training steps only
        it = [r["iteration"] for r in recs]
        total = [r["total_loss"] for r in recs]
        det = [sum(r.get(k, 0.0) for k in DETECTOR_LOSSES) for r in recs]
        axes[0].plot(it, total, label=name, lw=1.4)
        axes[1].plot(it, det, label=name, lw=1.4)
    for ax, t in zip(axes, ("total loss (detector + KD)", "detector loss (cls + box + RPN)")):
        ax.set_title(t, fontsize=10)
        ax.set_xlabel("iteration")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return _save(fig, out_png)


def plot_ap_bars(
    teacher: Mapping,
    students: Mapping[str, Sequence[Mapping]],
    out_png: str | os.PathLike,
    keys: Sequence[str] = _AP_KEYS,
) -> Path:
    """Grouped bars of AP / AP50 / AP75 per model; error bars = std over seeds."""
    models = [("teacher", [teacher])] + [(f"kd={k}", v) for k, v in students.items() if v]
    x = np.arange(len(keys))
    width = 0.8 / len(models)
    fig, ax = plt.subplots(figsize=(1.6 + 1.4 * len(keys) * len(models) * 0.5, 3.8))
    for i, (name, runs) in enumerate(models):
        stats = [_stat(runs, k) for k in keys]
        means = [m for m, _ in stats]
        errs = [s if len(runs) > 1 else 0.0 for _, s in stats]
        bars = ax.bar(x + (i - (len(models) - 1) / 2) * width, means, width, yerr=errs,
                      capsize=3, label=name)  # fmt: skip
        ax.bar_label(bars, fmt="%.1f", fontsize=7, padding=2)
    ax.set_xticks(x, list(keys))
    ax.set_ylabel("COCO box AP (%)")
    ax.set_ylim(0, max(100.0, ax.get_ylim()[1]))
    ax.legend(fontsize=8, ncol=min(len(models), 4))
    ax.grid(axis="y", alpha=0.3)
    return _save(fig, out_png)


def _save(fig: plt.Figure, out_png: str | os.PathLike, dpi: int = 130) -> Path:
    out = Path(out_png)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(out, dpi=dpi)
    plt.close(fig)
    return out
