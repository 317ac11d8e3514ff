"""Store outputs only for cells marked ``# NBVAL_CHECK_OUTPUT``; strip all others.

Notebooks are committed without outputs (the book build executes them), except the
cells whose output is deterministic and meaningful: those start with
``# NBVAL_CHECK_OUTPUT``, keep their output, and nbval checks that a fresh run
reproduces it exactly.

Usage::

    python tools/checked_outputs.py notebooks/setup.ipynb [...]   # execute, then strip
    python tools/checked_outputs.py --strip-only notebooks/*.ipynb
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

MARK = "# NBVAL_CHECK_OUTPUT"


def is_checked(cell: nbformat.NotebookNode) -> bool:
    return cell.cell_type == "code" and cell.source.lstrip().startswith(MARK)


def strip(nb: nbformat.NotebookNode) -> None:
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        if not is_checked(cell):
            cell.outputs = []
            cell.execution_count = None
        # checked cells keep their execution count too: nbval skips comparing an
        # "unrun" reference cell


def process(path: Path, execute: bool) -> None:
    nb = nbformat.read(path, as_version=4)
    if execute:
        NotebookClient(nb, timeout=600, kernel_name="python3",
                       resources={"metadata": {"path": str(path.parent)}}).execute()
    strip(nb)
    nbformat.write(nb, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--strip-only", action="store_true")
    args = parser.parse_args(argv)
    for path in args.notebooks:
        process(path, execute=not args.strip_only)
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
