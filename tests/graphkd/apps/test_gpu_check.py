"""scripts/gpu_check.sh's CPU dry run: the GPU check's whole path (trainer=gpu's settings, the
teacher, the graphkd and dsig students, evaluation, the device comparison, the JSON report) at toy
sizes, with detectron2's compiled ``_C`` and OpenCV unimportable in every process, as on the GPU
machine. ~1 min on 2 busy cores."""

from __future__ import annotations

import json
import math
import os
import subprocess

from e2e_helpers import PYTHON, REPO, script_env

from graphkd.apps.gpu_check import CUDA_TOLERANCE, STUDENTS

# Imported by every Python process the script starts (PYTHONPATH's sitecustomize.py).
_HIDE = 'import sys\nfor m in ("detectron2._C", "cv2"):\n    sys.modules[m] = None\n'


def test_gpu_check_dry_run_without_detectron2_C(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(_HIDE)
    env = script_env()
    env.update(
        PYTHON=PYTHON,
        PYTHONPATH=os.pathsep.join([str(site), str(REPO)]),
        GPU_CHECK_DRY_RUN="1",
        GPU_CHECK_OUT=str(tmp_path / "report"),
        GPU_CHECK_WORK=str(tmp_path / "work"),
    )
    hidden = subprocess.run([PYTHON, "-c", "import detectron2._C"], env=env, capture_output=True)
    assert hidden.returncode != 0  # the sitecustomize.py is in effect

    proc = subprocess.run(
        ["bash", str(REPO / "scripts" / "gpu_check.sh"), "trainer.log_period=1"],
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    report = json.loads((tmp_path / "report" / "gpu_check.json").read_text())
    assert report["ok"] and report["dry_run"] and report["device"] == "cpu"
    assert "trainer=gpu" in report["overrides"] and "trainer.amp=false" in report["overrides"]
    assert set(report["jobs"]) == {"teacher", *STUDENTS}
    for job in report["jobs"].values():
        assert math.isfinite(job["AP"]) and job["wall_s"] > 0 and job["peak_gpu_mb"] is None
    devices = report["cuda_vs_cpu"]
    assert devices["match"] and devices["tolerance"] == CUDA_TOLERANCE
    assert len(devices["pages"]) == 2 and all(p["num_reference"] > 0 for p in devices["pages"])
