# GPUs for Deep Learning: set-up, build and test.
#   make book   set up .venv, execute every notebook, build the HTML book
#   make pdf    the book as one PDF (_build/pdf/book.pdf), for the landing page's link
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

.PHONY: setup book build test test-unit test-notebooks test-reader test-reader-all test-book book-tested test-browser test-install \
        lab lint release-check linkcheck colab-cells clean pdf

# Where pip gets PyTorch (tools/torch_index.py): `auto` takes PyTorch's CPU wheel index
# on a Linux machine with no NVIDIA GPU (PyPI's Linux torch is the CUDA build, with GBs
# of NVIDIA libraries) and pip's default index otherwise; `cpu`, `default` or an index
# URL force a choice: `make setup TORCH_INDEX=default`. The torch wheel is installed
# first, alone, from that index; `.[dev]` then finds its pin satisfied and adds its deps.
TORCH_INDEX ?= auto

setup: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; v = sys.version_info; \
	  sys.exit(0 if v >= (3, 10) else "Python >= 3.10 is needed (3.11 recommended)")'
	$(PYTHON) -m venv $(VENV)
	torch_args="$$($(PYTHON) tools/torch_index.py --install-args --index '$(TORCH_INDEX)')" && \
	  $(BIN)/python -m pip install --quiet --disable-pip-version-check $$torch_args
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e ".[dev]"
	@touch $@

$(CU_STAMP):
	@rm -rf _build/.jupyter_cache _build/.doctrees _build/.course_utils-*
	@mkdir -p _build && touch $@

# Execute every notebook (through jupyter-cache) and build the HTML; any warning or
# cell error fails the build.
build: setup $(CU_STAMP)
	$(BIN)/jupyter-book build . --warningiserror --keep-going

book: build
	@echo
	@echo "The book is built. Open: file://$(CURDIR)/$(HTML)/index.html"
	@echo "(or serve it: $(BIN)/python -m http.server -d $(HTML) 8000)"

# The whole book as one PDF, _build/pdf/book.pdf, copied to _build/html/book.pdf (the
# landing page links it): the book as one HTML page, from the same jupyter-cache (nothing
# runs twice), printed by headless Chromium (tools/make_pdf.py). tests/book/test_pdf.py.
MAKE_PDF := $(BIN)/jupyter-book build . --builder singlehtml --warningiserror --keep-going \
            && $(BIN)/python tools/make_pdf.py

pdf: build
	$(MAKE_PDF)

# Under test a missed timing check fails (course_utils.core.measure.check_timing); for a
# reader (make book, make lab, Colab) it prints a note and the notebook goes on.
test test-unit test-notebooks: export COURSE_TIMING_CHECKS ?= strict

# The book is built once: the HTML tests and the browser tests both read _build/html.
# The notebooks are executed once, by nbval (test-notebooks fills the jupyter-cache).
test: setup
	@echo "== $$(date +%T) lint"
	$(MAKE) lint
	@echo "== $$(date +%T) test-unit"
	$(MAKE) test-unit
	@echo "== $$(date +%T) test-notebooks"
	$(MAKE) test-notebooks
	@echo "== $$(date +%T) test-reader, and beside it build, pdf, test-book"
	$(MAKE) -j2 --output-sync=target test-reader book-tested
	@echo "== $$(date +%T) test-browser"
	$(PYTEST_BROWSER)
	@echo "== $$(date +%T) test-install"
	$(MAKE) test-install
	@echo "== $$(date +%T) All tests passed."

# Tests that compare a time measured on this machine with a bound (marked `timing`) run
# alone after the others, which run on every core (pytest-xdist).
test-unit: setup
	$(BIN)/python -m pytest -n auto -m "not timing" tests/unit tests/notebooks
	$(BIN)/python -m pytest -p no:randomly -m timing tests/unit

# nbval, every notebook. Those that assert a time measured on this machine (they call
# check_timing: bandwidth, all-reduce, ping-pong, kernel timings) run one at a time, alone;
# a second notebook beside them on a 2-core machine would make those checks flaky. The
# others run one notebook per core. tools/nbval_to_cache.py stores what nbval executed in
# the book's jupyter-cache, so the build that follows does not execute the notebooks again.
TIMED_NB := $(shell grep -l check_timing notebooks/*.ipynb)
OTHER_NB := $(filter-out $(TIMED_NB),$(wildcard notebooks/*.ipynb))
NBVAL    := $(BIN)/python -m pytest -p no:randomly -p tools.nbval_to_cache --nbval-lax --nbval-current-env

test-notebooks: setup $(CU_STAMP)
	$(NBVAL) $(TIMED_NB)
	$(NBVAL) -n auto --dist loadfile $(OTHER_NB)

# The notebooks that time this machine (they call check_timing) again, as a busy reader
# runs them: timing checks in reader mode (a miss prints a note), one busy-looping process
# per core, two notebooks at a time. No cell may raise. The per-notebook times and notes
# are printed at the end. test-reader-all: every notebook so (CI runs it after make test).
test-reader: setup
	$(BIN)/python -m pytest -p no:randomly -n 2 tests/reader

test-reader-all: setup
	READER_NOTEBOOKS=all $(BIN)/python -m pytest -p no:randomly -n 2 tests/reader

PYTEST_BOOK    := $(BIN)/python -m pytest tests/book
PYTEST_BROWSER := $(BIN)/python -m pytest tests/browser

test-book: pdf
	$(PYTEST_BOOK)

# make test's build: the book from nbval's jupyter-cache, the PDF, the HTML and PDF tests.
# It runs beside test-reader, whose busy machine it adds to (the reader run needs one).
book-tested: build
	$(MAKE_PDF)
	$(PYTEST_BOOK)

# Headless Chromium (Debian's `chromium`) against the built site on 127.0.0.1.
# Skips with a message if there is no Chromium, unless CI=true.
test-browser: build
	$(PYTEST_BROWSER)

test-install: setup
	TORCH_INDEX='$(TORCH_INDEX)' PYTHON=$(PYTHON) bash tests/install/test_wheel.sh

lab: setup
	$(BIN)/jupyter lab notebooks/

# External links, collected by tests/book/test_links.py; needs a network.
linkcheck: build
	$(BIN)/jupyter-book build . --builder linkcheck

# actionlint (with ShellCheck on `run:` scripts where the wheel exists) over the
# GitHub Actions workflows; release-check: __version__, Colab cells and docs agree.

lint: setup
	$(BIN)/ruff check .
	$(BIN)/python tools/colab_cell.py --check
	sc="$$(test -x $(BIN)/shellcheck && echo $(BIN)/shellcheck || true)" && \
	  $(BIN)/actionlint -shellcheck="$$sc" -pyflakes= .github/workflows/*.yml
	$(MAKE) --no-print-directory release-check

# The release tag agrees everywhere: __version__, every notebook's Colab cell, the docs.
RELEASE_ROOT ?= .
release-check: setup
	$(BIN)/python tools/release_check.py --root "$(RELEASE_ROOT)"

colab-cells: setup
	$(BIN)/python tools/colab_cell.py --write

clean:
	rm -rf _build dist build *.egg-info
