"""Docs that cannot rot: README.md and docs/*.md are checked against the code.

(a) every relative link and #anchor resolves (GitHub's heading slugs); (b) every
``python scripts/...`` command shown names an existing script whose key=value overrides compose
(training apps through ``compose_config``, the other tools through their Hydra schema), and
every ``make`` command names a Makefile target; (c) the README's "your own data in four
commands" runs on a tiny COCO set, and docs/graph-library.md's example builds its graphs; (d) the
generated configuration reference is current and no results table was made with settings other
than today's defaults.
"""

from __future__ import annotations

import importlib
import inspect
import json
import os
import re
import shlex
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
TRAINING_APPS = {"distill.py", "train_teacher.py", "train_student.py"}
FENCE = re.compile(r"^```.*?$(.*?)^```", re.S | re.M)


# ----------------------------------------------------------------------------- parsing
def _prose(text: str) -> str:
    """``text`` without fenced code blocks."""
    return FENCE.sub("", text)


def github_slug(heading: str, seen: dict[str, int]) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces -> hyphens,
    ``-1``, ``-2`` ... for repeats."""
    text = re.sub(r"`|\*\*|\[([^\]]*)\]\([^)]*\)", r"\1", heading.strip()).lower()
    slug = re.sub(r"[^\w\- ]", "", text).replace(" ", "-")
    n = seen.get(slug, 0)
    seen[slug] = n + 1
    return slug if n == 0 else f"{slug}-{n}"


@cache
def anchors(path: Path) -> frozenset[str]:
    seen: dict[str, int] = {}
    heads = re.findall(r"^#{1,6} (.+)$", _prose(path.read_text()), re.M)
    return frozenset(github_slug(h, seen) for h in heads)


def links(path: Path) -> list[str]:
    return re.findall(r"!?\[[^\]]*\]\(([^)\s]+)\)", _prose(path.read_text()))


def _joined_lines(block: str) -> list[str]:
    """Lines of a code block with ``\\`` continuations joined and comments dropped."""
    lines, buf = [], ""
    for line in block.splitlines():
        buf += line.rstrip()
        if buf.endswith("\\"):
            buf = buf[:-1] + " "
            continue
        lines.append(re.sub(r"\s#\s.*$", "", buf).strip())
        buf = ""
    return [ln for ln in lines if ln]


def commands(path: Path) -> list[str]:
    """Every ``python scripts/...`` and ``make ...`` command shown in ``path`` (code blocks and
    inline code), with the block's shell variables (``DATA="..."``) substituted."""
    text, out = path.read_text(), []
    for block in FENCE.findall(text):
        env: dict[str, str] = {}
        for line in _joined_lines(block):
            m = re.match(r"^([A-Z_]+)=(\S.*)$", line)
            if m and not line.startswith(("OMP_", "MKL_")):
                env[m[1]] = shlex.split(m[2])[0]
                continue
            for k, v in env.items():
                line = re.sub(rf"\${k}\b", v, line)
            line = re.sub(r"^(\w+=\S+ )+", "", line)  # OMP_NUM_THREADS=1 python ...
            if line.startswith(("python scripts/", "make ")):
                out.append(line)
    prose = " ".join(_prose(text).split())
    out += [
        c for c in re.findall(r"`([^`]+)`", prose) if c.startswith(("python scripts/", "make "))
    ]
    return out


def overrides(command: str) -> tuple[str, list[str]]:
    """(script name, Hydra overrides) of a ``python scripts/X.py ...`` command: placeholders
    ``<...>`` become 0, a sweep (``-m a=x,y``) its first job, Hydra's own flags dropped."""
    command = re.sub(r"<[^>]*>", "0", command)
    words = shlex.split(command)
    script, args = Path(words[1]).name, words[2:]
    sweep = "-m" in args
    out, skip = [], False
    for a in args:
        if skip or a.startswith("-"):
            skip = a in ("--cfg", "-c", "--info")  # their value is no override
            continue
        key, _, value = a.partition("=")
        if sweep and "," in value and not value.startswith("["):
            a = f"{key}={value.split(',')[0]}"
        out.append(a)
    return script, out


ALL_COMMANDS = sorted({(p.name, c) for p in PAGES for c in commands(p)})


