"""Every module says where the book uses it, and every public function is used.

Two checks over the source of ``course_utils`` (no imports, so they run in milliseconds):

* each module's docstring ends with a ``Used in:`` paragraph; its ``:doc:`` links name
  notebooks that exist and that really use the module (they mention one of its public
  names), as d2l's "Defined in section ..." does;
* each public function or class (listed in its module's ``__all__``) is used by a
  notebook, a benchmark, or another module of the package. A public name nothing uses
  is dead code: remove it, or use it.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "course_utils"
MODULES = sorted(p for p in PACKAGE.rglob("*.py") if p.name != "__init__.py")


def _module_name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts)


def _public_names(tree: ast.Module) -> list[str]:
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets
        ):
            return [e.value for e in node.value.elts]
    return []


def _defined(tree: ast.Module) -> dict[str, str]:
    """Public names defined at module level: name -> "function" / "class" / "constant"."""
    out = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            out[node.name] = "class" if isinstance(node, ast.ClassDef) else "function"
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                if isinstance(t, ast.Name):
                    out[t.id] = "constant"
    return out


def _notebook_code() -> dict[str, str]:
    code = {}
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        cells = json.loads(path.read_text())["cells"]
        code[path.stem] = "\n".join("".join(c["source"]) for c in cells
                                    if c["cell_type"] == "code")
    return code


NOTEBOOKS = _notebook_code()
TREES = {path: ast.parse(path.read_text()) for path in MODULES}


def _imports(importer: Path, imported: Path) -> bool:
    """Whether module ``importer`` imports module ``imported`` (relative or absolute)."""
    target = _module_name(imported)
    package = _module_name(importer).rsplit(".", 1)[0]
    for node in ast.walk(TREES[importer]):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parts = parts[: len(parts) - node.level + 1]
                base = ".".join(parts + ([node.module] if node.module else []))
            if base == target or any(f"{base}.{a.name}" == target for a in node.names):
                return True
        elif isinstance(node, ast.Import) and any(a.name == target for a in node.names):
            return True
    return False


def _mentions(text: str, name: str) -> bool:
    return re.search(r"\b" + re.escape(name) + r"\b", text) is not None


@pytest.mark.parametrize("path", MODULES, ids=_module_name)
def test_docstring_says_where_the_book_uses_the_module(path: Path) -> None:
    doc = ast.get_docstring(TREES[path]) or ""
    assert "\nUsed in:" in doc, f"{_module_name(path)}: the docstring needs a 'Used in:' line"
    used_in = doc.split("\nUsed in:", 1)[1]
    linked = re.findall(r":doc:`/notebooks/([\w-]+)`", used_in)
    if "every chapter" in used_in:  # shared infrastructure, used through other modules
        assert path.parent.name == "core", f"{_module_name(path)}: only core may say so"
        return
    assert linked, f"{_module_name(path)}: 'Used in:' links no notebook"
    # the module itself, or a module that imports it (hybrid uses tensor_parallel)
    sources = [path, *(p for p in MODULES if _imports(p, path))]
    stems = {p.stem for p in sources}
    names = {n for p in sources for n in _public_names(TREES[p]) if len(n) > 3}
    for nb in linked:
        assert nb in NOTEBOOKS, f"{_module_name(path)}: links notebooks/{nb}, which does not exist"
        code = NOTEBOOKS[nb]
        assert any(_mentions(code, s) for s in stems | names), (
            f"{_module_name(path)}: says notebooks/{nb} uses it, but that notebook's code "
            f"mentions neither the module, nor a module importing it, nor their public names")


def _users_outside(name: str, home: Path) -> list[str]:
    users = [nb for nb, code in NOTEBOOKS.items() if _mentions(code, name)]
    users += [str(p.relative_to(ROOT)) for p in MODULES if p != home
              and _mentions(p.read_text(), name)]
    users += [str(p.relative_to(ROOT)) for p in (ROOT / "benchmarks").glob("*.py")
              if _mentions(p.read_text(), name)]
    return users


def _uses_inside(name: str, tree: ast.Module) -> int:
    """How often ``name`` is loaded in its own module (beyond its definition)."""
    return sum(isinstance(n, ast.Name) and n.id == name and isinstance(n.ctx, ast.Load)
               for n in ast.walk(tree))


PUBLIC = [(path, name) for path in MODULES for name in _public_names(TREES[path])
          if _defined(TREES[path]).get(name) in ("function", "class")]


@pytest.mark.parametrize("path,name", PUBLIC,
                         ids=[f"{_module_name(p)}.{n}" for p, n in PUBLIC])
def test_every_public_function_is_used(path: Path, name: str) -> None:
    used = _users_outside(name, path) or _uses_inside(name, TREES[path]) > 0
    assert used, (f"{_module_name(path)}.{name} is public but no notebook, benchmark or "
                  "other code uses it: dead code (remove it, or use it)")


def test_the_usage_check_finds_dead_code(tmp_path: Path) -> None:
    """The check itself: a public function no one mentions is reported."""
    tree = ast.parse('__all__ = ["nobody_calls_me_xyz"]\ndef nobody_calls_me_xyz():\n    pass\n')
    assert not _users_outside("nobody_calls_me_xyz", tmp_path / "x.py")
    assert _uses_inside("nobody_calls_me_xyz", tree) == 0
