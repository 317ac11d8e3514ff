"""Conventions every chapter notebook follows (the notebooks run under nbval separately)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
import colab_cell  # noqa: E402

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
TOC = yaml.safe_load((ROOT / "_toc.yml").read_text())


def toc_files(node) -> list[str]:
    found = []
    if isinstance(node, dict):
        for key in ("root", "file"):
            if key in node:
                found.append(node[key])
        for value in node.values():
            found += toc_files(value)
    elif isinstance(node, list):
        for item in node:
            found += toc_files(item)
    return found


def test_there_are_notebooks():
    assert NOTEBOOKS, "notebooks/ holds no .ipynb"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_first_cell_is_the_generated_colab_cell(path):
    nb = nbformat.read(path, as_version=4)
    assert colab_cell.is_colab_cell(nb.cells[0]), "run: make colab-cells"
    assert nb.cells[0].source == colab_cell.cell_source(extras=colab_cell.extras(nb)), (
        "run: make colab-cells")


def test_only_notebooks_that_run_mpi_install_it_on_colab():
    """The [mpi] extra (MPICH) goes to the MPI notebooks only, not to every reader."""
    with_mpi = {p.stem for p in NOTEBOOKS
                if "mpi" in colab_cell.extras(nbformat.read(p, as_version=4))}
    assert with_mpi == {"mgpu_measure", "dp_communication"}
    assert "course-utils[colab,mpi] @" in colab_cell.cell_source(extras=("colab", "mpi"))
    assert "course-utils[colab] @" in colab_cell.cell_source()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_first_code_cell_after_colab_selects_the_device(path):
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells[1:] if c.cell_type == "code"]
    assert code, "no code after the Colab cell"
    assert "select_device(" in code[0].source, "the first code cell must call select_device()"
    for cell in code:
        tree = ast.parse("\n".join(line for line in cell.source.splitlines()
                                   if not line.lstrip().startswith(("%", "!"))))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module == "numba":
                assert "cuda" not in [a.name for a in node.names], (
                    "notebooks get numba.cuda from course_utils.device.cuda()")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_listed_in_the_toc_and_has_a_python_kernel(path):
    assert f"notebooks/{path.stem}" in toc_files(TOC)
    nb = nbformat.read(path, as_version=4)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    assert nb.cells[1].cell_type == "markdown" and nb.cells[1].source.startswith("# ")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_only_checked_cells_keep_outputs(path):
    """The book build executes notebooks; only `# NBVAL_CHECK_OUTPUT` cells store output."""
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code" and not cell.source.lstrip().startswith(
                "# NBVAL_CHECK_OUTPUT"):
            assert not cell.outputs and cell.execution_count is None, (
                f"cell {cell.get('id')} has stored output: run tools/checked_outputs.py")


def test_every_toc_entry_exists():
    for entry in toc_files(TOC):
        matches = list(ROOT.glob(entry + ".*"))
        assert matches, f"_toc.yml lists {entry}, which does not exist"


def test_repository_setting_is_one_github_url_on_main():
    repo = CONFIG["repository"]
    assert repo["branch"] == "main"
    assert repo["url"].startswith("https://github.com/") and repo["url"].count("/") == 4
    assert colab_cell.repository_url() in colab_cell.cell_source()
    # the URL appears in no other tracked config file
    for name in ("pyproject.toml", "environment.yml", "Makefile"):
        assert repo["url"] not in (ROOT / name).read_text(), f"{name} repeats the repository URL"


def test_course_utils_kernel_modules_never_import_numba_cuda_directly():
    for path in (ROOT / "course_utils").glob("*.py"):
        if path.name == "device.py":
            continue
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module in ("numba", "numba.cuda"):
                names = [a.name for a in node.names]
                assert node.module == "numba" and "cuda" not in names, (
                    f"{path.name} imports numba.cuda; use `cuda = device.cuda()`")
            if isinstance(node, ast.Import):
                assert "numba.cuda" not in [a.name for a in node.names], path.name


_CONTROL = {chr(c) for c in range(32) if chr(c) != "\n"} | {"\x7f"}


@pytest.mark.parametrize(
    "path", NOTEBOOKS + sorted((ROOT / "book").glob("*.md")), ids=lambda p: p.name
)
def test_sources_hold_no_control_characters(path):
    """No TAB or other control character in any cell or page source.

    A ``\\t`` decoded inside ``\\text`` (``T_<TAB>ext{fc}``) still typesets, as "ext", so
    MathJax reports nothing; only the source shows it.
    """
    if path.suffix == ".ipynb":
        cells = nbformat.read(path, as_version=4).cells
        sources = [(f"cell {i}", c.source) for i, c in enumerate(cells)]
    else:
        sources = [("page", path.read_text())]
    found = [(where, line_no, repr(line)[:120])
             for where, text in sources
             for line_no, line in enumerate(text.splitlines(), 1)
             if _CONTROL & set(line)]
    assert not found, f"control characters in {path.name}: {found}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_matplotlib_figure_cell_has_alt_text(path):
    """A cell that draws with matplotlib sets ``mystnb.image.alt`` (the browser test finds
    the same on the built page, but only after a full build)."""
    cells = nbformat.read(path, as_version=4).cells
    missing = [i for i, c in enumerate(cells) if c.cell_type == "code"
               and ("plt.show()" in c.source or "plt.subplots" in c.source)
               and not c.metadata.get("mystnb", {}).get("image", {}).get("alt")]
    assert not missing, f"{path.name}: figure cells without mystnb.image.alt: {missing}"
