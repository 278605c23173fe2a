# GraphKD: one entry point. `make demo` runs the main job, `make test` the test suite.
# Both set up the environment first (idempotent: a second `make setup` does nothing slow).

PYTHON ?= python3.10
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check
CONSTRAINTS := requirements/constraints.txt
STAMP  := $(VENV)/.graphkd-setup
SEEDS  ?= 1
ARGS   ?=

.PHONY: setup test test-all lint demo demo-real bench clean-venv

setup: $(STAMP)

# Re-runs only when the project's dependency files change.
$(STAMP): pyproject.toml $(CONSTRAINTS)
	@command -v $(PYTHON) >/dev/null 2>&1 || { \
	  echo "error: '$(PYTHON)' not found. GraphKD's reference environment needs CPython 3.10"; \
	  echo "       (the detectron2 wheel sal-detectron2==0.7.2 is built for cp310 + torch 2.3.1)."; \
	  echo "       Install it (e.g. 'pyenv install 3.10' - this repo's .python-version selects it),"; \
	  echo "       or run 'make setup PYTHON=/path/to/python3.10'."; exit 1; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q -U "pip>=24"
	$(PIP) install -q -c $(CONSTRAINTS) wheel setuptools
	$(PIP) install -q -c $(CONSTRAINTS) torch torchvision
	@# torch-scatter ships only an sdist: it compiles against the torch installed above.
	$(PIP) install -q -c $(CONSTRAINTS) --no-build-isolation torch-scatter
	$(PIP) install -q -c $(CONSTRAINTS) --no-build-isolation -e ".[dev,scatter,pdf,export]"
	$(PY) -c "import detectron2, torch_geometric, pycocotools, hydra; print('setup ok: torch', __import__('torch').__version__, '| detectron2', detectron2.__version__)"
	@touch $(STAMP)

# pytest's exit status 5 ("no tests collected") is a failure here: a CI that ran nothing passed nothing.
# Two workers (pytest-xdist; a file's tests stay on one worker, so its fixtures are built once):
# most tests train on one thread, and one process left the second core idle. TEST_WORKERS=0: serial.
TEST_WORKERS ?= 2
test: setup
	@$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile --durations=15; rc=$$?; if [ $$rc -eq 5 ]; then echo "error: pytest collected no tests" >&2; fi; exit $$rc

test-all: setup
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile -m "slow or not slow"

lint: setup
	$(PY) -m ruff check graph pagedata detectors graphkd scripts tests
	$(PY) -m ruff format --check graph pagedata detectors graphkd scripts tests

demo: setup
	$(PY) scripts/demo.py seeds=$(SEEDS) $(ARGS)

# Synthetic pretraining, then teacher fine-tuning and distillation on real pages (default: the
# 80 DocBank sample pages shipped in samples/docbank); docs/real-pages.md.
demo-real: setup
	$(PY) scripts/demo_real.py seeds=$(SEEDS) $(ARGS)

bench: setup
	$(PY) scripts/bench_graph.py
	$(PY) scripts/bench.py

clean-venv:
	rm -rf $(VENV)