# ----------------------------------------------------------------------------- (a) links
@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_relative_links_and_anchors_resolve(page):
    bad = []
    for target in links(page):
        if re.match(r"^[a-z]+:", target):
            continue  # http(s), mailto
        file, _, anchor = target.partition("#")
        dest = (page.parent / file).resolve() if file else page
        if not dest.exists():
            bad.append(f"{target}: no such file")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            bad.append(f"{target}: no heading with anchor #{anchor} in {dest.name}")
    assert not bad, f"{page.name}: " + "; ".join(bad)


def test_slugs_follow_github():
    seen: dict[str, int] = {}
    assert github_slug("Install on another Python or with CUDA", seen) == (
        "install-on-another-python-or-with-cuda"
    )
    assert github_slug("Using `graph/` on its own", seen) == "using-graph-on-its-own"
    assert github_slug("Round-1 settings (issue 15)", seen) == "round-1-settings-issue-15"
    assert github_slug("Using `graph/` on its own", seen) == "using-graph-on-its-own-1"


# -------------------------------------------------------------------------- (b) commands
def test_docs_show_commands():
    assert len(ALL_COMMANDS) > 30
    assert any(c.startswith("python scripts/distill.py") for _, c in ALL_COMMANDS)


def test_make_commands_name_makefile_targets():
    targets = set(re.findall(r"^([\w-]+):", (REPO / "Makefile").read_text(), re.M))
    bad = [(p, c) for p, c in ALL_COMMANDS if c.startswith("make ") and c.split()[1] not in targets]
    assert not bad, f"unknown make targets: {bad}"


@cache
def _tool_name(script: str) -> str | None:
    """The Hydra tool a script runs: the name its package function passes to ``run_tool``."""
    found = re.search(r"^from ([\w.]+) import main$", (REPO / "scripts" / script).read_text(), re.M)
    if found is None:
        return None
    main = importlib.import_module(found.group(1)).main  # importing it registers the tool
    name = re.search(r'run_tool\(\s*"(\w+)"', inspect.getsource(main))
    return name.group(1) if name else None


def _check_command(script: str, args: list[str]) -> None:
    from graphkd.apps import tool
    from graphkd.apps.cli import compose_config

    if script in TRAINING_APPS:
        compose_config(args + (["kd=none"] if script == "train_student.py" else []))
        return
    name = _tool_name(script)
    if name is None:  # not a Hydra tool: let the script validate its own command line
        run = subprocess.run(
            [sys.executable, str(REPO / "scripts" / script), *args, "--cfg", "job"],
            capture_output=True, text=True, env=_env(), cwd=REPO, timeout=120,
        )  # fmt: skip
        assert run.returncode == 0, run.stderr[-2000:]
        return
    tool.compose_tool(name, args)


def test_python_commands_name_scripts_and_their_overrides_compose():
    bad = []
    for page, command in ALL_COMMANDS:
        if not command.startswith("python scripts/"):
            continue
        script, args = overrides(command)
        if not (REPO / "scripts" / script).is_file():
            bad.append(f"{page}: {command}: no scripts/{script}")
            continue
        if "--help" in command:
            continue
        try:
            _check_command(script, args)
        except (Exception, SystemExit) as e:  # noqa: BLE001 - report every bad command
            bad.append(f"{page}: {command}: {type(e).__name__}: {str(e)[:300]}")
    assert not bad, "\n".join(bad)


# --------------------------------------------------------------- (c) your own data, run
def _env() -> dict[str, str]:
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONHASHSEED="0")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


TINY = [
    "trainer.min_size=96",
    "trainer.max_size=128",
    "trainer.ims_per_batch=2",
    "trainer.rois_per_image=16",
    "trainer.teacher_max_iter=2",
    "trainer.max_iter=2",
    "trainer.warmup_iters=1",
    "trainer.log_period=1",
    "trainer.checkpoint_period=100",
    "trainer.fpn_channels=32",
    "dataset.check_images=all",
]


