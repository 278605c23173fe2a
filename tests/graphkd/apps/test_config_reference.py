"""graphkd.apps.config_reference: every key of the schema has a meaning, read from the field's
comments or its class docstring's ``Attributes:`` section."""

from __future__ import annotations

from dataclasses import dataclass

from graphkd.apps.config_reference import config_reference, field_docs, schema_rows
from graphkd.core.config import Config, DatasetConfig, KDConfig, PairConfig, TrainerConfig


@dataclass
class _Documented:
    """Fields documented three ways.

    Attributes:
        c, d: from the docstring, on two
            lines.
    """

    # above,
    # on two lines
    a: int = 1
    b: str = "x"  # trailing
    c: float = 0.5
    d: bool = True  # the comment wins over the docstring


def test_field_docs_reads_comments_and_attributes():
    assert field_docs(_Documented) == {
        "a": "above, on two lines",
        "b": "trailing",
        "c": "from the docstring, on two lines.",
        "d": "the comment wins over the docstring",
    }


def test_every_schema_key_has_a_meaning():
    groups = {
        "dataset": DatasetConfig,
        "pair": PairConfig,
        "kd": KDConfig,
        "trainer": TrainerConfig,
    }
    rows = [r for r in schema_rows(Config) if r[0] not in groups]  # groups: their own tables
    rows += [r for group, cls in groups.items() for r in schema_rows(cls, f"{group}.")]
    undocumented = [key for key, _, _, meaning in rows if not meaning]
    assert not undocumented, f"add a comment to these schema fields: {undocumented}"


def test_every_group_has_an_about_line():
    text = config_reference()
    for group in ("dataset", "pair", "kd", "trainer"):
        about = text.split(f"\n## {group}\n\n", 1)[1].split("\n", 1)[0]
        assert about and not about.startswith("|"), group
