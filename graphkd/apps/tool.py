"""Run a command-line tool as a Hydra app: the one convention of every ``scripts/`` entry point.

A tool's options are a dataclass stored in Hydra's ConfigStore under the tool's name
(:func:`register_tool`), so the command line is Hydra's (``key=value`` overrides, ``--help``,
``--cfg job``) and a wrong key or a wrongly typed value fails before the tool runs. A schema may
extend another dataclass: the training root :class:`graphkd.core.config.Config` (the tool then
composes ``configs/config.yaml`` and takes every training override, e.g. ``dataset=docbank
trainer.max_iter=100``) or :class:`graph.GraphConfig`; the command-line overrides of the base's
keys are then handed to the tool in ``cfg.overrides``, to forward to the jobs it starts.

Tools write nothing of Hydra's in the user's directory (no ``outputs/<date>`` run folder, no
``.hydra/``, no log file) and leave logging to the tool; the training jobs (``distill``,
``train_teacher``, :mod:`graphkd.apps.cli`) keep their Hydra run directories. A list option takes
comma-separated values as the tools always did (``bench.sizes=320,800``, ``seeds=0,1,2``; Hydra
alone would read them as a sweep).
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import hydra
from hydra import compose, initialize_config_dir
from hydra.core.config_store import ConfigStore
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.errors import HydraException
from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from graphkd.apps.cli import CONFIG_DIR
from graphkd.core.config import Config

__all__ = ["register_tool", "run_tool"]

T = TypeVar("T")

# Errors of the user's input that the command line reports as ``error: ...`` (no traceback).
USER_ERRORS = (FileNotFoundError, ValueError, ImportError)
_SCHEMAS: dict[str, type] = {}


def _help_template(usage: str) -> str:
    # Hydra fills the template with string.Template: a literal "$" is written "$$".
    text = usage.strip().replace("$", "$$")
    return f"{text}\n\nOptions and their defaults:\n\n$CONFIG"


def register_tool(name: str, schema: type, usage: str) -> None:
    """Store ``schema`` (a dataclass) as the options of tool ``name``; ``usage`` is ``--help``.

    A schema extending :class:`Config` composes ``configs/config.yaml`` first, so the training
    config's groups and keys can be overridden as well.
    """
    cs = ConfigStore.instance()
    cs.store(name=f"{name}_schema", node=schema)
    defaults: list[Any] = ["config"] if issubclass(schema, Config) else []
    defaults += [
        f"{name}_schema",
        "_self_",
        {"override hydra/job_logging": "none"},
        {"override hydra/hydra_logging": "none"},
    ]
    hydra_cfg = {"output_subdir": None, "run": {"dir": "."}, "job": {"chdir": False},
                 "help": {"template": _help_template(usage)}}  # fmt: skip
    cs.store(name=name, node={"defaults": defaults, "hydra": hydra_cfg})
    _SCHEMAS[name] = schema


def _own_keys(schema: type) -> set[str]:
    """Fields ``schema`` adds to the dataclass it extends (all its fields when it extends none)."""
    names = {f.name for f in dataclasses.fields(schema)}
    base = next((b for b in schema.__mro__[1:] if dataclasses.is_dataclass(b)), None)
    return names - {f.name for f in dataclasses.fields(base)} if base else names


def _quote(value: str) -> str:
    if value and all(c.isalnum() or c in "/._-+:@%~" for c in value):
        return value
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _is_list(typed: DictConfig, key: str) -> bool:
    node: Any = typed
    try:
        for part in key.split("."):
            node = node._get_node(part)
    except (AttributeError, OmegaConfBaseException):
        return False
    return isinstance(node, ListConfig)


def _as_lists(schema: type, argv: Sequence[str]) -> list[str]:
    """``key=a,b`` -> ``key=[a,b]`` (and ``key=a`` -> ``key=[a]``) for the schema's list options."""
    typed = OmegaConf.structured(schema)
    out = []
    for arg in argv:
        key, sep, value = arg.partition("=")
        if sep and _is_list(typed, key.lstrip("+~")) and not value.startswith(("[", "'", '"')):
            value = "[" + ",".join(_quote(v) for v in value.split(",") if v) + "]"
            arg = f"{key}={value}"
        out.append(arg)
    return out


def _prepare(name: str, cfg: DictConfig, overrides: Sequence[str]) -> DictConfig:
    missing = sorted(OmegaConf.missing_keys(cfg))
    if missing:
        raise SystemExit(f"error: missing {', '.join(k + '=...' for k in missing)} (see --help)")
    schema = _SCHEMAS[name]
    if "overrides" in {f.name for f in dataclasses.fields(schema)}:
        own = _own_keys(schema)
        forward = [o for o in overrides if o.lstrip("+~").split("=")[0].split(".")[0] not in own]
        cfg.overrides = forward
    return cfg


def compose_tool(name: str, argv: Sequence[str]) -> DictConfig:
    """Tool ``name``'s options composed with ``argv`` (SystemExit naming a bad key or value)."""
    overrides = _as_lists(_SCHEMAS[name], argv)
    try:
        if GlobalHydra.instance().is_initialized():  # inside a running app (search path: configs/)
            cfg = compose(config_name=name, overrides=overrides)
        else:
            with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
                cfg = compose(config_name=name, overrides=overrides)
    except (HydraException, OmegaConfBaseException) as e:
        cause = f" ({e.__cause__})" if e.__cause__ is not None else ""
        raise SystemExit(f"error: {e}{cause}\n(see --help)") from None
    return _prepare(name, cfg, overrides)


def run_tool(
    name: str, task: Callable[[DictConfig], T], argv: Sequence[str] | None = None
) -> T | None:
    """Run ``task`` on tool ``name``'s options; returns what it returns.

    ``argv`` (a list of overrides): composed with Hydra's compose API and run in this process,
    errors raised as they are (the library and test use). ``None``: the command line, as a Hydra
    app (``--help``, ``--cfg job``), where the user's input errors end as ``error: ...``; returns
    None then, since a console script exits with the status its function returns.
    """
    if argv is not None:
        return task(compose_tool(name, argv))
    sys.argv = [sys.argv[0], *_as_lists(_SCHEMAS[name], sys.argv[1:])]

    def app(cfg: DictConfig) -> None:
        cfg = _prepare(name, cfg, HydraConfig.get().overrides.task)
        try:
            task(cfg)
        except USER_ERRORS as e:
            raise SystemExit(f"error: {e}") from None

    hydra.main(config_path=CONFIG_DIR, config_name=name, version_base="1.3")(app)()
    return None
