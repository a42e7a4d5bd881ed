# optimizer-lab: `make help` lists the targets.
#
# The environment lives in .venv and is synced from the lock files
# (requirements.lock for running, requirements-dev.lock for developing), so
# every machine gets the same versions. Regenerate the locks with `make lock`.
# --compile-bytecode: the installed modules' .pyc files are written once, at install;
# otherwise every process under PYTHONDONTWRITEBYTECODE (and the first one anyway)
# compiles TensorFlow, MLflow and the rest from source, about 10 s per run.

PYTHON ?= python3
VENV ?= .venv
UV_VERSION ?= 0.13.9
BIN := $(VENV)/bin
UV := $(BIN)/uv
# --compile-bytecode: uv, unlike pip, installs no .pyc files by default, so every
# process (each `dvc repro`, each stage, each training) would compile its libraries
# from source wherever Python cannot write them (read-only installs, containers,
# PYTHONDONTWRITEBYTECODE): a no-op `dvc repro` took 2.0 s instead of 1.0 s. Compiled
# once on the first install (~20 s); later syncs skip what is up to date.
UV_SYNC_FLAGS := --python $(BIN)/python --compile-bytecode
# Stage commands in dvc.yaml call `python`: put the project's interpreter first.
export PATH := $(abspath $(BIN)):$(PATH)

.DEFAULT_GOAL := help
.PHONY: help venv install install-dev run test test-fast lint format lock ui server clean bench lessons check-machine

help: ## Show this help
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(UV):
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "optimizer-lab needs Python >= 3.11; found " + sys.version.split()[0] + " (set PYTHON=python3.11)")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet "uv==$(UV_VERSION)"

venv: $(UV) ## Create .venv (if missing)

install: $(UV) ## Sync .venv to requirements.lock (runtime only)
	$(UV) pip sync $(UV_SYNC_FLAGS) requirements.lock
	$(UV) pip install --python $(BIN)/python --no-deps -e .

install-dev: $(UV) ## Sync .venv to requirements-dev.lock (runtime + dev tools)
	$(UV) pip sync $(UV_SYNC_FLAGS) requirements-dev.lock
	$(UV) pip install --python $(BIN)/python --no-deps -e .

run: install ## Set up and run the whole pipeline (dvc repro)
	$(BIN)/dvc repro

test: install-dev ## Set up and run the test suite
	$(BIN)/python -m pytest

test-fast: install-dev ## Run the tests not marked slow
	$(BIN)/python -m pytest -m "not slow"

# Benchmarks: never part of `make test` (pytest's testpaths is tests/ only).
REPEATS ?= 3
ONLY ?=
bench: install ## Run the benchmark suite on the real data (OPTLAB_DATA_MIRROR; REPEATS=3 ONLY=a,b)
	$(BIN)/python -m benchmarks --repeats $(REPEATS) $(if $(ONLY),--only $(ONLY))

# The lessons: the course's claims measured on the real data (the data stages first).
LESSONS_ARGS ?=
lessons: install ## Test the course's claims on the real data: reports/lessons/ (LESSONS_ARGS="--only step")
	$(BIN)/dvc repro preprocess
	$(BIN)/python -m pipeline.lessons $(LESSONS_ARGS)

check-machine: install ## Train the reference runs: does this machine compute the same bits? (docs/reproducibility.md)
	$(BIN)/python -m pipeline.doctor

ui: install ## Serve the MLflow UI on the project's store and print links (HOST=127.0.0.1 PORT=5000)
	$(BIN)/python -m pipeline.ui

# A team's tracking server: MLFLOW_BACKEND_STORE_URI=postgresql://user:pass@host:5432/mlflow
SERVER_ARGS ?=
server: install ## Serve a team tracking server on PostgreSQL (MLFLOW_BACKEND_STORE_URI; HOST PORT; SERVER_ARGS=--auth)
	$(BIN)/python -m pipeline.server $(SERVER_ARGS)

lint: install-dev ## Check style (ruff)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install-dev ## Reformat the code (ruff)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

lock: $(UV) ## Re-resolve requirements.lock and requirements-dev.lock from pyproject.toml
	$(UV) pip compile pyproject.toml --universal --python-version 3.11 --override constraints/overrides.txt -o requirements.lock
	$(UV) pip compile pyproject.toml --universal --python-version 3.11 --override constraints/overrides.txt --extra dev -o requirements-dev.lock

clean: ## Remove caches (keeps .venv, data and the MLflow store)
	rm -rf .pytest_cache .ruff_cache build dist *.egg-info
	find . -name __pycache__ -not -path './$(VENV)/*' -prune -exec rm -rf {} +
