"""Methods x seeds on one teacher: mean +- std, per-seed paired differences, gap closed.

    python scripts/compare.py methods=none,dsig,graphkd seeds=0,1,2 [outputs=outputs]
        [baseline=none] [any training override, e.g. dataset=docbank trainer.max_iter=100]

Trains the teacher when missing, then one student per (method, seed) with the demo's jobs
(finished ones are reused, killed ones resume; the runs are shared with ``make demo``), against
the one teacher file of this config, and writes ``<outputs>/compare/COMPARE.md`` +
``compare.json``: AP per seed, mean +- std, per-seed differences to the baseline, seeds won, and
the teacher-student gap closed. Differences are paired per seed: for a given seed every method
shares the student's initialisation, the data order and the teacher, so
``AP_kd(seed) - AP_baseline(seed)`` removes most of the seed-to-seed spread.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from omegaconf import DictConfig

from graphkd.apps.report import gap_closed, mean_std, metrics_table
from graphkd.apps.tool import register_tool, run_tool
from graphkd.core.config import Config

__all__ = ["CompareOptions", "main", "paired_summary", "summary_markdown", "run_compare"]

logger = logging.getLogger("graphkd")


def paired_summary(
    teacher_ap: float,
    aps: Mapping[str, Mapping[int, float]],
    baseline: str = "none",
) -> dict[str, dict]:
    """Per method: AP per seed, mean +- std, paired differences to ``baseline``, gap closed.

    Args:
        teacher_ap: the teacher's AP.
        aps: method -> {seed: AP}.
        baseline: the method the others are paired with.

    Returns:
        method -> {"seeds", "ap", "mean", "std", "diff" (per common seed), "diff_mean",
        "diff_std", "wins" (seeds where the method beats the baseline), "n_paired",
        "gap_closed" (from the means; NaN when the teacher is not above the baseline)}.
    """
    if baseline not in aps:
        raise ValueError(f"no runs of the baseline kd={baseline!r} among {sorted(aps)}")
    base = aps[baseline]
    base_mean = mean_std(list(base.values()))[0]
    out: dict[str, dict] = {}
    for method, by_seed in aps.items():
        seeds = sorted(by_seed)
        mean, std = mean_std([by_seed[s] for s in seeds])
        common = [s for s in seeds if s in base]
        diff = {s: by_seed[s] - base[s] for s in common}
        d_mean, d_std = mean_std(list(diff.values()))
        out[method] = {
            "seeds": seeds,
            "ap": [by_seed[s] for s in seeds],
            "mean": mean,
            "std": std,
            "diff": diff,
            "diff_mean": d_mean,
            "diff_std": d_std,
            "wins": sum(d > 0 for d in diff.values()),
            "n_paired": len(common),
            "gap_closed": gap_closed(mean, base_mean, teacher_ap),
        }
    return out


def _f(v: float, digits: int = 1, sign: bool = False) -> str:
    if not math.isfinite(v):
        return "–"
    return f"{v:+.{digits}f}" if sign else f"{v:.{digits}f}"


def summary_markdown(teacher_ap: float, summary: Mapping[str, Mapping], baseline: str) -> str:
    """The paired table: AP per seed, mean +- std, differences to the baseline, gap closed."""
    seeds = sorted({s for m in summary.values() for s in m["seeds"]})
    head = ["method", *(f"seed {s}" for s in seeds), "mean ± std", f"vs {baseline} per seed",
            "mean diff ± std", "wins", "gap closed"]  # fmt: skip
    lines = [
        f"Teacher AP {_f(teacher_ap)}.",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    for method, m in summary.items():
        ap = dict(zip(m["seeds"], m["ap"]))
        is_base = method == baseline
        lines.append(
            "| "
            + " | ".join(
                [
                    f"kd={method}",
                    *(_f(ap[s]) if s in ap else "" for s in seeds),
                    f"{_f(m['mean'])} ± {_f(m['std'])}",
                    "" if is_base else ", ".join(_f(d, sign=True) for d in m["diff"].values()),
                    "" if is_base else f"{_f(m['diff_mean'], sign=True)} ± {_f(m['diff_std'])}",
                    "" if is_base else f"{m['wins']}/{m['n_paired']}",
                    "" if is_base else f"{_f(100 * m['gap_closed'], 0)}%",
                ]
            )
            + " |"
        )
    return "\n".join(lines)


def run_compare(
    methods: Sequence[str],
    seeds: Sequence[int],
    outputs: str = "outputs",
    overrides: Sequence[str] = (),
    baseline: str = "none",
) -> Path:
    """Train / reuse every (method, seed) student and write ``<outputs>/compare/COMPARE.md``.

    Runs live where ``make demo`` keeps its students (``<outputs>/demo/runs/<kd>/seed<s>``), so
    the demo and a comparison with the same settings share their jobs.
    """
    from graphkd.apps.jobs import ensure_student, ensure_teacher

    methods = list(dict.fromkeys([baseline, *methods]))  # baseline first
    overrides = [f"outputs={outputs}", *overrides]
    cfg, data, teacher = ensure_teacher(list(overrides))
    runs: dict[str, list[dict]] = {m: [] for m in methods}
    aps: dict[str, dict[int, float]] = {m: {} for m in methods}
    for seed in seeds:  # seed-major: a killed comparison has complete pairs for the first seeds
        for kd in methods:
            run_dir = str(Path(outputs) / "demo" / "runs" / kd / f"seed{seed}")
            metrics = ensure_student(list(overrides), kd, int(seed), run_dir)
            runs[kd].append(metrics)
            aps[kd][int(seed)] = float(metrics["AP"])
    t_ap = float(teacher["AP"])
    summary = paired_summary(t_ap, aps, baseline)
    out = Path(outputs) / "compare"
    out.mkdir(parents=True, exist_ok=True)
    (out / "compare.json").write_text(
        json.dumps(
            {"teacher": teacher, "overrides": list(overrides), "summary": summary, "runs": runs},
            indent=2,
            default=str,
        )
    )
    t = cfg.trainer
    text = [
        "# Methods x seeds",
        "",
        f"Overrides: `{' '.join(overrides)}`. Students {cfg.pair.student.backbone}-FPN, "
        f"{t.max_iter} iterations; teacher {cfg.pair.teacher.backbone}-FPN, one file for all runs.",
        f"Data: dataset={cfg.dataset.name}"
        + (f", {cfg.dataset.num_val} val pages." if cfg.dataset.name == "synthetic" else "."),
        "",
        summary_markdown(t_ap, summary, baseline),
        "",
        "Diffs are paired per seed (same init, data order and teacher); ± is the sample std.",
        "",
        metrics_table(teacher, runs, baseline=baseline, class_names=data.classes),
        "",
    ]
    path = out / "COMPARE.md"
    path.write_text("\n".join(text))
    logger.info("compare: wrote %s", path)
    return path


@dataclass
class CompareOptions(Config):
    """The training config (``configs/config.yaml``) plus the comparison's own keys."""

    methods: list[str] = field(default_factory=lambda: ["none", "dsig", "graphkd"])
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    baseline: str = "none"


register_tool("compare", CompareOptions, __doc__)


def _compare(cfg: DictConfig) -> Path:
    from graphkd.apps.demo import training_overrides

    logging.basicConfig(level=logging.INFO, format="[%(asctime)s %(name)s] %(message)s")
    path = run_compare(
        methods=[m for m in cfg.methods if m],
        seeds=[int(s) for s in cfg.seeds],
        outputs=cfg.outputs,
        overrides=training_overrides(cfg),
        baseline=cfg.baseline,
    )
    print(path.read_text())
    return path


def main(argv: Sequence[str] | None = None) -> Path | None:
    """``scripts/compare.py``: the command line (``argv`` None) or a list of overrides."""
    return run_tool("compare", _compare, argv)
