"""The real-page recipe's tables (``scripts/demo_real.py`` folders): one folder, the folders of
its teacher's fine-tuning seeds, and every kd setting paired with kd=graphkd by seeds."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from omegaconf import OmegaConf

from graphkd.apps.doc_blocks import REPO
from graphkd.apps.tables.demo import class_counts, real_pages_table
from graphkd.apps.tables.runs import DemoRuns, read_json, run_changes

__all__ = [
    "RECIPE_OWN",
    "PairedRuns",
    "before_fine_tuning",
    "kd_pairs_table",
    "read_paired_runs",
    "recipe_overrides",
    "recipe_seeds_table",
    "recipes_by_teacher_seed",
    "teacher_seed",
]


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
            parts.append(f"{label} {float(read_json(path)['AP']):.1f} AP")
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
        kd: {s: read_json(by_seed[s].runs[kd][0] / "metrics.json")
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
    teacher_of: dict[Path, int]  # folder -> its teacher's seed
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

    paired = PairedRuns({}, {}, {}, {}, {})
    for recipe in recipes:
        t = paired.teacher_of[recipe.folder] = teacher_seed(recipe)
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
                metrics = read_json(run / "metrics.json")
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
        gt = Path(paired.gt).resolve()
        shown = gt.relative_to(REPO) if gt.is_relative_to(REPO) else gt
        about += f" Boxes on the val pages (`{shown}`): {counts}; few boxes, noisy class AP."
    summary = "\n\n".join([about, "\n".join(lines), " ".join(verdicts)])
    models = {"teacher": paired.teachers} | {
        f"student, {k}": dict(enumerate(paired.runs[k][p] for p in sorted(paired.runs[k])))
        for k in order
    }
    return summary, real_pages_table(models, once=list(models))
