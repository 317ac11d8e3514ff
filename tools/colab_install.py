"""Run the notebooks' Colab install lines outside Colab (the weekly Colab workflow).

Every notebook's first cell (written by ``tools/colab_cell.py``) runs, on Colab only,
``pip install -q "course-utils[...] @ git+<repository>@v<version>"``. The weekly
workflow (``.github/workflows/colab-weekly.yml``) checks that those lines still work:
in a fresh virtual environment, it runs each distinct install line found in the
notebooks, exactly as written there, then executes the notebooks from a bare
directory where the repository is not on ``sys.path``.

The lines are read from the cells themselves (their ``subprocess.run([...])`` list),
not regenerated, so what is tested is what a reader runs. Standard library only.

Usage::

    python tools/colab_install.py notebooks/*.ipynb            # print the pip arguments
    python tools/colab_install.py --python VENV/bin/python notebooks/*.ipynb   # run them
"""

from __future__ import annotations

import argparse
import ast
import json
import shlex
import subprocess
import sys
from pathlib import Path


def pip_args(cell_source: str) -> list[str]:
    """The arguments after ``-m pip`` in the cell's ``subprocess.run([sys.executable, ...])``."""
    for node in ast.walk(ast.parse(cell_source)):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr == "run" and node.args
                and isinstance(node.args[0], ast.List)):
            items = node.args[0].elts
            words = [e.value if isinstance(e, ast.Constant) else None for e in items[1:]]
            if words[:2] == ["-m", "pip"] and all(isinstance(w, str) for w in words):
                return words[2:]
    raise ValueError("cell_source has no subprocess.run([sys.executable, '-m', 'pip', ...])")


def install_lines(paths: list[Path]) -> list[list[str]]:
    """The distinct pip argument lists of the notebooks' first cells, in first-seen order."""
    lines: list[list[str]] = []
    for path in paths:
        cells = json.loads(Path(path).read_text()).get("cells", [])
        if not cells:
            raise ValueError(f"{path}: the notebook has no cells")
        try:
            args = pip_args("".join(cells[0].get("source", "")))
        except ValueError as err:
            raise ValueError(f"{path}: first cell: {err}") from None
        if args not in lines:
            lines.append(args)
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--python", help="run each line with this interpreter's pip")
    args = parser.parse_args(argv)
    for line in install_lines(args.notebooks):
        command = [args.python or "python", "-m", "pip", *line]
        print("$ " + shlex.join(command), flush=True)
        if args.python:
            subprocess.run(command, check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
