"""The docs' generated tables: the configuration reference and the results tables.

Every number in ``docs/results.md`` and the README's headline table comes from files a command
wrote, never from typing:

- ``docs/configuration.md`` is generated from the Hydra schema (the ``graphkd.core.config``
  dataclasses, their field comments) and the presets in ``configs/``.
- The results tables are read from the demo's output folder
  (``<demo>/runs/<kd>/seed<N>/metrics.json``, the teacher's ``metrics.json``,
  ``<demo>/real_pages/<model>/metrics.json``) and a ``scripts/bench_latency.py`` JSON, and
  written between ``<!-- BEGIN doc_tables:<name> {spec} -->`` / ``<!-- END doc_tables:<name> -->``
  markers. Each table carries a record line (commit, command, config hash); ``spec`` holds the
  Hydra overrides the hash was computed from, so :func:`stale_tables` can recompute it with
  today's defaults and name every table that no longer matches.

``python scripts/doc_tables.py what=config`` / ``what=results demo=outputs/demo ...``.
"""

from __future__ import annotations

import ast
import dataclasses
import hashlib
import inspect
import json
import re
import subprocess
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from omegaconf import DictConfig, OmegaConf

from graphkd.apps.tool import register_tool, run_tool

__all__ = [
    "DocTablesConfig",
    "config_hash",
    "config_reference",
    "demo_tables",
    "latency_table",
    "normalized_config",
    "read_blocks",
    "replace_block",
    "stale_tables",
    "write_results",
]

REPO = Path(__file__).resolve().parents[2]
RESULTS_DOC = REPO / "docs" / "results.md"
CONFIG_DOC = REPO / "docs" / "configuration.md"
README = REPO / "README.md"

# Keys that say where a run lives or how it was started, not what it computes.
VOLATILE = ("outputs", "run_dir", "overrides", "trainer.resume")
OUTPUTS_PLACEHOLDER = "<outputs>"
GROUPS = ("dataset", "pair", "kd", "trainer")
BLOCK = re.compile(
    r"<!-- BEGIN doc_tables:(?P<name>[\w-]+)(?: (?P<spec>\{.*?\}))? -->\n"
    r"(?P<body>.*?)<!-- END doc_tables:(?P=name) -->",
    re.S,
)


# ----------------------------------------------------------------------- config hashing
def _strip_outputs(tree: Any, outputs: str) -> Any:
    """``tree`` with every string under the ``outputs`` folder written relative to a placeholder
    (a run made with ``outputs=/tmp/x`` computes what one made with ``outputs=outputs`` does)."""
    if isinstance(tree, dict):
        return {k: _strip_outputs(v, outputs) for k, v in tree.items()}
    if isinstance(tree, list):
        return [_strip_outputs(v, outputs) for v in tree]
    if isinstance(tree, str) and outputs and (tree == outputs or tree.startswith(outputs + "/")):
        return OUTPUTS_PLACEHOLDER + tree[len(outputs) :]
    return tree


def normalized_config(cfg: DictConfig | Mapping) -> dict:
    """The resolved config as a plain dict without :data:`VOLATILE` keys and with the outputs
    folder replaced by a placeholder: what decides the numbers a run produces."""
    tree = OmegaConf.to_container(OmegaConf.create(cfg), resolve=True)
    tree = _strip_outputs(tree, str(tree.get("outputs", "")))
    for key in VOLATILE:
        *parents, leaf = key.split(".")
        node = tree
        for p in parents:
            node = node.get(p, {})
        node.pop(leaf, None)
    return tree


def config_hash(configs: Sequence[Sequence[str]]) -> str:
    """``sha256:<12 hex>`` of the normalized, resolved configs composed with each override list
    (``OmegaConf.to_yaml`` of :func:`normalized_config`, joined in the given order)."""
    from graphkd.apps.cli import compose_config

    text = "---\n".join(
        OmegaConf.to_yaml(OmegaConf.create(normalized_config(compose_config(list(o)))))
        for o in configs
    )
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()[:12]


# ------------------------------------------------------------------- marker blocks
def read_blocks(text: str) -> dict[str, dict | None]:
    """name -> spec (None for a placeholder block) of every marker block in ``text``."""
    return {m["name"]: json.loads(m["spec"]) if m["spec"] else None for m in BLOCK.finditer(text)}


