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
	$(BIN)/python -m pip install --quiet -e '.[test,ocr,dask]'
	@touch $(STAMP)

install: $(STAMP) ## create .venv and install gxlib with its dependencies (and the test extra)

data: $(STAMP) ## parse RAW into OUT (tidy CSV + Parquet)
	$(BIN)/gx parse $(RAW) --out $(OUT) $(if $(JOBS),--jobs $(JOBS))

reports: $(STAMP) ## render the notebook grid on OUT into reports/ (HTML + index)
	$(BIN)/gx render --data $(OUT) --out $(REPORTS) $(if $(JOBS),--jobs $(JOBS))

test: $(STAMP) ## run the test suite
	$(BIN)/python -m pytest -q

# System packages (not on PyPI): LibreOffice headless converts legacy Word .doc/.wps;
# Chromium runs the browser test of the rendered reports.
# Quick when they are already there; needs root (or sudo) and apt on Debian/Ubuntu.
SYSTEM_APT := libreoffice-writer-nogui chromium
system-deps: ## install the system packages the project uses (LibreOffice, Chromium; apt on Debian/Ubuntu)
	@if command -v dpkg-query >/dev/null 2>&1 && [ "$$(dpkg-query -W -f='$${Status}\n' $(SYSTEM_APT) 2>/dev/null \
		| grep -c 'install ok installed')" = "$(words $(SYSTEM_APT))" ]; then \
		echo "system-deps: $(SYSTEM_APT) already installed"; \
	elif command -v apt-get >/dev/null 2>&1; then \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq -o DPkg::Lock::Timeout=600 --no-install-recommends $(SYSTEM_APT); \
	else \
		echo "system-deps: no apt-get here. Install LibreOffice yourself so that 'soffice' is on PATH"; \
		echo "  (macOS: brew install --cask libreoffice; Fedora: dnf install libreoffice-writer;"; \
		echo "   Windows: https://www.libreoffice.org). Without it .doc/.wps files are 'failed'."; \
		echo "  For the browser test install Chromium (or Chrome) as /usr/bin/chromium."; \
	fi

clean: ## remove rendered reports and build outputs (keeps .venv and data/processed)
	rm -rf reports build .pytest_cache .hypothesis
