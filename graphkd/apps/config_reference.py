"""The configuration reference, ``docs/configuration.md``, generated from the Hydra schema.

Every key of the schema (the :mod:`graphkd.core.config` dataclasses and those they nest) is
listed with its type, default and meaning; the meaning is the field's comment (the lines right
above it and its trailing comment) or its entry in the class docstring's ``Attributes:``
section (:func:`field_docs`). Every preset of ``configs/`` is listed with its header comment and
the keys it sets. ``python scripts/doc_tables.py what=config`` writes the page;
``tests/test_docs.py`` fails when the page differs from :func:`config_reference`.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import io
import json
import re
import textwrap
import tokenize
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from omegaconf import OmegaConf

import graphkd.core.config as config_module
from graphkd.core.config import Config, as_override, flat_keys

__all__ = ["CONFIG_DOC", "config_reference", "field_docs", "schema_rows"]

CONFIG_DOC = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"
GROUPS = ("dataset", "pair", "kd", "trainer")


def _comments(source: str) -> dict[int, str]:
    """line number (1-based) -> comment text of every ``#`` comment in ``source``."""
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
        meaning = docs.get(f.name, "").replace("|", "\\|")
        rows.append((f"{prefix}{f.name}", f"`{f.type}`", _cell(value), meaning))
    return rows


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
            f"`{as_override(k, v)}`"
            for k, v in flat_keys(OmegaConf.to_container(OmegaConf.load(path))).items()
            if k != "name"
        ]
        name = f"`{group}={path.stem}`" + (" (default)" if path.stem == default else "")
        rows.append(f"| {name} | {about} | {', '.join(sets) or '-'} |")
    return rows


def config_reference(config_dir: str | Path | None = None) -> str:
    """``docs/configuration.md``: every group and key of the schema with its default and
    meaning, and every preset of ``configs/`` with the keys it sets."""
    from graphkd.apps.cli import CONFIG_DIR

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
        f"| `{k}` | `{f.type}` | {_cell(root.get(k, _default(f)))} | {docs.get(k, '')} |"
        for k, f in top.items()
        if k not in GROUPS
    ]
    for group in GROUPS:
        cls = _dataclass_of(top[group])
        about = cls.__doc__ if cls.__doc__ and not cls.__doc__.startswith(cls.__name__) else ""
        about = " ".join(inspect.cleandoc(about).split("\n\n")[0].split())
        out += ["", f"## {group}", "", about, ""]
        out += ["| preset | what | sets |", "|---|---|---|"]
        out += _preset_rows(config_dir, group, defaults[group])
        out += ["", "| key | type | schema default | meaning |", "|---|---|---|---|"]
        out += [f"| `{group}.{k}` | {t} | {d} | {m} |" for k, t, d, m in schema_rows(cls)]
    return "\n".join(line.rstrip() for line in out) + "\n"


def _dataclass_of(f: dataclasses.Field) -> type:
    return getattr(config_module, str(f.type).split("|")[0].strip())
