"""The reader-mode run's summary: one row per notebook, merged after all workers finish."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ROWS = ROOT / "_build" / "reader_mode"
SUMMARY = ROOT / "_build" / "reader_mode.json"


def _controller(config) -> bool:
    return not hasattr(config, "workerinput")     # not a pytest-xdist worker


def pytest_sessionstart(session):
    if _controller(session.config):
        shutil.rmtree(ROWS, ignore_errors=True)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if not _controller(config) or not ROWS.is_dir():
        return
    found = {p.stem: json.loads(p.read_text()) for p in sorted(ROWS.glob("*.json"))}
    SUMMARY.write_text(json.dumps(found, indent=1))
    terminalreporter.write_sep("-", "reader mode under a CPU hog (notebook: seconds, notes)")
    for name, row in found.items():
        terminalreporter.write_line(
            f"  {name:32s} {row['seconds']:6.1f} s  {len(row['notes'])} timing notes")
