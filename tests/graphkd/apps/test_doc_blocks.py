"""graphkd.apps.doc_blocks: the config hash and the marker blocks."""

from __future__ import annotations

import pytest

from graphkd.apps import doc_blocks as db


def test_hash_ignores_where_outputs_go_not_what_runs():
    assert db.config_hash([["outputs=/a"]]) == db.config_hash(
        [["outputs=/b", "trainer.resume=true"]]
    )
    assert db.config_hash([[]]) != db.config_hash([["trainer.max_iter=7"]])


def test_blocks_without_markers_and_placeholders():
    assert db.read_blocks("<!-- BEGIN doc_tables:x -->\nTBD\n<!-- END doc_tables:x -->") == {
        "x": None
    }
    with pytest.raises(KeyError, match="doc_tables:y"):
        db.replace_block("no markers", "y", "body")
