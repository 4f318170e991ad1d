# Two commands for a fresh machine (see README.md):
#   make book   set up .venv if needed, execute every notebook with its defaults, write _build/html
#   make test   set up .venv if needed, run every test lane (static, unit, notebooks, book, browser)
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# Asset mirror: ../shared/assets when it exists, unless the caller set ZOO_ASSETS_DIR.
ifeq ($(origin ZOO_ASSETS_DIR), undefined)
  ifneq ($(wildcard ../shared/assets/MANIFEST.md),)
    ZOO_ASSETS_DIR := $(abspath ../shared/assets)
  endif
endif
export ZOO_ASSETS_DIR
# Run notebooks with the kernel installed inside .venv, never a user-level one.
export JUPYTER_PREFER_ENV_PATH := 1
export PATH := $(abspath $(BIN)):$(PATH)
export PYDEVD_DISABLE_FILE_VALIDATION := 1
export TF_CPP_MIN_LOG_LEVEL := 2

NOTEBOOKS := $(wildcard notebooks/*.ipynb)
SMOKE_DIR := _build/smoke
# Build the book; on failure print the notebook execution reports.
JB_BUILD = $(BIN)/jupyter-book build . --path-output . $(1) || { cat _build/html/reports/*.log 2>/dev/null; exit 1; }

.PHONY: book test env chromium test-static test-unit test-notebooks test-book test-browser clean

env: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --disable-pip-version-check -q -r requirements.txt
	$(BIN)/python -m pip install --disable-pip-version-check -q --no-deps -e .
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (zoo book)" > /dev/null
	@touch $@

book: $(STAMP)
	$(call JB_BUILD,)
	@echo "Book written to _build/html/index.html"

test: test-static test-unit test-notebooks test-book test-browser

test-static: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-cache
	$(BIN)/python -m pytest -q tests/test_static.py tests/test_environment.py tests/test_layering.py

test-unit: $(STAMP) chromium
	$(BIN)/python -m pytest -q --doctest-modules zoo_helpers tests --ignore=tests/test_static.py --ignore=tests/test_environment.py \
	  --ignore=tests/test_layering.py

test-notebooks: $(STAMP)
	@rm -rf $(SMOKE_DIR) && mkdir -p $(SMOKE_DIR)
	@for nb in $(NOTEBOOKS); do \
	  name=$$(basename $$nb .ipynb); \
	  params=params/$$name/smoke.yaml; \
	  $(BIN)/papermill --prepare-only $$nb $(SMOKE_DIR)/$$name.ipynb $$( [ -f $$params ] && echo -f $$params ) -k python3 \
	    || exit 1; \
	done
	cd $(SMOKE_DIR) && ZOO_RESULTS_DIR=$(abspath $(SMOKE_DIR))/results $(abspath $(BIN))/python -m pytest -q -p no:cacheprovider --nbval-lax --nbval-current-env \
	  --sanitize-with $(abspath tests/nbval_sanitize.cfg) --nbval-cell-timeout=300 -o testpaths= *.ipynb

test-book: $(STAMP)
	ZOO_RESULTS_DIR=$(abspath _build/test-results) $(call JB_BUILD,-W --keep-going)

# Debian's chromium for the browser lane and its unit tests: installed before any lane needs it (never skipped).
chromium:
	@[ -n "$$CHROMIUM" ] || command -v chromium > /dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; \
	  else echo "the browser tests need Chromium: sudo apt-get install -y chromium (or set CHROMIUM=/path/to/it)"; exit 1; fi; }

# Headless Chromium over the built book (tests/browser/check_book.py).
test-browser: $(STAMP) chromium
	$(BIN)/python tests/browser/count_figures.py _build/html
	$(BIN)/python tests/browser/check_book.py _build/html

clean:
	rm -rf _build
