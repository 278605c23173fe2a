"""The docs' generated tables, and the tool that writes them (``scripts/doc_tables.py``), the
configuration reference (:mod:`graphkd.apps.config_reference`) among them.

Every number in ``docs/results.md`` and the README's headline table comes from files a command
wrote, never from typing. The results tables are read from the demo's output folder
(``<demo>/runs/<kd>/seed<N>/metrics.json``, the teacher's ``metrics.json``,
``<demo>/real_pages/<model>/metrics.json``), the real-page recipe's folders and a
``scripts/bench_latency.py`` JSON, and written into the docs' marker blocks with their record
line (:mod:`graphkd.apps.doc_blocks`).

``python scripts/doc_tables.py what=config`` / ``what=results demo=outputs/demo ...`` /
``what=check``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from graphkd.apps.config_reference import CONFIG_DOC, config_reference
from graphkd.apps.doc_blocks import (
    OUTPUTS_PLACEHOLDER,
    README,
    RESULTS_DOC,
    config_hash,
    git_commit,
    normalized_config,
    record_line,
    stale_tables,
    strip_outputs,
    write_block,
)
from graphkd.apps.tool import register_tool, run_tool

__all__ = [
    "DocTablesConfig",
    "class_counts",
    "PairedRuns",
    "demo_tables",
    "kd_pairs_table",
    "latency_table",
    "read_paired_runs",
    "real_pages_table",
    "recipe_overrides",
    "recipe_seeds_table",
    "recipes_by_teacher_seed",
    "write_results",
]


# ------------------------------------------------------------------- results tables
@dataclass
class DemoRuns:
    """What a demo output folder holds: finished student runs and their teacher."""

    folder: Path
    runs: dict[str, dict[int, Path]]  # kd -> seed -> run directory (finished runs only)
    teacher: dict  # the teacher's metrics.json
    teacher_dir: Path  # the folder of the teacher's metrics.json and saved config

    @property
    def seeds(self) -> list[int]:
        return sorted({s for by_seed in self.runs.values() for s in by_seed})

    def metrics(self, kd: str) -> list[dict]:
        return [_read_json(self.runs[kd][s] / "metrics.json") for s in sorted(self.runs[kd])]


def _read_json(path: Path) -> dict:
    return json.loads(Path(path).read_text())


def read_demo(folder: str | Path) -> DemoRuns:
    """The finished runs (``job_done.json``) under ``<folder>/runs/<kd>/seed<N>`` and the teacher
    their saved configs name (``teacher_checkpoint``, relative to the demo's outputs folder).

    Raises:
        FileNotFoundError: no finished run, or the teacher's ``metrics.json`` is missing.
    """
    from graphkd.apps.rundir import CONFIG_RESOLVED, DONE

    folder = Path(folder)
    runs: dict[str, dict[int, Path]] = {}
    for run in sorted(folder.glob("runs/*/seed*")):
        if (run / DONE).is_file() and run.name[4:].isdigit():
            runs.setdefault(run.parent.name, {})[int(run.name[4:])] = run
    if not runs:
        raise FileNotFoundError(f"{folder}: no finished run under runs/<kd>/seed<N>/")
    first = next(iter(next(iter(runs.values())).values()))
    saved = OmegaConf.to_container(OmegaConf.load(first / CONFIG_RESOLVED))
    relative = strip_outputs(saved["teacher_checkpoint"], str(saved["outputs"]))
    # The demo's runs live in <outputs>/demo/runs, the real-page recipe's in <outputs>/runs.
    candidates = [
        Path(relative.replace(OUTPUTS_PLACEHOLDER, str(base), 1)).parent / "metrics.json"
        for base in (folder.parent, folder)
    ]
    found = [c for c in candidates if c.is_file()]
    if not found:
        raise FileNotFoundError(f"the teacher's metrics are missing: {candidates[0]}")
    return DemoRuns(folder, runs, _read_json(found[0]), found[0].parent)


def run_changes(
    demo: DemoRuns, overrides: Sequence[str], ignore: tuple[str, ...] = ()
) -> dict[Path, dict[str, tuple[object, object]]]:
    """Run directory -> the keys where its saved config differs from the one ``overrides`` (with
    its kd and seed) compose to today, as ``key -> (saved, now)``; ``ignore``: key prefixes left
    out of the comparison."""
    from graphkd.apps.cli import compose_config
    from graphkd.apps.jobs import config_changes
    from graphkd.apps.rundir import CONFIG_RESOLVED

    changes = {}
    for kd, by_seed in demo.runs.items():
        for seed, run in by_seed.items():
            now = compose_config([*overrides, f"kd={kd}", f"trainer.seed={seed}"])
            saved = OmegaConf.load(run / CONFIG_RESOLVED)
            changes[run] = config_changes(normalized_config(saved), normalized_config(now), ignore)
    return changes


def check_runs(demo: DemoRuns, overrides: Sequence[str], ignore: tuple[str, ...] = ()) -> list[str]:
    """``"<run>: key: saved != now"`` for every run whose saved config differs from the one
    ``overrides`` compose to today (so a table never mixes in runs of other settings);
    ``ignore``: key prefixes left out of the comparison."""
    return [
        f"{run}: {key}: {saved!r} != {now!r}"
        for run, changed in run_changes(demo, overrides, ignore).items()
        for key, (saved, now) in changed.items()
    ]


def _refuse_other_settings(
    demos: Sequence[DemoRuns], overrides: Sequence[str], what: str, ignore: tuple[str, ...] = ()
) -> None:
    """ValueError listing :func:`check_runs`' problems of every folder in ``demos`` (``what``:
    "<runs> ... than <key>", how the message names them), so a table never mixes settings."""
    problems = [p for demo in demos for p in check_runs(demo, overrides, ignore)]
    if problems:
        raise ValueError(f"{what} compose to today:\n  " + "\n  ".join(problems[:20]))


def _demo_spec(demo: DemoRuns, overrides: Sequence[str]) -> dict:
    configs = [[*overrides, f"kd={kd}"] for kd in demo.runs]
    return {"configs": configs, "config": config_hash(configs)}


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
            out.setdefault("teacher", {})[0] = _read_json(path)
        elif m:
            out.setdefault(m["kd"], {})[int(m["seed"] or 0)] = _read_json(path)
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
    data = _read_json(Path(gt))
    names = {c["id"]: c["name"] for c in data["categories"]}
    counts = dict.fromkeys(names.values(), 0)
    for a in data.get("annotations", []):
        if a["category_id"] in names:
            counts[names[a["category_id"]]] += 1
    return counts


# The recipe's real stage sets these itself, per machine and input (the real pages, the
# pretrained weights it starts from, the teacher's folder named after the pages).
RECIPE_OWN = ("dataset", "pair.teacher.weights", "pair.student.weights", "teacher_checkpoint")


def recipe_overrides(overrides: Sequence[str]) -> list[str]:
    """The overrides the real-page recipe's stage composes from the user's
    (:func:`graphkd.apps.demo_real.stages.with_preset`: its trainer preset first)."""
    from graphkd.apps.demo_real.stages import with_preset

    return with_preset(list(overrides))


def before_fine_tuning(folder: str | Path) -> str:
    """One sentence: the recipe's synthetic models on the real val pages (``<folder>/real_pages``,
    as :func:`graphkd.apps.demo_real.run_demo_real` writes them); "" when not there."""
    parts = []
    for name, label in (("synthetic_teacher", "teacher"),
                        ("synthetic_student_kd-none", "kd=none student")):  # fmt: skip
        path = Path(folder) / "real_pages" / name / "metrics.json"
        if path.is_file():
            parts.append(f"{label} {float(_read_json(path)['AP']):.1f} AP")
    return f"Before fine-tuning (synthetic pages only): {', '.join(parts)}." if parts else ""


def teacher_seed(recipe: DemoRuns) -> int:
    """The seed the recipe's teacher was fine-tuned with (``SEED`` of the detectron2 config
    saved beside it)."""
    import yaml

    path = recipe.teacher_dir / "config.yaml"
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: the teacher's saved config is missing (its SEED names it)"
        )
    return int(yaml.safe_load(path.read_text())["SEED"])


def recipes_by_teacher_seed(recipes: Sequence[DemoRuns]) -> dict[int, DemoRuns]:
    """The recipe folders keyed by their teacher's seed (:func:`teacher_seed`), in seed order.

    Raises:
        ValueError: two folders whose teachers share a seed.
    """
    by_seed: dict[int, DemoRuns] = {}
    for recipe in recipes:
        seed = teacher_seed(recipe)
        if seed in by_seed:
            raise ValueError(
                f"{recipe.folder}: its teacher has seed {seed}, as {by_seed[seed].folder}'s does"
            )
        by_seed[seed] = recipe
    return dict(sorted(by_seed.items()))


def recipe_seeds_table(by_seed: Mapping[int, DemoRuns], baseline: str = "none") -> tuple[str, str]:
    """The recipe run once per fine-tuning seed of its teacher (``folder=<f> trainer.seed=N``),
    scored with each folder's seed-0 students, paired by the teacher's seed. Returns ``(summary,
    per-class table)``: the teachers' AP, :func:`graphkd.apps.compare.summary_markdown` (teacher
    AP: the teachers' mean) and the students' share of their own teacher's AP; then AP50, AP75 and
    per-class AP per model (:func:`real_pages_table`). ``by_seed``: teacher seed -> folder, as
    :func:`recipes_by_teacher_seed` returns it.
    """
    from graphkd.apps.compare import paired_summary, summary_markdown
    from graphkd.apps.report import mean_std

    seeds = sorted(by_seed)
    teachers = {s: by_seed[s].teacher for s in seeds}
    kds = [baseline] + sorted({kd for r in by_seed.values() for kd in r.runs} - {baseline})
    students = {
        kd: {s: _read_json(by_seed[s].runs[kd][0] / "metrics.json")
             for s in seeds if 0 in by_seed[s].runs.get(kd, {})}
        for kd in kds
    }  # fmt: skip
    t_ap = {s: float(m["AP"]) for s, m in teachers.items()}
    t_mean, t_std = mean_std(list(t_ap.values()))
    aps = {kd: {s: float(m["AP"]) for s, m in by_s.items()} for kd, by_s in students.items()}
    share = []
    for kd, by_s in aps.items():
        mean, std = mean_std([100 * ap / t_ap[s] for s, ap in by_s.items()])
        share.append(f"kd={kd} {mean:.0f} ± {std:.0f}%")
    head = (
        "Seed N: the teacher fine-tuned with seed N (`trainer.seed=N`); every student's own seed "
        f"is 0. Teachers {', '.join(f'{t_ap[s]:.1f}' for s in seeds)} AP "
        f"({t_mean:.1f} ± {t_std:.1f}); the table's teacher AP is their mean."
    )
    paired = summary_markdown(t_mean, paired_summary(t_mean, aps, baseline), baseline)
    shares = "Each student's AP as a share of its own teacher's (mean ± std over seeds): "
    summary = "\n\n".join([head, paired, shares + ", ".join(share) + "."])
    return summary, real_pages_table({"teacher": teachers, **students}, once=())


@dataclass
class PairedRuns:
    """Students of recipe folders keyed by the seeds they share: their teacher's fine-tuning seed
    and their own."""

    teachers: dict[int, dict]  # teacher seed -> the teacher's metrics
    runs: dict[str, dict[tuple[int, int], dict]]  # label -> (teacher seed, seed) -> metrics
    configs: dict[str, list[str]]  # label -> the overrides its runs compose from
    folders: dict[Path, dict[str, str]]  # folder -> kd -> the label of its runs
    gt: str = ""  # the val pages' COCO json all were scored on


def read_paired_runs(
    recipes: Sequence[DemoRuns], overrides: Sequence[str], ignore: tuple[str, ...] = RECIPE_OWN
) -> PairedRuns:
    """Every finished student of ``recipes`` under a label: ``kd=<kd>``, followed by each
    ``key=value`` where its saved config differs from the recipe's (``overrides``) today, e.g.
    ``kd=dsig kd.loss.node_weight=2.0``; keyed by ``(teacher seed, student seed)``.

    Raises:
        ValueError: two different runs (or teachers) for the same label and seeds, runs scored
            on other val pages than the first's, or a run whose saved config lacks a key today's
            config has.
    """
    from graphkd.apps.jobs import MISSING
    from graphkd.apps.rundir import CONFIG_RESOLVED
    from graphkd.core.config import as_override

    paired = PairedRuns({}, {}, {}, {})
    for recipe in recipes:
        t = teacher_seed(recipe)
        known = paired.teachers.setdefault(t, recipe.teacher)
        if known["AP"] != recipe.teacher["AP"]:
            raise ValueError(f"{recipe.folder}: its seed-{t} teacher differs from another's")
        labels = paired.folders.setdefault(recipe.folder, {})
        changes = run_changes(recipe, overrides, ignore)
        for kd, by_seed in recipe.runs.items():
            for seed, run in by_seed.items():
                changed = changes[run]
                gt = str(OmegaConf.load(run / CONFIG_RESOLVED).dataset.val_json)
                if paired.gt and gt != paired.gt:
                    raise ValueError(f"{run}: scored on {gt}, not on {paired.gt} as the others")
                paired.gt = gt
                lacking = [k for k, (saved, _) in changed.items() if saved == MISSING]
                if lacking:
                    raise ValueError(f"{run}: its saved config lacks {', '.join(lacking)}")
                extra = [as_override(k, saved) for k, (saved, _) in changed.items()]
                label = " ".join([f"kd={kd}", *extra])
                paired.configs[label] = [*overrides, f"kd={kd}", *extra]
                metrics = _read_json(run / "metrics.json")
                old = paired.runs.setdefault(label, {}).setdefault((t, seed), metrics)
                if old["AP"] != metrics["AP"]:  # the same run copied to two folders is one
                    raise ValueError(f"{run}: a different {label} run of seeds {t}/{seed} exists")
                if labels.setdefault(kd, label) != label:
                    raise ValueError(
                        f"{run}: its settings differ from its folder's other {kd} runs"
                    )
    return paired


def kd_pairs_table(paired: PairedRuns, reference: str = "kd=graphkd") -> tuple[str, str]:
    """``(summary, per-class table)``: each label's AP per seed pair, mean ± std, its share of
    its own teacher's AP, and its paired differences to ``reference`` (mean ± std, standard
    error, wins) with a verdict (a difference within two standard errors is not one); then AP50,
    AP75 and per-class AP means (:func:`real_pages_table`).

    Raises:
        ValueError: no ``reference`` runs.
    """
    from graphkd.apps.compare import paired_summary
    from graphkd.apps.report import mean_std

    if reference not in paired.runs:
        raise ValueError(f"no {reference} runs among {sorted(paired.runs)}")
    order = [reference, *sorted(k for k in paired.runs if k != reference)]
    aps = {k: {p: float(m["AP"]) for p, m in paired.runs[k].items()} for k in order}
    stats = paired_summary(float("nan"), aps, baseline=reference)
    pairs = sorted({p for by_pair in aps.values() for p in by_pair})
    t_ap = {t: float(m["AP"]) for t, m in sorted(paired.teachers.items())}
    head = ["student", *(f"seeds {t}/{s}" for t, s in pairs), "mean ± std", "share of its teacher",
            f"vs {reference} per pair", "mean diff ± std (SE)", "wins"]  # fmt: skip
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    verdicts = []
    for label in order:
        st, by_pair = stats[label], aps[label]
        share = mean_std([100 * ap / t_ap[t] for (t, _), ap in by_pair.items()])
        row = [label, *(f"{by_pair[p]:.1f}" if p in by_pair else "" for p in pairs)]
        row += [f"{st['mean']:.1f} ± {st['std']:.1f}", f"{share[0]:.0f} ± {share[1]:.0f}%"]
        if label == reference:
            lines.append("| " + " | ".join(row + ["", "", ""]) + " |")
            continue
        n, d_mean, d_std = st["n_paired"], st["diff_mean"], st["diff_std"]
        se = d_std / n**0.5 if n > 1 else float("nan")
        diffs = ", ".join(f"{d:+.1f}" for d in st["diff"].values())
        row += [diffs, f"{d_mean:+.1f} ± {d_std:.1f} ({se:.1f})", f"{st['wins']}/{n}"]
        lines.append("| " + " | ".join(row) + " |")
        if n < 2:
            judged = "one pair, no spread to judge it by."
        elif abs(d_mean) > 2 * se:
            judged = "more than two standard errors from 0."
        else:
            judged = "within two standard errors of 0: no difference shown."
        verdicts.append(f"{label} - {reference}: {d_mean:+.1f} AP over {n} paired seeds, {judged}")
    about = (
        "Seeds t/s: the teacher fine-tuned with seed t (`trainer.seed=t`), the student trained "
        "with seed s (`seeds=`), from the synthetic kd=none student of seed s; runs of one pair "
        "share teacher, start and data order. Teachers: "
        + ", ".join(f"seed {t} {ap:.1f}" for t, ap in t_ap.items())
        + " AP. Each label names the settings where a run differs from the recipe's."
    )
    if Path(paired.gt).is_file():
        counts = ", ".join(f"{k} {v}" for k, v in class_counts(paired.gt).items())
        about += f" Boxes on the val pages (`{paired.gt}`): {counts}; few boxes, noisy class AP."
    summary = "\n\n".join([about, "\n".join(lines), " ".join(verdicts)])
    models = {"teacher": paired.teachers} | {
        f"student, {k}": dict(enumerate(paired.runs[k][p] for p in sorted(paired.runs[k])))
        for k in order
    }
    return summary, real_pages_table(models, once=list(models))


def _load(value: float | None) -> str:
    return "?" if value is None else f"{value:.2f}"


def latency_table(report: Mapping, overrides: Sequence[str] = ()) -> tuple[str, list[list[str]]]:
    """``(markdown, configs)``: seconds per page (median) of every model and variant of a
    ``scripts/bench_latency.py`` report, the pairs' speed-ups, and the override lists of the
    configs it timed (one per page size and pair; ``overrides``: those the bench was given)."""
    variants = ("eager", "eager_1000", "torchscript", "onnx", "onnx_int8")
    head = ["page", "model", "params (M)", "eager", "eager, 1000 proposals", "TorchScript", "ONNX",
            "ONNX int8"]  # fmt: skip
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    pairs = ["| page | teacher -> student | eager speed-up | ONNX speed-up | "
             "best student vs teacher eager |", "|---|---|---|---|---|"]  # fmt: skip
    configs = []
    for size, models in report["models"].items():
        test = report["settings"]["test"][size]
        for name, m in models.items():
            cells = [f"{m[v]['median_s']:.3f}" if v in m else "-" for v in variants]
            page = f"{size} px ({m['input_hw'][1]} x {m['input_hw'][0]}), FPN {m['fpn_channels']}"
            lines.append(
                f"| {page} | {name} | {m['params'] / 1e6:.1f} | " + " | ".join(cells) + " |"
            )
        for pair, p in report["pairs"][size].items():
            best, onnx = p["student_best"], p.get("speedup_onnx")
            pairs.append(
                f"| {size} px | {p['teacher']} -> {p['student']} | {p['speedup_eager']:.2f}x | "
                f"{f'{onnx:.2f}x' if onnx else '-'} | "
                f"{p['speedup_best_vs_teacher_eager']:.2f}x ({best['variant']}, "
                f"{best['median_s']:.3f} s) |"
            )
            configs.append([f"pair={pair}", f"trainer={test['trainer']}", "trainer.device=cpu"])
            configs[-1] += list(overrides)
    machine = report.get("machine", {})
    note = (
        f"Seconds per page, median of {report['settings']['reps']} runs, batch 1, "
        f"{machine.get('torch_threads', '?')} threads on {machine.get('cpus', '?')} CPUs "
        f"(load {_load(machine.get('load_avg_1min_at_end'))} at the end), torch "
        f"{machine.get('torch', '?')}; random weights."
    )
    return "\n".join([note, "", *lines, "", *pairs]), configs


# ------------------------------------------------------------------------ the tool
@dataclass
class DocTablesConfig:
    """Options of ``scripts/doc_tables.py``."""

    # config: write docs/configuration.md; results: write the results tables found in
    # docs/results.md and README.md; check: list the stale tables (exit 1 when there are any).
    what: str = "results"
    # The demo's output folder (runs/<kd>/seed<N>/, real_pages/) and the overrides it ran with.
    demo: str = "outputs/demo"
    demo_overrides: list[str] = field(default_factory=list)
    # The command recorded with the demo's tables ("" = make demo SEEDS=<seeds found> ...).
    demo_command: str = ""
    # The real-page recipe's folder (scripts/demo_real.py), its real-stage overrides, and the
    # command recorded with its tables ("" = python scripts/demo_real.py seeds=<seeds found> ...).
    recipe: str = "outputs/demo_real"
    recipe_overrides: list[str] = field(default_factory=list)
    recipe_command: str = ""
    # Recipe folders made once per fine-tuning seed of the teacher (python scripts/demo_real.py
    # folder=<f> trainer.seed=N, seed 0's among them): with two or more, docs/results.md's
    # recipe_seeds table and the README's headline_real pair their seed-0 students by that seed.
    recipe_seeds: list[str] = field(default_factory=list)
    # Recipe folders whose students are compared with kd=graphkd's, paired by teacher and student
    # seed (the kd_pairs table of docs/results.md), e.g. the recipe_seeds folders and others made
    # with methods=[...] and a setting of their own.
    kd_pairs: list[str] = field(default_factory=list)
    # A scripts/bench_latency.py report, the overrides and the command that made it.
    latency: str = "outputs/bench_latency.json"
    latency_overrides: list[str] = field(default_factory=list)
    latency_command: str = "python scripts/bench_latency.py"
    # Recorded commit ("" = the checkout's HEAD).
    commit: str = ""


def _demo_command(cfg: DocTablesConfig, demo: DemoRuns, real: str = "") -> str:
    if cfg.demo_command:
        return cfg.demo_command
    args = list(cfg.demo_overrides) + ([f"real_pages={real}"] if real else [])
    return f"make demo SEEDS={len(demo.seeds)}" + (f' ARGS="{" ".join(args)}"' if args else "")


def _write_recipe(cfg: DocTablesConfig, commit: str, results: Path, readme: Path) -> list[str]:
    """The real-page recipe's tables: ``recipe`` in docs/results.md (summary, per-class AP, the
    synthetic models before fine-tuning), ``headline_real`` in the README (summary); with
    ``recipe_seeds``, ``recipe_seeds`` in docs/results.md and ``headline_real`` from them."""
    recipe = read_demo(cfg.recipe)
    overrides = recipe_overrides(cfg.recipe_overrides)
    other = "recipe runs made with other settings than recipe_overrides"
    _refuse_other_settings([recipe], overrides, other, ignore=RECIPE_OWN)
    spec = _demo_spec(recipe, overrides)
    command = cfg.recipe_command or " ".join(
        ["python scripts/demo_real.py", f"seeds={len(recipe.seeds)}", *cfg.recipe_overrides]
    )
    record = record_line(command, commit, spec)
    summary, per_class = demo_tables(recipe)
    before = before_fine_tuning(cfg.recipe)
    write_block([results], "recipe", f"{summary}\n\n{per_class}\n\n{before}", spec, record)
    if len(cfg.recipe_seeds) < 2:
        write_block([readme], "headline_real", f"{summary}\n\n{before}", spec, record)
        return ["recipe", "headline_real"]
    recipes = [read_demo(folder) for folder in cfg.recipe_seeds]
    other = "recipe_seeds runs made with other settings than recipe_overrides"
    _refuse_other_settings(recipes, overrides, other, ignore=RECIPE_OWN)
    by_seed = recipes_by_teacher_seed(recipes)
    summary, per_class = recipe_seeds_table(by_seed)
    commands = [
        " ".join(["python scripts/demo_real.py", *cfg.recipe_overrides]
                 + [f"folder={r.folder.name}"] * (r.folder.name != "demo_real")
                 + [f"trainer.seed={seed}"] * (seed != 0))
        for seed, r in by_seed.items()
    ]  # fmt: skip
    record = record_line(commands, commit, spec)
    body = f"{summary}\n\n{per_class}\n\n{before}"
    write_block([results], "recipe_seeds", body, spec, record)
    write_block([readme], "headline_real", f"{summary}\n\n{before}", spec, record)
    return ["recipe", "recipe_seeds", "headline_real"]


def _folder_commands(folder: Path, runs: dict[str, dict[int, Path]], labels: Mapping[str, str],
                     t_seed: int, overrides: Sequence[str]) -> list[str]:  # fmt: skip
    """The recipe commands that make (or reuse) a folder's runs: one per set of settings
    (``labels``: kd -> its runs' label, see :func:`read_paired_runs`)."""
    from graphkd.apps.demo import METHODS

    groups: dict[tuple[str, ...], list[str]] = {}
    for kd in sorted(runs):
        groups.setdefault(tuple(labels[kd].split()[1:]), []).append(kd)
    seeds = max(max(by_seed) for by_seed in runs.values()) + 1
    return [
        " ".join(
            ["python scripts/demo_real.py", *overrides]
            + [f"folder={folder.name}"] * (folder.name != "demo_real")
            + [f"seeds={seeds}"]
            + [f"methods=[{','.join(kds)}]"] * (set(kds) != set(METHODS))
            + [f"trainer.seed={t_seed}"] * (t_seed != 0)
            + list(extra)
        )
        for extra, kds in groups.items()
    ]


def _write_kd_pairs(cfg: DocTablesConfig, commit: str, results: Path) -> list[str]:
    """The ``kd_pairs`` table of docs/results.md: the students of the ``kd_pairs`` folders
    paired with kd=graphkd's by seeds (:func:`kd_pairs_table`)."""
    recipes = [read_demo(folder) for folder in cfg.kd_pairs]
    overrides = recipe_overrides(cfg.recipe_overrides)
    paired = read_paired_runs(recipes, overrides)
    summary, per_class = kd_pairs_table(paired)
    configs = [paired.configs[label] for label in sorted(paired.configs)]
    spec = {"configs": configs, "config": config_hash(configs)}
    commands = [
        command
        for r in recipes
        for command in _folder_commands(r.folder, r.runs, paired.folders[r.folder],
                                        teacher_seed(r), cfg.recipe_overrides)
    ]  # fmt: skip
    record = record_line(commands, commit, spec)
    write_block([results], "kd_pairs", f"{summary}\n\n{per_class}", spec, record)
    return ["kd_pairs"]


def write_results(
    cfg: DocTablesConfig, results: Path = RESULTS_DOC, readme: Path = README
) -> list[str]:
    """Write every table whose source exists; returns the names of the tables written."""
    import logging

    log = logging.getLogger("graphkd")
    commit, written = cfg.commit or git_commit(), []
    if (Path(cfg.demo) / "runs").is_dir():
        demo = read_demo(cfg.demo)
        other = "runs made with other settings than demo_overrides"
        _refuse_other_settings([demo], cfg.demo_overrides, other)
        spec = _demo_spec(demo, cfg.demo_overrides)
        summary, per_class = demo_tables(demo)
        record = record_line(_demo_command(cfg, demo), commit, spec)
        write_block([results], "demo", f"{summary}\n\n{per_class}", spec, record)
        write_block([readme], "headline", summary, spec, record)
        written += ["demo", "headline"]
        real = read_real_pages(cfg.demo)
        if real:
            gt = next(iter(next(iter(real.values())).values())).get("gt", "<pages>")
            record = record_line(_demo_command(cfg, demo, gt), commit, spec)
            write_block([results], "real", real_pages_table(real), spec, record)
            written.append("real")
    if (Path(cfg.recipe) / "runs").is_dir():
        written += _write_recipe(cfg, commit, results, readme)
    if cfg.kd_pairs:
        written += _write_kd_pairs(cfg, commit, results)
    if Path(cfg.latency).is_file():
        table, configs = latency_table(_read_json(Path(cfg.latency)), cfg.latency_overrides)
        spec = {"configs": configs, "config": config_hash(configs)}
        command = " ".join([cfg.latency_command, *cfg.latency_overrides])
        write_block([results], "latency", table, spec, record_line(command, commit, spec))
        written.append("latency")
    log.info("doc_tables: wrote %s", ", ".join(written) or "nothing (no outputs found)")
    return written


def run(cfg: DictConfig | DocTablesConfig) -> list[str]:
    """The tool: ``what=config`` | ``results`` | ``check`` (see :class:`DocTablesConfig`)."""
    if isinstance(cfg, DictConfig):
        cfg = OmegaConf.to_object(cfg)
    if cfg.what == "config":
        CONFIG_DOC.write_text(config_reference())
        return [str(CONFIG_DOC)]
    if cfg.what == "results":
        return write_results(cfg)
    if cfg.what == "check":
        stale = stale_tables()
        for line in stale:
            print(f"stale: {line}")
        if stale:
            raise SystemExit(1)
        return stale
    raise ValueError(f"what={cfg.what!r}: use config, results or check")


USAGE = """Write the docs' generated tables.

    python scripts/doc_tables.py what=config       # docs/configuration.md from the schema
    python scripts/doc_tables.py what=results [demo=outputs/demo] [demo_overrides=[...]]
        [recipe=outputs/demo_real] [recipe_overrides=[...]] [recipe_seeds=[DIR,DIR,...]]
        [kd_pairs=[DIR,DIR,...]]
        [latency=outputs/bench_latency.json]      # docs/results.md and README.md tables
    python scripts/doc_tables.py what=check        # name the tables made with other defaults
"""


register_tool("doc_tables", DocTablesConfig, USAGE)


def main(argv: Sequence[str] | None = None) -> Any:
    """Entry point of ``scripts/doc_tables.py`` (``argv``: overrides, for tests)."""
    import logging

    logging.basicConfig(level=logging.INFO, format="[%(asctime)s %(name)s] %(message)s")
    return run_tool("doc_tables", run, argv)
