"""The scripts' key=value parsing: own arguments vs Hydra overrides."""

import pytest

from graphkd.apps.kvargs import parse_kv, split_own


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


def test_every_script_takes_key_value_arguments():
    """One command-line convention: no argparse flags, no sys.path edits (the project is
    installed, or PYTHONPATH names the checkout)."""
    from pathlib import Path

    scripts = sorted((Path(__file__).resolve().parents[1] / "scripts").glob("*.py"))
    assert len(scripts) > 10
    for path in scripts:
        text = path.read_text()
        assert "argparse" not in text and "sys.path.insert" not in text, path.name


def test_bench_graph_arguments():
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    sys.path.insert(0, str(repo / "scripts"))
    try:
        import bench_graph
    finally:
        sys.path.remove(str(repo / "scripts"))
    assert bench_graph.int_list("64,128,") == [64, 128]
    with pytest.raises(SystemExit, match="bad argument '--sizes'"):
        bench_graph.main(["--sizes", "64"])
    with pytest.raises(SystemExit, match="not a valid int_list"):
        bench_graph.main(["sizes=a"])
    r = subprocess.run([sys.executable, str(repo / "scripts" / "bench_graph.py"), "-h"],
                       capture_output=True, text=True, cwd=repo, timeout=120,
                       env={"PYTHONPATH": str(repo), "PATH": "/usr/bin:/bin"})  # fmt: skip
    assert r.returncode == 0 and "sizes=64,128,256,512" in r.stdout, r.stderr