def replace_block(text: str, name: str, body: str, spec: Mapping | None = None) -> str:
    """``text`` with the block ``name`` replaced by ``body`` (and its marker's ``spec``).

    Raises:
        KeyError: ``text`` has no block ``name``.
    """
    blocks = [m for m in BLOCK.finditer(text) if m["name"] == name]
    if not blocks:
        raise KeyError(f"no '<!-- BEGIN doc_tables:{name} -->' block")
    m = blocks[0]
    head = f"<!-- BEGIN doc_tables:{name}" + (f" {json.dumps(dict(spec))}" if spec else "")
    new = f"{head} -->\n{body.rstrip()}\n<!-- END doc_tables:{name} -->"
    return text[: m.start()] + new + text[m.end() :]


def stale_tables(paths: Sequence[Path] = (RESULTS_DOC, README)) -> list[str]:
    """``"<file>: <table>"`` for every produced table whose recorded config hash differs from
    the hash of the same overrides composed with today's configs and defaults."""
    stale = []
    for path in paths:
        for name, spec in read_blocks(Path(path).read_text()).items():
            if spec and config_hash(spec["configs"]) != spec["config"]:
                stale.append(f"{Path(path).name}: {name}")
    return stale


def _record(command: str, commit: str, spec: Mapping) -> str:
    return (
        f"*Record: made by `{command}` at commit `{commit}`; resolved config "
        f"`{spec['config']}` (`python scripts/doc_tables.py` recomputes it).*"
    )


def git_commit(repo: Path = REPO) -> str:
    """Short hash of the checkout's HEAD, ``+dirty`` when tracked files are modified."""
    run = lambda *a: subprocess.run(  # noqa: E731
        ["git", *a], cwd=repo, capture_output=True, text=True, check=False
    ).stdout.strip()
    head = run("rev-parse", "--short", "HEAD") or "unknown"
    return head + ("+dirty" if run("status", "--porcelain", "--untracked-files=no") else "")


