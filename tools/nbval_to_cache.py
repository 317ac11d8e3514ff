"""pytest plugin: keep what nbval executed, so that the book build does not run it again.

``make test`` runs every notebook under nbval and then builds the book, whose
``execute_notebooks: cache`` setting executes each notebook through jupyter-cache
(``_build/.jupyter_cache``). Without this plugin every notebook would run twice.
Loaded with ``-p tools.nbval_to_cache``, it writes each notebook whose code cells all
passed under nbval, with the outputs nbval collected, into that cache; the build then
finds it there (jupyter-cache matches a notebook by its code and metadata, not by its
outputs) and renders those outputs. A notebook with a failed, skipped or unrun cell is
not stored, so the build executes it itself, and ``make book`` (no nbval) is unchanged.

With pytest-xdist each worker stores the notebooks it ran.
"""

from __future__ import annotations

import copy
import time
from pathlib import Path

import nbformat
import pytest

CACHE = Path(__file__).resolve().parents[1] / "_build" / ".jupyter_cache"

_passed: dict[str, bool] = {}
_started: dict[str, float] = {}
_finished: dict[str, float] = {}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if not hasattr(item, "test_outputs"):     # not an nbval cell
        return
    key = str(item.parent.fspath)
    _started.setdefault(key, time.perf_counter())
    _finished[key] = time.perf_counter()
    _passed[key] = _passed.get(key, True) and report.passed


def executed_notebook(cells: list) -> nbformat.NotebookNode:
    """The notebook of nbval's cell items (one file), with the outputs nbval collected."""
    nb = copy.deepcopy(cells[0].parent.nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    by_number = {item.cell_num: item for item in cells}
    for number, cell in enumerate(code):
        outputs = by_number[number].test_outputs
        cell.outputs = [nbformat.from_dict(dict(out)) for out in outputs]
        cell.execution_count = number + 1
        for out in cell.outputs:
            if out.output_type == "execute_result":
                out.execution_count = number + 1
    return nb


def pytest_sessionfinish(session, exitstatus):
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn

    files: dict[str, list] = {}
    for item in session.items:
        if hasattr(item, "test_outputs"):
            files.setdefault(str(item.parent.fspath), []).append(item)
    cache = None
    for path, cells in files.items():
        ran = all(item.test_outputs is not None for item in cells)
        if not (ran and _passed.get(path, False)):
            continue
        if cache is None:
            cache = get_cache(str(CACHE))
        nb = executed_notebook(cells)
        seconds = _finished[path] - _started[path]
        cache.cache_notebook_bundle(
            CacheBundleIn(nb, str(Path(path).resolve()), data={"execution_seconds": seconds}),
            check_validity=False, overwrite=True)
