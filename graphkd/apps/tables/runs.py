"""What an output folder of the demo or the real-page recipe holds: its finished student runs
and their teacher, and whether those runs were made with the settings a table stands for."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from omegaconf import OmegaConf

from graphkd.apps.doc_blocks import (
    OUTPUTS_PLACEHOLDER,
    normalized_config,
    normalized_today,
    strip_outputs,
)

__all__ = [
    "DemoRuns",
    "check_runs",
    "read_demo",
    "read_json",
    "refuse_other_settings",
    "run_changes",
]


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
        return [read_json(self.runs[kd][s] / "metrics.json") for s in sorted(self.runs[kd])]


def read_json(path: str | Path) -> dict:
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
    return DemoRuns(folder, runs, read_json(found[0]), found[0].parent)


def run_changes(
    demo: DemoRuns, overrides: Sequence[str], ignore: tuple[str, ...] = ()
) -> dict[Path, dict[str, tuple[object, object]]]:
    """Run directory -> the keys where its saved config differs from the one ``overrides`` (with
    its kd and seed) compose to today, as ``key -> (saved, now)``; ``ignore``: key prefixes left
    out of the comparison."""
    from graphkd.apps.jobs import config_changes
    from graphkd.apps.rundir import CONFIG_RESOLVED

    changes = {}
    for kd, by_seed in demo.runs.items():
        for seed, run in by_seed.items():
            now = normalized_today([*overrides, f"kd={kd}", f"trainer.seed={seed}"])
            saved = OmegaConf.load(run / CONFIG_RESOLVED)
            changes[run] = config_changes(normalized_config(saved), now, ignore)
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


def refuse_other_settings(
    demos: Sequence[DemoRuns], overrides: Sequence[str], what: str, ignore: tuple[str, ...] = ()
) -> None:
    """ValueError listing :func:`check_runs`' problems of every folder in ``demos`` (``what``:
    "<runs> ... than <key>", how the message names them), so a table never mixes settings."""
    problems = [p for demo in demos for p in check_runs(demo, overrides, ignore)]
    if problems:
        raise ValueError(f"{what} compose to today:\n  " + "\n  ".join(problems[:20]))