# ------------------------------------------------------------- configuration reference
# Meanings of the schema fields that carry no comment of their own (a comment on the field in
# its dataclass takes precedence: move a meaning there and drop it here).
UNDOCUMENTED = {
    "Config.outputs": "Root folder of everything a run writes (runs, teachers, synthetic pages).",
    "Config.overrides": "Filled at run time: the command-line overrides of the job.",
    "DatasetConfig.name": "Registered dataset name; a known name brings its classes and layout.",
    "DatasetConfig.classes": "Class names in id order (null: the known dataset's, or the json's).",
    "DatasetConfig.text_classes": "Classes that are text nodes of the graph (the rest non-text).",
    "DatasetConfig.train_json": "COCO json of the training split (relative to root).",
    "DatasetConfig.train_images": "Image folder of the training split.",
    "DatasetConfig.val_json": "COCO json of the evaluation split.",
    "DatasetConfig.val_images": "Image folder of the evaluation split.",
    "DatasetConfig.num_train": "Synthetic pages in the training split.",
    "DatasetConfig.num_val": "Synthetic pages in the val split.",
    "DatasetConfig.page_size": "Synthetic page height in pixels.",
    "DatasetConfig.data_seed": "Seed of the synthetic page generator (page i is the same for any count).",
    "PairConfig.name": "Preset name; part of the run directory.",
    "ModelConfig.backbone": "R18, R34, R50, R101, R152, MNV2 (MobileNetV2) or EB0 (EfficientNet-B0).",
    "ModelConfig.anchor_sizes": "This model's own anchor sizes (null: the trainer's).",
    "ModelConfig.anchor_ratios": "This model's own anchor aspect ratios (null: the trainer's).",
    "KDConfig.name": "Preset name; part of the run directory.",
    "KDLossConfig.node": "Node term: MSE between adapted student and teacher RoI features.",
    "KDLossConfig.node_weight": "Weight of the node term.",
    "KDLossConfig.edge": "Edge term: MSE between teacher and student edge similarities.",
    "KDLossConfig.edge_weight": "Weight of the edge term.",
    "KDLossConfig.struct": "Structure term: KL between the nodes' neighbour distributions.",
    "KDLossConfig.struct_weight": "Weight of the structure term.",
    "KDLossConfig.logit": "RoI classification logit KD (KL with temperature).",
    "KDLossConfig.logit_weight": "Weight of the logit term.",
    "KDLossConfig.box": "RoI box-regression KD (smooth L1 to the teacher's deltas, fg RoIs).",
    "KDLossConfig.box_weight": "Weight of the box term.",
    "KDLossConfig.fpn": "FPN feature MSE (FitNet).",
    "KDLossConfig.fpn_weight": "Weight of the FPN term.",
    "KDLossConfig.text_weight_clip": "Clip range of the text node weight N_nontext / N_text.",
    "KDLossConfig.fpn_levels": "FPN levels of the FPN term.",
    "KDLossConfig.check_finite": "Stop with an error naming the term and iteration on NaN / Inf.",
    "TrainerConfig.device": "cpu or cuda.",
    "TrainerConfig.num_workers_cpu": "gloo processes on CPU (detectron2's launch).",
    "TrainerConfig.num_machines": "Machines of a multi-machine job.",
    "TrainerConfig.machine_rank": "This machine's rank in a multi-machine job.",
    "TrainerConfig.dist_url": "Rendezvous URL of distributed training (auto: a free local port).",
    "TrainerConfig.ims_per_batch": "Images per batch, all processes together.",
    "TrainerConfig.base_lr": "SGD learning rate after warm-up.",
    "TrainerConfig.momentum": "SGD momentum.",
    "TrainerConfig.weight_decay": "SGD weight decay.",
    "TrainerConfig.max_iter": "Training iterations of a student.",
    "TrainerConfig.teacher_max_iter": "Training iterations of the teacher.",
    "TrainerConfig.warmup_iters": "Linear learning-rate warm-up iterations.",
    "TrainerConfig.min_size": "Short side of the training and test images, in pixels.",
    "TrainerConfig.max_size": "Upper bound of the long side, in pixels.",
    "TrainerConfig.rois_per_image": "RoIs sampled per image by the RoI heads (the graph's nodes).",
    "TrainerConfig.anchor_ratios": "Anchor aspect ratios (height / width) of both models.",
    "TrainerConfig.checkpoint_period": "Iterations between checkpoints (resume points).",
    "TrainerConfig.eval_period": "Iterations between val evaluations (0: only at the end).",
    "TrainerConfig.log_period": "Iterations between train-log records.",
    "TrainerConfig.dataloader_workers": "Data-loader worker processes.",
    "TrainerConfig.seed": "Seed of initialisation, data order and RoI sampling.",
    "TrainerConfig.resume": "Continue from the run directory's last checkpoint.",
    "TrainerConfig.amp": "Mixed precision (CUDA); graph and KD terms stay fp32.",
    "TrainerConfig.clip_grad": "Gradient-norm clipping (0: off).",
}
GROUP_ABOUT = {
    "pair": "Teacher and student detectors (Faster R-CNN + FPN): backbones and initialisation.",
    "trainer": "Schedule, image size, FPN width, processes, seed, resume and test-time settings.",
}


def _comments(source: str) -> dict[int, str]:
    """line number (1-based) -> comment text of every ``#`` comment in ``source``."""
    import io
    import tokenize

    toks = tokenize.generate_tokens(io.StringIO(source).readline)
    return {
        t.start[0]: t.string.lstrip("#").strip()
        for t in toks
        if t.type == tokenize.COMMENT and not re.match(r"#\s*(type:|noqa|fmt:)", t.string)
    }


def _docstring_attributes(cls: type) -> dict[str, str]:
    """``name -> text`` of the ``Attributes:`` section of a Google-style class docstring (an
    entry ``a, b: text`` documents both)."""
    doc = inspect.getdoc(cls) or ""
    if "Attributes:" not in doc:
        return {}
    out: dict[str, str] = {}
    names: list[str] = []
    for line in doc.split("Attributes:", 1)[1].splitlines():
        m = re.match(r"^ {4}([\w, ]+):\s*(.*)$", line)
        if m:
            names = [n.strip() for n in m[1].split(",")]
            out.update(dict.fromkeys(names, m[2].strip()))
        elif line.startswith(" " * 8) and names:
            out.update({n: f"{out[n]} {line.strip()}" for n in names})
        elif line.strip():
            break
    return out


