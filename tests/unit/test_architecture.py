"""The package's architecture, checked statically (ARCHITECTURE.md).

* the import graph between course_utils modules (every ``import`` statement, including
  the ones inside functions, relative imports resolved): no cycles; ``core`` imports no
  chapter package; a chapter package imports only ``core`` and chapters earlier in the
  book (systems < parallel < conv < brain); ``conv.reference`` (NumPy only) never reaches
  the Numba modules or the dispatcher;
* no module over 400 lines;
* every name in a subpackage's ``__all__`` can be imported from it.

Each failure message names the modules and import edges that break the rule.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

import course_utils

PKG_DIR = Path(course_utils.__file__).resolve().parent
ROOT = "course_utils"
CORE = "core"
#: chapter packages in book order: a package may import only core and those before it
BOOK_ORDER = ("systems", "parallel", "conv", "brain")
SUBPACKAGES = (CORE, *BOOK_ORDER)
MAX_LINES = 400
#: conv.reference is NumPy only: it must never reach these (directly or through others)
REFERENCE = "course_utils.conv.reference"
REFERENCE_FORBIDDEN = tuple(f"course_utils.conv.{m}"
                            for m in ("kernels", "fft_kernels", "device_conv", "dispatch"))


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PKG_DIR.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PKG_DIR.rglob("*.py"))}


MODULES = _modules()


def _resolve(name: str) -> str | None:
    """The course_utils module that importing ``name`` executes last: ``name`` itself if
    it is a module, else its longest prefix that is one (``pkg.func`` -> ``pkg``)."""
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


def _imports(module: str, path: Path) -> set[str]:
    """Course_utils modules that ``module`` imports anywhere in its source."""
    is_package = path.name == "__init__.py"
    package = module if is_package else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = package.split(".")
                if node.level > 1:
                    base_parts = base_parts[: -(node.level - 1)]
                base = ".".join(base_parts)
                if node.module:
                    base = f"{base}.{node.module}"
            else:
                base = node.module or ""
            # ``from pkg import sub`` imports the submodule when there is one
            names = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base
                     for a in node.names]
        else:
            continue
        for name in names:
            if name == ROOT or name.startswith(ROOT + "."):
                target = _resolve(name)
                if target is not None and target != module:
                    found.add(target)
    return found


GRAPH = {m: _imports(m, p) for m, p in MODULES.items()}


def _layer(module: str) -> str:
    """``core``, a chapter package's name, or ``course_utils`` for the top-level module."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ROOT


def _edges(rule) -> list[str]:
    return sorted(f"{a} -> {b}" for a, targets in GRAPH.items() for b in targets if rule(a, b))


def test_the_graph_sees_relative_and_function_level_imports():
    """Guards the parser itself: known edges of each kind are found."""
    assert "course_utils.core.checks" in GRAPH["course_utils.core.alphabeta"]  # from .checks
    assert "course_utils.core.launchers" in GRAPH["course_utils.systems.pingpong"]  # from ..core
    # imported inside conv2d (so importing conv never starts Numba), still an edge
    assert "course_utils.conv.device_conv" in GRAPH["course_utils.conv.dispatch"]
    assert set(SUBPACKAGES) <= {_layer(m) for m in MODULES}


def test_no_import_cycles():
    """Tarjan's strongly connected components: any component of 2+ modules is a cycle."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(GRAPH[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(GRAPH):
        if v not in index:
            visit(v)
    detail = [
        "{" + ", ".join(c) + "}: " + "; ".join(
            f"{a} -> {b}" for a in c for b in sorted(GRAPH[a]) if b in c)
        for c in cycles
    ]
    assert not cycles, "import cycles between course_utils modules:\n" + "\n".join(detail)


def test_core_imports_no_chapter_package():
    bad = _edges(lambda a, b: _layer(a) == CORE and _layer(b) != CORE)
    assert not bad, ("course_utils.core must import only course_utils.core; these imports "
                     "break the rule:\n" + "\n".join(bad))


def test_top_level_module_imports_only_core():
    bad = _edges(lambda a, b: _layer(a) == ROOT and _layer(b) != CORE)
    assert not bad, ("course_utils/__init__.py must import only course_utils.core:\n"
                     + "\n".join(bad))


def test_chapter_packages_import_only_core_and_earlier_chapters():
    def breaks(a: str, b: str) -> bool:
        la, lb = _layer(a), _layer(b)
        if la not in BOOK_ORDER or lb in (CORE, la):
            return False
        return lb not in BOOK_ORDER or BOOK_ORDER.index(lb) > BOOK_ORDER.index(la)

    bad = _edges(breaks)
    assert not bad, (f"a chapter package may import only core and the chapters before it "
                     f"({' < '.join(BOOK_ORDER)}); these imports break the rule:\n"
                     + "\n".join(bad))


def test_conv_reference_never_reaches_the_numba_modules_or_the_dispatcher():
    """Transitively: a path reference -> ... -> kernels would start Numba on import."""
    parent = {REFERENCE: None}
    todo = [REFERENCE]
    while todo:
        v = todo.pop()
        for w in sorted(GRAPH[v]):
            if w not in parent:
                parent[w] = v
                todo.append(w)
    paths = []
    for target in REFERENCE_FORBIDDEN:
        if target in parent:
            path, v = [], target
            while v is not None:
                path.append(v)
                v = parent[v]
            paths.append(" -> ".join(reversed(path)))
    assert not paths, ("course_utils.conv.reference must never import the CUDA modules or "
                       "the dispatcher; import paths found:\n" + "\n".join(paths))


def test_no_module_over_400_lines():
    sizes = {m: len(p.read_text().splitlines()) for m, p in MODULES.items()}
    big = sorted(f"{MODULES[m].relative_to(PKG_DIR.parent)}: {n} lines"
                 for m, n in sizes.items() if n > MAX_LINES)
    assert not big, f"modules over {MAX_LINES} lines (split them):\n" + "\n".join(big)


@pytest.mark.parametrize("package", [ROOT] + [f"{ROOT}.{p}" for p in SUBPACKAGES])
def test_every_name_in_a_packages_all_is_importable(package):
    mod = importlib.import_module(package)
    names = getattr(mod, "__all__", None)
    assert names, f"{package} has no __all__"
    dupes = sorted({n for n in names if names.count(n) > 1})
    assert not dupes, f"{package}.__all__ lists names twice: {dupes}"
    missing = []
    for name in names:
        try:
            exec(f"from {package} import {name}", {})
        except ImportError as exc:
            missing.append(f"{name} ({exc})")
    assert not missing, f"names in {package}.__all__ that cannot be imported from it: {missing}"


@pytest.mark.parametrize("package", [f"{ROOT}.{p}" for p in SUBPACKAGES])
def test_no_re_exported_name_hides_a_module(package):
    """``from course_utils.parallel import scaling_explorer`` must give the module, not a
    function of the same name re-exported by the package."""
    import pkgutil
    import types

    mod = importlib.import_module(package)
    hidden = [info.name for info in pkgutil.iter_modules(mod.__path__)
              if info.name in getattr(mod, "__all__", [])
              or not isinstance(getattr(mod, info.name, types.ModuleType("x")), types.ModuleType)]
    assert not hidden, f"{package} re-exports names that hide its modules: {hidden}"
