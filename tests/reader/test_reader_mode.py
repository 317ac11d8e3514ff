"""The notebooks that time this machine run to the end on a busy reader's machine.

Reader mode changes one thing: a missed timing check (``check_timing``) prints a note
instead of raising. So ``make test`` runs here the notebooks that call ``check_timing``;
the others run the same code in both modes, and nbval runs them. ``READER_NOTEBOOKS=all``
runs every notebook (``make test-reader-all``; CI runs it after ``make test``).

Each notebook runs in a fresh kernel with ``COURSE_TIMING_CHECKS=reader`` (what a reader
gets: a missed timing check prints a note instead of raising) while one busy-looping
process per core competes for the CPU, as on a laptop doing other work or a slow shared
Colab CPU. No cell may raise, and every "Timing check missed" note must say what was
expected, what was measured, the likely cause and how to re-run. ``make test-reader``;
the notes found are listed in ``_build/reader_mode.json`` and printed at the end
(``conftest.py``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from course_utils.core.measure import TIMING_MODE_ENV, TIMING_NOTE

ROOT = Path(__file__).resolve().parents[2]
ALL_NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
TIMED = [p for p in ALL_NOTEBOOKS if "check_timing" in p.read_text()]
NOTEBOOKS = ALL_NOTEBOOKS if os.environ.get("READER_NOTEBOOKS") == "all" else TIMED
ROWS = ROOT / "_build" / "reader_mode"       # one JSON per notebook; conftest.py merges them
NOTE_PARTS = ("expected:", "measured:", "likely cause:", "to re-run:")


@pytest.fixture(scope="module")
def cpu_hog():
    """One busy-looping process per core for the whole module.

    Under pytest-xdist (``make test-reader`` runs two notebooks at a time) each worker
    starts its share, so the machine still has one hog per core in all.
    """
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    count = max(1, (os.cpu_count() or 1) // workers)
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
            for _ in range(count)]
    yield count * workers
    for hog in hogs:
        hog.kill()
        hog.wait()


def _notes(nb) -> list[str]:
    texts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream" and TIMING_NOTE in out.get("text", ""):
                texts.append(out["text"])
    return texts


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_to_the_end_for_a_busy_reader(path, cpu_hog, monkeypatch):
    monkeypatch.setenv(TIMING_MODE_ENV, "reader")
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=900, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    client.execute()  # raises CellExecutionError on the first failing cell
    notes = _notes(nb)
    ROWS.mkdir(parents=True, exist_ok=True)
    (ROWS / f"{path.stem}.json").write_text(json.dumps(
        {"seconds": time.perf_counter() - start, "notes": notes, "hog_processes": cpu_hog}))
    for note in notes:
        missing = [part for part in NOTE_PARTS if part not in note]
        assert not missing, f"a timing note in {path.name} lacks {missing}:\n{note}"


def test_the_timed_notebooks_are_found():
    assert len(TIMED) >= 4, [p.name for p in TIMED]


def test_a_missed_check_prints_its_note_and_the_notebook_goes_on(monkeypatch):
    """The harness itself: a notebook whose timing check must miss."""
    monkeypatch.setenv(TIMING_MODE_ENV, "reader")
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(
            "from course_utils.core import check_timing\n"
            "check_timing(2.0 < 1.0, expected='under 1 s', measured='2.0 s')"),
        nbformat.v4.new_code_cell("print('the next cell ran')"),
    ]
    NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    notes = _notes(nb)
    assert len(notes) == 1 and all(part in notes[0] for part in NOTE_PARTS)
    assert "the next cell ran" in nb.cells[1].outputs[0]["text"]