def field_docs(cls: type) -> dict[str, str]:
    """Meaning of each field of dataclass ``cls``: the comment lines right above it and its
    trailing comment, else its entry in the docstring's ``Attributes:`` section."""
    source = textwrap.dedent(inspect.getsource(cls))
    lines, comments = source.splitlines(), _comments(source)
    out = _docstring_attributes(cls)
    for node in ast.parse(source).body[0].body:
        if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)):
            continue
        above, n = [], node.lineno - 1
        while n >= 1 and lines[n - 1].strip().startswith("#"):
            above.insert(0, comments.get(n, ""))
            n -= 1
        trailing = [comments[i] for i in range(node.lineno, node.end_lineno + 1) if i in comments]
        text = " ".join(t for t in above + trailing if t)
        if text:
            out[node.target.id] = text
    return out


def _default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return "???"


def _cell(value: Any) -> str:
    if isinstance(value, tuple):
        value = list(value)
    text = "null" if value is None else json.dumps(value) if not isinstance(value, str) else value
    text = text or '""'
    return f"`{text}`".replace("|", "\\|")


def schema_rows(cls: type, prefix: str = "") -> list[tuple[str, str, str, str]]:
    """``(dotted key, type, default, meaning)`` of every leaf field of dataclass ``cls``."""
    docs, rows = field_docs(cls), []
    for f in dataclasses.fields(cls):
        value = _default(f)
        if dataclasses.is_dataclass(value):
            rows += schema_rows(type(value), f"{prefix}{f.name}.")
            continue
        meaning = docs.get(f.name) or UNDOCUMENTED.get(f"{cls.__name__}.{f.name}", "")
        meaning = meaning.replace("|", "\\|")
        rows.append((f"{prefix}{f.name}", f"`{f.type}`", _cell(value), meaning))
    return rows


def _flat(tree: Any, prefix: str = "") -> list[tuple[str, Any]]:
    if not isinstance(tree, Mapping):
        return [(prefix.rstrip("."), tree)]
    return [kv for k, v in tree.items() for kv in _flat(v, f"{prefix}{k}.")]


def _header_comment(path: Path) -> str:
    """A preset's leading comment, without its indented example commands."""
    about = []
    for line in path.read_text().splitlines():
        if not line.startswith("#"):
            break
        if not line.startswith("#   ") and "python scripts/" not in line:
            about.append(line.lstrip("#").strip())
    return " ".join(about).replace("|", "/")


def _preset_rows(config_dir: Path, group: str, default: str) -> list[str]:
    """One table row per preset of ``group``: its header comment and the keys it sets."""
    rows = []
    for path in sorted((config_dir / group).glob("*.yaml")):
        about = _header_comment(path)
        sets = [
            f"`{k}={json.dumps(v) if not isinstance(v, str) else v}`"
            for k, v in _flat(OmegaConf.to_container(OmegaConf.load(path)))
            if k != "name"
        ]
        name = f"`{group}={path.stem}`" + (" (default)" if path.stem == default else "")
        rows.append(f"| {name} | {about} | {', '.join(sets) or '-'} |")
    return rows


def config_reference(config_dir: str | Path | None = None) -> str:
    """``docs/configuration.md``: every group and key of the schema with its default and
    meaning, and every preset of ``configs/`` with the keys it sets."""
    from graphkd.apps.cli import CONFIG_DIR
    from graphkd.core.config import Config

    config_dir = Path(config_dir or CONFIG_DIR)
    root = yaml.safe_load((config_dir / "config.yaml").read_text())
    defaults = {k: v for d in root["defaults"] if isinstance(d, Mapping) for k, v in d.items()}
    run, sweep = root["hydra"]["run"], root["hydra"]["sweep"]
    out = [
        "# Configuration reference",
        "",
        "<!-- Generated by `python scripts/doc_tables.py what=config` from the Hydra schema",
        "(graphkd/core/config.py and the dataclasses it nests) and configs/*.yaml. Do not edit:",
        "tests/test_docs.py fails when this page differs from what the script writes. -->",
        "",
        "Every training command composes `configs/config.yaml`: one preset per group (by "
        "default " + ", ".join(f"`{g}={defaults[g]}`" for g in GROUPS) + "), then your "
        "`key=value` overrides. A key's value is the one its preset sets, else "
        "the schema default below. Misspelt keys and wrong types fail before anything runs. "
        "See the resolved config of a command with `--cfg job`, e.g. "
        "`python scripts/distill.py kd=dsig --cfg job`.",
        "",
        f"Run directory: `{run['dir']}` (multirun: `{sweep['dir']}/{sweep['subdir']}`).",
        "",
        "## Top-level keys",
        "",
        "| key | type | default | meaning |",
        "|---|---|---|---|",
    ]
    top = {f.name: f for f in dataclasses.fields(Config)}
    docs = field_docs(Config)
    out += [
        f"| `{k}` | `{f.type}` | {_cell(root.get(k, _default(f)))} | "
        f"{docs.get(k) or UNDOCUMENTED.get(f'Config.{k}', '')} |"
        for k, f in top.items()
        if k not in GROUPS
    ]
    for group in GROUPS:
        cls = _dataclass_of(top[group])
        about = cls.__doc__ if cls.__doc__ and not cls.__doc__.startswith(cls.__name__) else ""
        about = " ".join(inspect.cleandoc(about).split("\n\n")[0].split())
        out += ["", f"## {group}", "", about or GROUP_ABOUT.get(group, ""), ""]
        out += ["| preset | what | sets |", "|---|---|---|"]
        out += _preset_rows(config_dir, group, defaults[group])
        out += ["", "| key | type | schema default | meaning |", "|---|---|---|---|"]
        out += [f"| `{group}.{k}` | {t} | {d} | {m} |" for k, t, d, m in schema_rows(cls)]
    return "\n".join(line.rstrip() for line in out) + "\n"


