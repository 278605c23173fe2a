"""Generated blocks in the docs: the markers a tool writes a table between, the record line
under it, and the config hash that makes a stale table findable.

A block is ``<!-- BEGIN doc_tables:<name> {spec} -->`` ... ``<!-- END doc_tables:<name> -->``;
``spec`` holds the Hydra override lists the table's runs were composed from and ``config``,
their hash (:func:`config_hash`). :func:`stale_tables` recomputes the hash with today's configs
and defaults and names every block that no longer matches. The tables themselves live in
:mod:`graphkd.apps.doc_tables`.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
import subprocess
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from graphkd.core.config import canonical_widths

__all__ = [
    "OUTPUTS_PLACEHOLDER",
    "README",
    "RESULTS_DOC",
    "config_hash",
    "git_commit",
    "normalized_config",
    "read_blocks",
    "record_line",
    "replace_block",
    "stale_tables",
    "strip_outputs",
    "write_block",
]

REPO = Path(__file__).resolve().parents[2]
RESULTS_DOC = REPO / "docs" / "results.md"
README = REPO / "README.md"

# Keys that say where a run lives or how it was started, not what it computes.
VOLATILE = ("outputs", "run_dir", "overrides", "trainer.resume")
OUTPUTS_PLACEHOLDER = "<outputs>"
BLOCK = re.compile(
    r"<!-- BEGIN doc_tables:(?P<name>[\w-]+)(?: (?P<spec>\{.*?\}))? -->\n"
    r"(?P<body>.*?)<!-- END doc_tables:(?P=name) -->",
    re.S,
)


# ----------------------------------------------------------------------- config hashing
def strip_outputs(tree: Any, outputs: str) -> Any:
    """``tree`` with every string under the ``outputs`` folder written relative to a placeholder
    (a run made with ``outputs=/tmp/x`` computes what one made with ``outputs=outputs`` does)."""
    if isinstance(tree, dict):
        return {k: strip_outputs(v, outputs) for k, v in tree.items()}
    if isinstance(tree, list):
        return [strip_outputs(v, outputs) for v in tree]
    if isinstance(tree, str) and outputs and (tree == outputs or tree.startswith(outputs + "/")):
        return OUTPUTS_PLACEHOLDER + tree[len(outputs) :]
    return tree


def normalized_config(cfg: DictConfig | Mapping) -> dict:
    """The resolved config as a plain dict without :data:`VOLATILE` keys and with the outputs
    folder replaced by a placeholder: what decides the numbers a run produces."""
    tree = canonical_widths(OmegaConf.to_container(OmegaConf.create(cfg), resolve=True))
    tree = strip_outputs(tree, str(tree.get("outputs", "")))
    for key in VOLATILE:
        *parents, leaf = key.split(".")
        node = tree
        for p in parents:
            node = node.get(p, {})
        node.pop(leaf, None)
    return tree


@cache
def _normalized_today(overrides: tuple[str, ...]) -> dict:
    from graphkd.apps.cli import compose_config

    return normalized_config(compose_config(list(overrides)))


def normalized_today(overrides: Sequence[str]) -> dict:
    """:func:`normalized_config` of the config ``overrides`` compose to today (a fresh copy).

    Composed once per process and override list: a composition takes ~0.5 s, and a table's
    checks (:func:`~graphkd.apps.tables.runs.run_changes`) and its hash (:func:`config_hash`)
    compose the same lists again."""
    return copy.deepcopy(_normalized_today(tuple(overrides)))


def config_hash(configs: Sequence[Sequence[str]]) -> str:
    """``sha256:<12 hex>`` of the normalized, resolved configs composed with each override list
    (``OmegaConf.to_yaml`` of :func:`normalized_config`, joined in the given order)."""
    text = "---\n".join(OmegaConf.to_yaml(OmegaConf.create(normalized_today(o))) for o in configs)
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


def record_line(command: str | Sequence[str], commit: str, spec: Mapping) -> str:
    """The line under a table: the command(s) that made its runs, the commit, the config hash."""
    commands = [f"`{c}`" for c in ([command] if isinstance(command, str) else command)]
    made_by = ", ".join(commands[:-1]) + " and " * (len(commands) > 1) + commands[-1]
    return (
        f"*Record: made by {made_by} at commit `{commit}`; resolved config "
        f"`{spec['config']}` (`python scripts/doc_tables.py` recomputes it).*"
    )


def git_commit(repo: Path = REPO) -> str:
    """Short hash of the checkout's HEAD, ``+dirty`` when tracked files are modified."""
    run = lambda *a: subprocess.run(  # noqa: E731
        ["git", *a], cwd=repo, capture_output=True, text=True, check=False
    ).stdout.strip()
    head = run("rev-parse", "--short", "HEAD") or "unknown"
    return head + ("+dirty" if run("status", "--porcelain", "--untracked-files=no") else "")


def write_block(paths: Sequence[Path], name: str, body: str, spec: dict, record: str) -> None:
    """Replace the block ``name`` of every file in ``paths`` by ``body`` and its record line."""
    for path in paths:
        path.write_text(replace_block(path.read_text(), name, f"{body}\n\n{record}", spec))
