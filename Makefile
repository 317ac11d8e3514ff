# GPUs for Deep Learning: set-up, build and test.
#   make book   set up .venv, execute every notebook, build the HTML book
#   make test   set up .venv, run every test (lint, unit, notebooks, book, browser, wheel install)
#   make lab    set up .venv, open JupyterLab on notebooks/

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
HTML   := _build/html

# jupyter-cache keys on notebook code only, not on course_utils: drop the cache
# whenever course_utils changes so that no page shows stale output.
CU_HASH := $(shell find course_utils -type f \( -name '*.py' -o -path '*/data/*' \) | sort \
             | xargs cat | sha256sum | cut -c1-16)
CU_STAMP := _build/.course_utils-$(CU_HASH)

.PHONY: setup book build test test-unit test-notebooks test-reader test-book test-browser test-install \
        lab lint linkcheck colab-cells clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; v = sys.version_info; \
	  sys.exit(0 if v >= (3, 10) else "Python >= 3.10 is needed (3.11 recommended)")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e ".[dev]"
	@touch $@

$(CU_STAMP):
	@rm -rf _build/.jupyter_cache _build/.course_utils-*
	@mkdir -p _build && touch $@

# Execute every notebook (through jupyter-cache) and build the HTML; any warning or
# cell error fails the build.
build: setup $(CU_STAMP)
	$(BIN)/jupyter-book build . --warningiserror --keep-going

book: build
	@echo
	@echo "The book is built. Open: file://$(CURDIR)/$(HTML)/index.html"
	@echo "(or serve it: $(BIN)/python -m http.server -d $(HTML) 8000)"

# Under test a missed timing check fails (course_utils.core.measure.check_timing); for a
# reader (make book, make lab, Colab) it prints a note and the notebook goes on.
test test-unit test-notebooks: export COURSE_TIMING_CHECKS ?= strict

# The book is built once: the HTML tests and the browser tests both read _build/html.
test: setup
	$(MAKE) lint
	$(MAKE) test-unit
	$(MAKE) test-notebooks
	$(MAKE) test-reader
	$(MAKE) build
	$(PYTEST_BOOK)
	$(PYTEST_BROWSER)
	$(MAKE) test-install
	@echo "All tests passed."

test-unit: setup
	$(BIN)/python -m pytest tests/unit tests/notebooks

# Serial on purpose: several notebooks measure this machine (bandwidth, all-reduce,
# ping-pong) and assert the measurements against models; a second notebook running
# beside them on a 2-core machine would make those checks flaky.
test-notebooks: setup
	$(BIN)/python -m pytest -p no:randomly --nbval-lax --nbval-current-env notebooks

# Every notebook again, as a busy reader runs it: timing checks in reader mode (a miss
# prints a note), one busy-looping process per core. No cell may raise.
test-reader: setup
	$(BIN)/python -m pytest -p no:randomly -s tests/reader

PYTEST_BOOK    := $(BIN)/python -m pytest tests/book
PYTEST_BROWSER := $(BIN)/python -m pytest tests/browser

test-book: build
	$(PYTEST_BOOK)

# Headless Chromium (Debian's `chromium`) against the built site on 127.0.0.1.
# Skips with a message if there is no Chromium, unless CI=true.
test-browser: build
	$(PYTEST_BROWSER)

test-install: setup
	PYTHON=$(PYTHON) bash tests/install/test_wheel.sh

lab: setup
	$(BIN)/jupyter lab notebooks/

# External links, collected by tests/book/test_links.py; needs a network.
linkcheck: build
	$(BIN)/jupyter-book build . --builder linkcheck

lint: setup
	$(BIN)/ruff check .
	$(BIN)/python tools/colab_cell.py --check

colab-cells: setup
	$(BIN)/python tools/colab_cell.py --write

clean:
	rm -rf _build dist build *.egg-info