def _dataclass_of(f: dataclasses.Field) -> type:
    import graphkd.core.config as config_module

    return getattr(config_module, str(f.type).split("|")[0].strip())


# ------------------------------------------------------------------- results tables
@dataclass
class DemoRuns:
    """What a demo output folder holds: finished student runs and their teacher."""

    folder: Path
    runs: dict[str, dict[int, Path]]  # kd -> seed -> run directory (finished runs only)
    teacher: dict  # the teacher's metrics.json

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
    relative = _strip_outputs(saved["teacher_checkpoint"], str(saved["outputs"]))
    teacher = Path(relative.replace(OUTPUTS_PLACEHOLDER, str(folder.parent), 1)).parent
    if not (teacher / "metrics.json").is_file():
        raise FileNotFoundError(f"the teacher's metrics are missing: {teacher / 'metrics.json'}")
    return DemoRuns(folder, runs, _read_json(teacher / "metrics.json"))


def check_runs(demo: DemoRuns, overrides: Sequence[str]) -> list[str]:
    """``"<run>: key: saved != now"`` for every run whose saved config differs from the one
    ``overrides`` compose to today (so a table never mixes in runs of other settings)."""
    from graphkd.apps.cli import compose_config
    from graphkd.apps.jobs import config_diff
    from graphkd.apps.rundir import CONFIG_RESOLVED

    problems = []
    for kd, by_seed in demo.runs.items():
        for seed, run in by_seed.items():
            now = compose_config([*overrides, f"kd={kd}", f"trainer.seed={seed}"])
            saved = OmegaConf.load(run / CONFIG_RESOLVED)
            diff = config_diff(normalized_config(saved), normalized_config(now))
            problems += [f"{run}: {d}" for d in diff]
    return problems


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


def real_pages_table(results: Mapping[str, Mapping[int, dict]]) -> str:
    """Markdown: per model, AP per seed, mean ± std, AP50, AP75 and per-class AP (means)."""
    from graphkd.apps.report import mean_std

    seeds = sorted({s for kd, r in results.items() if kd != "teacher" for s in r})
    first = next(iter(next(iter(results.values())).values()))
    classes = list(first.get("per_class") or {})
    head = ["model", *(f"seed {s}" for s in seeds), "AP mean ± std", "AP50", "AP75"]
    lines = ["| " + " | ".join(head + [f"AP {c}" for c in classes]) + " |"]
    lines.append("|" + "---|" * (len(head) + len(classes)))

    def fmt(values: Sequence, std: bool = False) -> str:
        mean, sd = mean_std(list(values))
        return f"{mean:.1f} ± {sd:.1f}" if std and len(values) > 1 else f"{mean:.1f}"

    for kd, by_seed in results.items():
        ms = [by_seed[s] for s in sorted(by_seed)]
        name = "teacher" if kd == "teacher" else f"student, kd={kd}"
        cells = [
            f"{by_seed[s]['AP']:.1f}" if s in by_seed and kd != "teacher" else "" for s in seeds
        ]
        row = [name, *cells, fmt([m["AP"] for m in ms], std=True)]
        row += [fmt([m.get(k) for m in ms]) for k in ("AP50", "AP75")]
        row += [fmt([(m.get("per_class") or {}).get(c) for m in ms]) for c in classes]
        lines.append("| " + " | ".join(row) + " |")
    gt = first.get("gt", "?")
    return f"{first.get('num_pages', '?')} pages of `{gt}`.\n\n" + "\n".join(lines)


