# Two commands for a new user: `make demo` runs the study, `make test` runs the tests.
# Both set up .venv themselves (torch==2.13.0 first, so pip never pulls a CUDA build here).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.xw-installed
STUDY ?= parameters/demo.yaml
WORKERS ?= 2
export HF_HUB_OFFLINE ?= 1
export HF_DATASETS_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM := false

.PHONY: setup demo test lint lab clean-demo

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e ".[dev]"
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (xw)" >/dev/null
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/xw grid $(STUDY) --workers $(WORKERS)

test: $(STAMP)
	$(BIN)/ruff check xw tests benchmarks
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check xw tests benchmarks
	$(BIN)/lint-imports

lab: $(STAMP)
	$(BIN)/jupyter lab --notebook-dir=. $(if $(filter 0,$(shell id -u)),--allow-root,)

clean-demo:
	rm -rf outputs/demo outputs/_cache
