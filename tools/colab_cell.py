"""Write (or check) the Colab install cell at the top of every notebook.

The cell is generated from two single sources of truth:

* the repository URL in ``_config.yml`` (``repository.url``), and
* the package version in ``course_utils/__init__.py``; the cell installs the
  release tag ``v<version>`` so that a notebook and the package it imports agree.

Every notebook installs the ``colab`` extra (numba-cuda for Colab's GPU); a notebook
that runs MPI (it mentions ``mpi4py`` or an ``"mpi"`` engine in its code) also
installs the ``mpi`` extra (mpi4py and MPICH), so that a reader of, say, the
convolution chapter does not install MPICH.

Usage::

    python tools/colab_cell.py --write   # insert or update the cell in notebooks/*.ipynb
    python tools/colab_cell.py --check   # exit 1 if any notebook's first cell differs
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import nbformat
import yaml

ROOT = Path(__file__).resolve().parents[1]
TAG = "colab-install"


def repository_url(root: Path = ROOT) -> str:
    """``repository.url`` from ``_config.yml``, without a trailing slash or ``.git``."""
    config = yaml.safe_load((root / "_config.yml").read_text())
    url = config["repository"]["url"].rstrip("/")
    return url.removesuffix(".git")


def package_version(root: Path = ROOT) -> str:
    text = (root / "course_utils" / "__init__.py").read_text()
    match = re.search(r'^__version__ = "([^"]+)"', text, flags=re.M)
    if match is None:
        raise RuntimeError("no __version__ in course_utils/__init__.py")
    return match.group(1)


MPI_USE = re.compile(r"\bmpi4py\b|[\"']mpi[\"']")


def extras(nb: nbformat.NotebookNode) -> list[str]:
    """The extras a notebook's Colab cell installs: ``colab``, plus ``mpi`` if it runs MPI."""
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code" and not is_colab_cell(c))
    return ["colab", "mpi"] if MPI_USE.search(code) else ["colab"]


def cell_source(root: Path = ROOT, extras: list[str] | tuple[str, ...] = ("colab",)) -> str:
    url = repository_url(root)
    ref = "v" + package_version(root)
    what = "numba-cuda for Colab's GPU" + (" and MPI" if "mpi" in extras else "")
    return (
        f"# Colab only: install course_utils (pinned release) and {what}.\n"
        "# Elsewhere this cell does nothing. See 'How to use this course'.\n"
        "import sys\n\n"
        'if "google.colab" in sys.modules:\n'
        "    import subprocess\n"
        '    subprocess.run([sys.executable, "-m", "pip", "install", "-q",\n'
        f'                    "course-utils[{",".join(extras)}] @ git+{url}@{ref}"],\n'
        "                   check=True)"
    )


def make_cell(root: Path = ROOT, extras: list[str] | tuple[str, ...] = ("colab",)
              ) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(cell_source(root, extras))
    cell.metadata["tags"] = [TAG, "hide-input"]
    cell.id = TAG
    return cell


def is_colab_cell(cell: nbformat.NotebookNode) -> bool:
    return cell.cell_type == "code" and TAG in cell.get("metadata", {}).get("tags", [])


def notebooks(root: Path = ROOT) -> list[Path]:
    return sorted((root / "notebooks").glob("*.ipynb"))


def write(root: Path = ROOT) -> list[Path]:
    changed = []
    for path in notebooks(root):
        nb = nbformat.read(path, as_version=4)
        new = make_cell(root, extras(nb))
        if nb.cells and is_colab_cell(nb.cells[0]):
            if nb.cells[0].source == new.source:
                continue
            nb.cells[0] = new
        else:
            nb.cells.insert(0, new)
        nbformat.write(nb, path)
        changed.append(path)
    return changed


def check(root: Path = ROOT) -> list[str]:
    problems = []
    for path in notebooks(root):
        nb = nbformat.read(path, as_version=4)
        expected = cell_source(root, extras(nb))
        if not nb.cells or not is_colab_cell(nb.cells[0]):
            problems.append(f"{path.name}: first cell is not the Colab install cell")
        elif nb.cells[0].source != expected:
            problems.append(f"{path.name}: Colab install cell is out of date")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--write", action="store_true")
    group.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    if args.write:
        for path in write():
            print(f"updated {path.relative_to(ROOT)}")
        return 0
    problems = check()
    for p in problems:
        print(p, file=sys.stderr)
    if problems:
        print("run: python tools/colab_cell.py --write", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