def write_tiny_coco(root: Path) -> None:
    """/data as the README's commands expect it: train.json, val.json, images/, new_pages/."""
    from PIL import Image, ImageDraw

    (root / "images").mkdir(parents=True)
    (root / "new_pages").mkdir()
    cats = [{"id": 1, "name": "paragraph"}, {"id": 2, "name": "figure"}]
    split: dict[str, dict] = {s: {"images": [], "annotations": [], "categories": cats}
                              for s in ("train", "val")}  # fmt: skip
    for i in range(6):
        page = Image.new("RGB", (96, 128), "white")
        draw = ImageDraw.Draw(page)
        boxes = [(1, [8, 8 + 6 * i % 20, 60, 20]), (2, [20, 60, 50, 40])]
        for cat, (x, y, w, h) in boxes:
            draw.rectangle([x, y, x + w, y + h], fill="black" if cat == 1 else "gray")
        name = f"page{i}.png"
        page.save(root / "images" / name)
        if i < 2:
            page.save(root / "new_pages" / name)
        d = split["train" if i < 4 else "val"]
        d["images"].append({"id": i + 1, "file_name": name, "width": 96, "height": 128})
        d["annotations"] += [
            {"id": 10 * i + k, "image_id": i + 1, "category_id": c, "bbox": b,
             "area": b[2] * b[3], "iscrowd": 0}
            for k, (c, b) in enumerate(boxes)
        ]  # fmt: skip
    for s, d in split.items():
        (root / f"{s}.json").write_text(json.dumps(d))


def readme_four_commands() -> str:
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Your own data in four commands", 1)[1]
    return FENCE.search(section).group(1)


def test_readme_four_commands_run_on_a_tiny_coco_set(tmp_path):
    block = readme_four_commands()
    lines = [ln for ln in _joined_lines(block)]
    assert sum(ln.startswith("python scripts/") for ln in lines) == 4
    data = tmp_path / "data"
    write_tiny_coco(data)
    script = ["set -e"]
    for line in lines:
        line = line.replace("/data/", f"{data}/").replace(
            "python scripts/", f"{sys.executable} {REPO}/scripts/"
        )
        if "train_teacher.py" in line or "distill.py" in line:
            line += " " + " ".join(TINY)
        if "export.py" in line:
            line += " formats=torchscript"
        script.append(line)
    run = subprocess.run(["bash", "-c", "\n".join(script)], cwd=tmp_path, env=_env(),
                         capture_output=True, text=True, timeout=600)  # fmt: skip
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    student = tmp_path / "outputs/runs/custom/r50_r18/graphkd/seed0"
    assert (student / "job_done.json").is_file()
    preds = json.loads((tmp_path / "predictions" / "predictions.json").read_text())
    assert isinstance(preds, list)
    assert (student / "model.ts").is_file() and (student / "export.json").is_file()


def test_graph_library_example_builds_paired_graphs():
    import torch
    from torch_geometric.data import Batch

    text = (REPO / "docs" / "graph-library.md").read_text()
    (block,) = re.findall(r"^```python\n(.*?)^```", text, re.S | re.M)
    torch.manual_seed(0)
    scope: dict = {}
    exec(compile(block, "docs/graph-library.md", "exec"), scope)
    t, s = scope["t_graph"], scope["s_graph"]
    # What the page says of build_pair's result: one plan, two graphs.
    assert isinstance(t, Batch) and isinstance(s, Batch)
    for key in ("node_type", "cluster", "edge_index", "edge_type"):
        assert torch.equal(t[key], s[key]), key
    assert not t.x.requires_grad and s.x.requires_grad
    assert t.x.shape == s.x.shape == (t.num_nodes, 256 * 7 * 7)


# ------------------------------------------------------------ (d) generated content
def test_configuration_reference_is_current():
    from graphkd.apps.config_reference import CONFIG_DOC, config_reference

    assert CONFIG_DOC.read_text() == config_reference(), (
        "docs/configuration.md is out of date: run `python scripts/doc_tables.py what=config`"
    )


def test_no_results_table_is_stale():
    from graphkd.apps.doc_blocks import stale_tables

    stale = stale_tables()
    assert not stale, (
        f"tables made with settings other than today's defaults: {stale}; rerun the command in "
        "their record line, then `python scripts/doc_tables.py what=results`"
    )


def test_readme_is_a_product_page():
    readme = (REPO / "README.md").read_text()
    assert len(readme.splitlines()) <= 250
    for page in PAGES:
        if page.name != "experiments.md":
            found = re.findall(r"\bround \d", page.read_text(), re.I)
            assert not found, f"{page.name}: lab-notebook labels {found} belong in experiments.md"
