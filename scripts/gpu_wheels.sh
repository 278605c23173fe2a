#!/usr/bin/env bash
# Fills .gpu_wheels/ (git-ignored) for scripts/gpu_check.sh, on a machine with a package index:
# CPython 3.12 wheels of what the GPU machine lacks (it has torch, torchvision, torch-geometric,
# numpy, Pillow, pytest; no network) and detectron2's pure-Python package from this environment's
# sal-detectron2, without its compiled _C (built for cp310 + torch 2.3.1; the GPU machine runs
# detectron2's Python code only). Versions are this environment's, the ones the tests pass with.
#
#   bash scripts/gpu_wheels.sh          # then carry .gpu_wheels/ to the GPU machine (see docs/ci.md)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
DEST=${GPU_WHEELS:-.gpu_wheels}
MAX_MIB=40
mkdir -p "$DEST"

# What a dry run of the check imports from site-packages, minus what the GPU machine has: Hydra,
# detectron2's dependencies, matplotlib (the synthetic pages' fonts and formulas) and tensorboard
# (detectron2's TensorboardXWriter). opencv and onnx are optional imports of detectron2 and torch.
PKGS=(hydra-core omegaconf antlr4-python3-runtime pycocotools fvcore iopath yacs portalocker
  tabulate termcolor pyyaml tqdm cloudpickle matplotlib contourpy cycler kiwisolver pyparsing
  python-dateutil six tensorboard protobuf absl-py)
mapfile -t PINS < <("$PY" -c 'import sys; from importlib.metadata import version
for n in sys.argv[1:]: print(f"{n}=={version(n)}")' "${PKGS[@]}")

PIP=("$PY" -m pip --disable-pip-version-check)
PLATFORMS=(--platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64
  --platform manylinux_2_28_x86_64 --platform any)
for pin in "${PINS[@]}"; do
  # A cp312 (or pure-Python) wheel from the index; else, for sdist-only packages (antlr4, fvcore:
  # pure Python), a wheel built here.
  "${PIP[@]}" download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --abi cp312 --abi abi3 --abi none "${PLATFORMS[@]}" -d "$DEST" "$pin" 2>/dev/null ||
    "${PIP[@]}" wheel -q --no-deps -w "$DEST" "$pin"
done
if ls "$DEST"/*-cp310-cp310-*.whl >/dev/null 2>&1; then  # (cp310-abi3 wheels do run on 3.12)
  echo "error: a wheel built for this Python (cp310), not 3.12: $(ls "$DEST"/*-cp310-cp310-*)" >&2
  exit 1
fi

# detectron2's Python package minus the compiled extension and bytecode.
"$PY" - "$DEST/detectron2-nocompiled.zip" <<'EOF'
import os, sys, zipfile
import detectron2

root = os.path.dirname(os.path.dirname(detectron2.__file__))
with zipfile.ZipFile(sys.argv[1], "w", zipfile.ZIP_DEFLATED) as zf:
    for folder, dirs, files in os.walk(os.path.join(root, "detectron2")):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        for name in files:
            if not (name.startswith("_C") and name.endswith(".so")) and not name.endswith(".pyc"):
                path = os.path.join(folder, name)
                zf.write(path, os.path.relpath(path, root))
EOF

SIZE_MIB=$(du -sm "$DEST" | cut -f1)
ls -1 "$DEST"
echo "$DEST: ${SIZE_MIB} MiB"
if ((SIZE_MIB > MAX_MIB)); then
  echo "error: $DEST is over ${MAX_MIB} MiB (64 MiB travel with the tree to the GPU machine)" >&2
  exit 1
fi