def latency_table(report: Mapping, overrides: Sequence[str] = ()) -> tuple[str, list[list[str]]]:
    """``(markdown, configs)``: seconds per page (median) of every model and variant of a
    ``scripts/bench_latency.py`` report, the pairs' speed-ups, and the override lists of the
    configs it timed (one per page size and pair; ``overrides``: those the bench was given)."""
    variants = ("eager", "eager_1000", "torchscript", "onnx")
    head = ["page", "model", "params (M)", "eager", "eager, 1000 proposals", "TorchScript", "ONNX"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    pairs = ["| page | teacher -> student | eager speed-up | best student vs teacher eager |",
             "|---|---|---|---|"]  # fmt: skip
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
            best = p["student_best"]
            pairs.append(
                f"| {size} px | {p['teacher']} -> {p['student']} | {p['speedup_eager']:.2f}x | "
                f"{p['speedup_best_vs_teacher_eager']:.2f}x ({best['variant']}, "
                f"{best['median_s']:.3f} s) |"
            )
            configs.append([f"pair={pair}", f"trainer={test['trainer']}", "trainer.device=cpu"])
            configs[-1] += list(overrides)
    machine = report.get("machine", {})
    note = (
        f"Seconds per page, median of {report['settings']['reps']} runs, batch 1, "
        f"{machine.get('torch_threads', '?')} threads on {machine.get('cpus', '?')} CPUs "
        f"(load {machine.get('load_avg_1min_at_end', '?')} at the end), torch "
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


def _write_block(paths: Sequence[Path], name: str, body: str, spec: dict, record: str) -> None:
    for path in paths:
        path.write_text(replace_block(path.read_text(), name, f"{body}\n\n{record}", spec))


def write_results(
    cfg: DocTablesConfig, results: Path = RESULTS_DOC, readme: Path = README
) -> list[str]:
    """Write every table whose source exists; returns the names of the tables written."""
    import logging

    log = logging.getLogger("graphkd")
    commit, written = cfg.commit or git_commit(), []
    if (Path(cfg.demo) / "runs").is_dir():
        demo = read_demo(cfg.demo)
        problems = check_runs(demo, cfg.demo_overrides)
        if problems:
            raise ValueError(
                "runs made with other settings than demo_overrides compose to today:\n  "
                + "\n  ".join(problems[:20])
            )
        spec = _demo_spec(demo, cfg.demo_overrides)
        summary, per_class = demo_tables(demo)
        record = _record(_demo_command(cfg, demo), commit, spec)
        _write_block([results], "demo", f"{summary}\n\n{per_class}", spec, record)
        _write_block([readme], "headline", summary, spec, record)
        written += ["demo", "headline"]
        real = read_real_pages(cfg.demo)
        if real:
            gt = next(iter(next(iter(real.values())).values())).get("gt", "<pages>")
            record = _record(_demo_command(cfg, demo, gt), commit, spec)
            _write_block([results], "real", real_pages_table(real), spec, record)
            written.append("real")
    if Path(cfg.latency).is_file():
        table, configs = latency_table(_read_json(Path(cfg.latency)), cfg.latency_overrides)
        spec = {"configs": configs, "config": config_hash(configs)}
        command = " ".join([cfg.latency_command, *cfg.latency_overrides])
        _write_block([results], "latency", table, spec, _record(command, commit, spec))
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
        [latency=outputs/bench_latency.json]      # docs/results.md and README.md tables
    python scripts/doc_tables.py what=check        # name the tables made with other defaults
"""


register_tool("doc_tables", DocTablesConfig, USAGE)


def main(argv: Sequence[str] | None = None) -> Any:
    """Entry point of ``scripts/doc_tables.py`` (``argv``: overrides, for tests)."""
    import logging

    logging.basicConfig(level=logging.INFO, format="[%(asctime)s %(name)s] %(message)s")
    return run_tool("doc_tables", run, argv)
