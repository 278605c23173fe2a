"""``scripts/doc_tables.py``: write the docs' generated tables, the configuration reference
(:mod:`graphkd.apps.config_reference`) among them.

Every number in ``docs/results.md`` and the README's headline tables comes from files a command
wrote, never from typing: the demo's output folder (``<demo>/runs/<kd>/seed<N>/metrics.json``,
the teacher's ``metrics.json``, ``<demo>/real_pages/<model>/metrics.json``), the real-page
recipe's folders and a ``scripts/bench_latency.py`` JSON, read and tabled by
:mod:`graphkd.apps.tables`, written into the docs' marker blocks with their record line
(:mod:`graphkd.apps.doc_blocks`).

``python scripts/doc_tables.py what=config`` / ``what=results demo=outputs/demo ...`` /
``what=check``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from graphkd.apps.config_reference import CONFIG_DOC, config_reference
from graphkd.apps.doc_blocks import (
    README,
    RESULTS_DOC,
    config_hash,
    git_commit,
    record_line,
    stale_tables,
    write_block,
)
from graphkd.apps.tables.demo import demo_tables, read_real_pages, real_pages_table
from graphkd.apps.tables.latency import latency_table
from graphkd.apps.tables.recipe import (
    RECIPE_OWN,
    PairedRuns,
    before_fine_tuning,
    kd_pairs_table,
    read_paired_runs,
    recipe_overrides,
    recipe_seeds_table,
    recipes_by_teacher_seed,
)
from graphkd.apps.tables.runs import DemoRuns, read_demo, read_json, refuse_other_settings
from graphkd.apps.tool import register_tool, run_tool

__all__ = ["DocTablesConfig", "main", "run", "write_results"]


def _demo_spec(demo: DemoRuns, overrides: Sequence[str]) -> dict:
    configs = [[*overrides, f"kd={kd}"] for kd in demo.runs]
    return {"configs": configs, "config": config_hash(configs)}


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
    refuse_other_settings([recipe], overrides, other, ignore=RECIPE_OWN)
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
    refuse_other_settings(recipes, overrides, other, ignore=RECIPE_OWN)
    by_seed = recipes_by_teacher_seed(recipes)
    summary, per_class = recipe_seeds_table(by_seed)
    commands = [
        _recipe_command(r.folder, cfg.recipe_overrides, seed) for seed, r in by_seed.items()
    ]
    record = record_line(commands, commit, spec)
    body = f"{summary}\n\n{per_class}\n\n{before}"
    write_block([results], "recipe_seeds", body, spec, record)
    write_block([readme], "headline_real", f"{summary}\n\n{before}", spec, record)
    return ["recipe", "recipe_seeds", "headline_real"]


def _recipe_command(folder: Path, overrides: Sequence[str], t_seed: int, seeds: int = 1,
                    kds: Sequence[str] = (), extra: Sequence[str] = ()) -> str:  # fmt: skip
    """The ``scripts/demo_real.py`` command that makes (or reuses) a recipe folder's runs of
    ``kds`` (empty: every method) with ``extra`` overrides; options at their defaults left out."""
    from graphkd.apps.demo import METHODS

    return " ".join(
        ["python scripts/demo_real.py", *overrides]
        + [f"folder={folder.name}"] * (folder.name != "demo_real")
        + [f"seeds={seeds}"] * (seeds != 1)
        + [f"methods=[{','.join(kds)}]"] * bool(kds and set(kds) != set(METHODS))
        + [f"trainer.seed={t_seed}"] * (t_seed != 0)
        + list(extra)
    )


def _folder_commands(paired: PairedRuns, recipe: DemoRuns, overrides: Sequence[str]) -> list[str]:
    """The recipe commands that make (or reuse) a folder's runs: one per set of settings (its
    runs' labels in ``paired``, see :func:`read_paired_runs`)."""
    labels = paired.folders[recipe.folder]
    groups: dict[tuple[str, ...], list[str]] = {}
    for kd in sorted(labels):
        groups.setdefault(tuple(labels[kd].split()[1:]), []).append(kd)
    seeds, t_seed = max(recipe.seeds) + 1, paired.teacher_of[recipe.folder]
    # <outputs>/<folder>/teachers/<name>: a teacher of another folder came by teacher_from=
    home = recipe.teacher_dir.resolve().parent.parent
    taught = [f"teacher_from={home.name}"] * (home != recipe.folder.resolve())
    return [_recipe_command(recipe.folder, overrides, t_seed, seeds, kds, [*extra, *taught])
            for extra, kds in groups.items()]  # fmt: skip


def _write_kd_pairs(cfg: DocTablesConfig, commit: str, results: Path) -> list[str]:
    """The ``kd_pairs`` table of docs/results.md: the students of the ``kd_pairs`` folders
    paired with kd=graphkd's by seeds (:func:`kd_pairs_table`)."""
    recipes = [read_demo(folder) for folder in cfg.kd_pairs]
    overrides = recipe_overrides(cfg.recipe_overrides)
    paired = read_paired_runs(recipes, overrides)
    summary, per_class = kd_pairs_table(paired)
    configs = [paired.configs[label] for label in sorted(paired.configs)]
    spec = {"configs": configs, "config": config_hash(configs)}
    commands = [c for r in recipes for c in _folder_commands(paired, r, cfg.recipe_overrides)]
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
        refuse_other_settings([demo], cfg.demo_overrides, other)
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
        table, configs = latency_table(read_json(Path(cfg.latency)), cfg.latency_overrides)
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
