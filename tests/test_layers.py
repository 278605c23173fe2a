"""The import rule of docs/architecture.md: imports go one way, down the layers.

    scripts/ -> graphkd.apps -> graphkd.core -> detectors -> pagedata
                                            \\-> graph

Checked on the source (every ``import`` / ``from ... import``, function-local ones included),
so a lazy import inside a function cannot hide a wrong-way dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# layer -> the project layers and the third-party top-level packages it must not import
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "pagedata": ("graph", "detectors", "graphkd", "detectron2", "torch", "hydra", "omegaconf"),
    "graph": ("pagedata", "detectors", "graphkd", "detectron2", "hydra"),
    "detectors": ("graph", "graphkd", "hydra"),
    "graphkd.core": ("graphkd.apps", "hydra"),
    "graphkd.apps": (),
}


def _layer(path: Path) -> str | None:
    parts = path.relative_to(ROOT).with_suffix("").parts
    if parts[0] == "graphkd" and len(parts) > 2:
        return f"graphkd.{parts[1]}"
    return parts[0] if parts[0] in FORBIDDEN else None


def _imports(source: str, package: str) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in ``source``, a module of ``package``."""
    tree = ast.parse(source)
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            out.append((node.lineno, module))
            # ``from graphkd import apps`` imports graphkd.apps
            out += [(node.lineno, f"{module}.{a.name}") for a in node.names]
    return out


def _package(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])


def _sources() -> list[Path]:
    return sorted(
        p
        for top in ("pagedata", "graph", "detectors", "graphkd")
        for p in (ROOT / top).rglob("*.py")
    )


def _violates(module: str, banned: str) -> bool:
    return module == banned or module.startswith(banned + ".")


@pytest.mark.parametrize("path", _sources(), ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_go_down_the_layers(path):
    layer = _layer(path)
    if layer is None:  # package roots such as graphkd/__init__.py
        return
    bad = [
        f"{path.relative_to(ROOT)}:{line} imports {module} ({layer} must not import {banned})"
        for line, module in _imports(path.read_text(), _package(path))
        for banned in FORBIDDEN[layer]
        if _violates(module, banned)
    ]
    assert not bad, "\n".join(bad)


def test_every_source_file_has_a_layer():
    orphans = [
        str(p.relative_to(ROOT))
        for p in _sources()
        if _layer(p) is None and p.name != "__init__.py"
    ]
    assert not orphans, f"modules outside the layers of docs/architecture.md: {orphans}"


def test_the_rule_sees_lazy_and_relative_imports():
    lazy = "def f():\n    from detectors.datasets import DATASETS\n"
    assert any(_violates(m, "detectors") for _, m in _imports(lazy, "pagedata"))
    relative = "from ..apps import cli\n"
    assert any(_violates(m, "graphkd.apps") for _, m in _imports(relative, "graphkd.core"))
    assert not any(
        _violates(m, "graphkd.apps") for _, m in _imports("import graph\n", "graphkd.core")
    )
