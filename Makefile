# gxlib — the two set-up commands are `make` and `make test` (see README.md).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
RAW    ?= data/raw
# the committed tidy tables belong to data/raw; any other folder parses into build/
OUT    ?= $(if $(filter data/raw data/raw/,$(RAW)),data/processed,build/processed)
REPORTS ?= $(if $(filter data/raw data/raw/,$(RAW)),reports,build/reports)
JOBS   ?=

.PHONY: all help install data reports test clean system-deps
all: data reports ## parse RAW (default data/raw) and render the notebooks to HTML

help: ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'
	@echo "  variables: RAW=folder (default data/raw), OUT=folder, JOBS=n"

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

install: $(STAMP) ## create .venv and install gxlib with its dependencies (and the test extra)

data: $(STAMP) ## parse RAW into OUT (tidy CSV + Parquet)
	$(BIN)/gx parse $(RAW) --out $(OUT) $(if $(JOBS),--jobs $(JOBS))

reports: $(STAMP) ## render the notebook grid on OUT into reports/ (HTML + index)
	$(BIN)/gx render --data $(OUT) --out $(REPORTS) $(if $(JOBS),--jobs $(JOBS))

system-deps: ## system packages (Debian/Ubuntu, as root): chromium for the browser test
	$(if $(filter 0,$(shell id -u)),,sudo) sh -c 'apt-get update && apt-get install -y --no-install-recommends chromium'

test: $(STAMP) ## run the test suite
	$(BIN)/python -m pytest -q

clean: ## remove rendered reports and build outputs (keeps .venv and data/processed)
	rm -rf reports build .pytest_cache .hypothesis
