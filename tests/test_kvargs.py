"""The scripts' key=value parsing: own arguments vs Hydra overrides."""

import pytest

from detectors.kvargs import parse_kv, split_own


def test_split_own_by_keys_and_prefix():
    argv = ["seeds=3", "+outputs=o", "dataset=docbank", "trainer.max_iter=5", "-h"]
    assert split_own(argv, ("seeds", "outputs")) == (
        ["seeds=3", "+outputs=o", "-h"],
        ["dataset=docbank", "trainer.max_iter=5"],
    )
    own, rest = split_own(["bench.iters=2", "+bench.out=x", "kd=dsig"], prefix="bench.")
    assert own == ["iters=2", "out=x"] and rest == ["kd=dsig"]


def test_own_arguments_are_typed_and_unknown_prefixed_keys_named():
    own, _ = split_own(["bench.iters=2", "bench.itres=3"], prefix="bench.")
    with pytest.raises(SystemExit, match="itres"):
        parse_kv(own, {"iters": int, "out": str})
    assert parse_kv(own[:1], {"iters": int}) == {"iters": 2}
    with pytest.raises(SystemExit, match="missing student"):
        parse_kv([], {"student": str}, ("student",))
