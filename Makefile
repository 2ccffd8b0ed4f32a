# qmrflow: the two set-up commands.
#   make demo   installs everything into .venv and runs the whole workflow on the demo cohort
#   make test   installs everything into .venv and runs the linters and the test suite
# Each works on its own on a fresh machine (Python >= 3.11 with venv).

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CORES ?= all

.PHONY: demo test install lint clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade --quiet pip
	# CPU build of torch first: with 2.13.0 in place nothing pulls CUDA wheels.
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

install: $(BIN)/.installed

demo: install
	$(BIN)/snakemake --profile profiles/local --cores $(CORES)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/snakefmt --check Snakefile rules
	$(BIN)/snakemake --lint --cores 1

test: lint
	$(BIN)/python -m pytest

clean:
	rm -rf results .snakemake
