#!/usr/bin/env bash
# The GPU check: trainer=gpu (AMP through detectron2's AMPTrainer) teacher and kd=graphkd /
# kd=dsig students on 800-px synthetic pages, their evaluation, the graphkd student's CUDA eager
# detections against CPU eager ones on the same weights, seconds per iteration and peak GPU memory
# (one JSON report), then the CUDA-only tests. See docs/ci.md.
#
# Made for a machine with one CUDA GPU, Python 3.12, torch, torchvision, torch-geometric, numpy and
# pytest, but no detectron2, Hydra, pycocotools, fvcore, ... and no network: those come from
# .gpu_wheels/, which `bash scripts/gpu_wheels.sh` fills on a machine with a package index.
#
#   bash scripts/gpu_check.sh [hydra overrides]     # on the GPU machine (<= 5 min on one H100)
#   GPU_CHECK_DRY_RUN=1 bash scripts/gpu_check.sh   # the same path on CPU at toy sizes, no install
#
# The report goes to $GPU_CHECK_OUT (else $OUT, else outputs/gpu_check)/gpu_check.json; the runs
# (checkpoints, pages) to $GPU_CHECK_WORK (default: a fresh temporary folder). Exit status 0 when
# every job's AP is finite, the CUDA and CPU detections match and the CUDA tests pass.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
PY=${PYTHON:-python3}
REPORT_DIR=${GPU_CHECK_OUT:-${OUT:-$REPO/outputs/gpu_check}}
WORK=${GPU_CHECK_WORK:-$(mktemp -d -t graphkd_gpu_check.XXXXXX)}
mkdir -p "$REPORT_DIR" "$WORK"
export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}"

if [[ "${GPU_CHECK_DRY_RUN:-0}" == 1 ]]; then
  exec "$PY" -m graphkd.apps.gpu_check dry_run=true "work=$WORK" \
    "report=$REPORT_DIR/gpu_check.json" "$@"
fi

# The missing packages go to a private folder put on PYTHONPATH: the machine's own torch, numpy
# and Pillow stay in charge (the folder holds none of them).
WHEELS=${GPU_WHEELS:-$REPO/.gpu_wheels}
SITE=${GPU_SITE:-$WORK/site}
if [[ ! -f "$SITE/.installed" ]]; then
  if [[ ! -f "$WHEELS/detectron2-nocompiled.zip" ]]; then
    echo "error: $WHEELS/detectron2-nocompiled.zip missing: run 'bash scripts/gpu_wheels.sh' on a" \
      "machine with a package index first" >&2
    exit 2
  fi
  if "$PY" -m pip --version >/dev/null 2>&1; then
    "$PY" -m pip install -q --disable-pip-version-check --no-index --find-links "$WHEELS" \
      --no-deps --target "$SITE" "$WHEELS"/*.whl
  else  # no pip: a wheel is a zip of its site-packages files
    for whl in "$WHEELS"/*.whl; do "$PY" -m zipfile -e "$whl" "$SITE"; done
  fi
  "$PY" -m zipfile -e "$WHEELS/detectron2-nocompiled.zip" "$SITE"
  touch "$SITE/.installed"
fi
export PYTHONPATH="$REPO:$SITE"
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-4}
"$PY" -c "import detectron2, hydra, pycocotools, torch; print('gpu check: torch', torch.__version__,
'| detectron2', detectron2.__version__, '|', torch.cuda.get_device_name())"

rc=0
"$PY" -m graphkd.apps.gpu_check "work=$WORK" "report=$REPORT_DIR/gpu_check.json" "$@" || rc=$?
# The CUDA-only tests (skipped on CPU machines, so CI never runs them).
"$PY" -m pytest -q -p no:cacheprovider -k cuda tests/graphkd/core/test_losses.py || rc=$?
exit $rc
