"""A non-editable install works: the wheel ships every package and the Hydra configs, and the
console scripts run from another directory against the installed copy (not this checkout).

The wheel is built from a copy of the sources (no build/ or egg-info in the checkout) without
build isolation or network, and installed with ``pip install --no-deps --target``.
"""

from __future__ import annotations

import configparser
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from setuptools import find_packages

REPO = Path(__file__).resolve().parents[1]
SOURCES = ("pyproject.toml", "README.md", "graph", "pagedata", "detectors", "graphkd", "configs")
SCRIPTS = {
    "graphkd-distill",
    "graphkd-train-teacher",
    "graphkd-train-student",
    "graphkd-evaluate",
    "graphkd-predict",
    "graphkd-export",
}
PIP = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("packaging")
    src = root / "src"
    src.mkdir()
    for name in SOURCES:
        path = REPO / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(path, src / name)
    wheels, site = root / "wheels", root / "site"
    subprocess.run([*PIP, "wheel", "--no-deps", "--no-build-isolation", "--no-index", str(src),
                    "-w", str(wheels)], check=True, capture_output=True, timeout=300)  # fmt: skip
    (wheel,) = wheels.glob("graphkd-*.whl")
    subprocess.run([*PIP, "install", "--no-deps", "--no-index", "--target", str(site), str(wheel)],
                   check=True, capture_output=True, timeout=300)  # fmt: skip
    cwd = root / "elsewhere"  # not the checkout: nothing can be found relative to it
    cwd.mkdir()
    return {"wheel": wheel, "site": site, "cwd": cwd}


def _run(installed, *commands: list[str]) -> list[subprocess.CompletedProcess]:
    """Run ``commands`` at the same time (each imports torch: seconds) from the other cwd."""
    env = {**os.environ, "PYTHONPATH": str(installed["site"])}
    procs = [subprocess.Popen(c, cwd=installed["cwd"], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for c in commands]  # fmt: skip
    results = []
    for c, p in zip(commands, procs):
        out, err = p.communicate(timeout=300)
        results.append(subprocess.CompletedProcess(c, p.returncode, out, err))
    return results


def test_wheel_ships_packages_and_configs(installed):
    names = zipfile.ZipFile(installed["wheel"]).namelist()
    shipped = {n.rsplit("/", 1)[0].replace("/", ".") for n in names if n.endswith("/__init__.py")}
    source = set(find_packages(str(REPO), include=["graph*", "detectors*", "graphkd*"]))
    assert source <= shipped, f"add {sorted(source - shipped)} to [tool.setuptools] packages"
    configs = {str(p.relative_to(REPO / "configs")) for p in (REPO / "configs").rglob("*.yaml")}
    packaged = {
        n.removeprefix("graphkd/configs/") for n in names if n.startswith("graphkd/configs/")
    }
    assert configs == packaged
    (entry_points,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
    parser = configparser.ConfigParser()
    parser.read_string(zipfile.ZipFile(installed["wheel"]).read(entry_points).decode())
    assert set(parser["console_scripts"]) == SCRIPTS


def test_console_scripts(installed, tmp_path):
    bin_dir = installed["site"] / "bin"
    assert {p.name for p in bin_dir.iterdir()} >= SCRIPTS
    gt = {"images": [{"id": 1, "width": 100, "height": 100, "file_name": "a.png"}],
          "categories": [{"id": 1, "name": "text"}],
          "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 10, 50, 50],
                           "area": 2500, "iscrowd": 0}]}  # fmt: skip
    pred = [{"image_id": 1, "category_id": 1, "bbox": [10, 10, 50, 50], "score": 0.9}]
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "pred.json").write_text(json.dumps(pred))
    distill, student, teacher, predict, export, evaluate, missing, preset = _run(
        installed,
        [str(bin_dir / "graphkd-distill"), "--cfg", "all", "pair=r101_r50", "trainer=gpu"],
        [str(bin_dir / "graphkd-train-student"), "--cfg", "job"],
        [str(bin_dir / "graphkd-train-teacher"), "--help"],
        [str(bin_dir / "graphkd-predict"), "--help"],
        [str(bin_dir / "graphkd-export"), "--help"],
        [str(bin_dir / "graphkd-evaluate"), f"gt={tmp_path / 'gt.json'}",
         f"predictions={tmp_path / 'pred.json'}", f"out={tmp_path / 'm.json'}"],
        [str(bin_dir / "graphkd-evaluate"), f"gt={tmp_path / 'nope.json'}",
         f"predictions={tmp_path / 'pred.json'}"],
        [sys.executable, "-c", "from graphkd.apps.artifacts import graph_config as g; "
                               "print(g('dsig')[1].edge_metric)"],  # composed from configs/
    )  # fmt: skip
    assert distill.returncode == 0, distill.stderr
    assert "name: r101_r50" in distill.stdout and "eval_period: 10000" in distill.stdout
    # composed from the installed copy of configs/, by the installed package
    assert f"path: {installed['site'] / 'graphkd' / 'configs'}" in distill.stdout
    assert str(REPO) not in distill.stdout
    assert student.returncode == 0 and "method: none" in student.stdout, student.stderr
    assert teacher.returncode == 0 and "dataset: " in teacher.stdout, teacher.stderr
    assert predict.returncode == 0 and "dpi" in predict.stdout, predict.stderr
    assert export.returncode == 0 and "formats=" in export.stdout, export.stderr
    assert evaluate.returncode == 0, evaluate.stderr
    assert json.loads((tmp_path / "m.json").read_text())["AP"] == pytest.approx(100.0)
    assert missing.returncode == 1
    assert missing.stderr.startswith("error: Ground-truth json not found"), missing.stderr
    assert preset.returncode == 0 and preset.stdout.split() == ["cosine"], preset.stderr
    assert not any(installed["cwd"].iterdir()), "nothing written to the working directory"
