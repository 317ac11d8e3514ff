"""One value for each constant: notebooks take catalogue constants from ``course_utils``.

A GPU peak, a memory or link bandwidth, a latency, AlexNet's parameter count or its
104.1 ms step is defined once, with its source, in ``course_utils`` (the CSV files of
``course_utils/data`` read by :mod:`course_utils.systems.hardware`,
:mod:`course_utils.parallel.figures`, :mod:`course_utils.parallel.workloads`,
:mod:`course_utils.parallel.paper_model`). A notebook that types a copy (``6.75e9``,
``43.3e6``, ``60e6``, ``104.1``, ``5.6e12``) keeps its own value when the catalogue
changes, and two chapters can then disagree. This test reads every code cell's numeric
literals and fails on a copy of a catalogue constant, in any of the units the course
prints it in (bytes/s or GB/s; FLOP/s or TFLOP/s; seconds, ms or µs; parameters or
millions), exactly or rounded to three significant digits.

What is read: a number written with an exponent or digit separators (``6e-6``,
``60e6``, ``60_000_000``), a decimal with three or more significant digits (``6.75``,
``104.1``), an integer of 100,000 or more, and constant expressions (``14 * 2**30``,
``7 * GIB``, ``104.1e-3 / 128``) whole and in parts. What is not: small integers
(``4``, ``16``, ``100``) and decimals of one or two significant digits (``0.5``,
``4.8``), which are counts, sizes and plot coordinates (``figsize=(8, 4.8)``) far more
often than copies, and powers of ten (``1e9``, ``1e11``), which are unit factors. So
``5.6e12`` is caught and a bare ``5.6`` is not. ``ALLOWED`` lists the remaining
coincidences, each with its reason.
"""

from __future__ import annotations

import ast
import math
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest

from course_utils.parallel import figures, paper_model, workloads
from course_utils.systems import hardware as hw

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))

#: (notebook stem, literal as written) -> why it is not a copy of the constant it equals.
ALLOWED: dict[tuple[str, str], str] = {}

#: Names a notebook may multiply literals by; ``7 * GIB`` is folded like ``7 * 2**30``.
KNOWN_NAMES = {"GIB": figures.GIB}

BANDWIDTH = (1.0, 1e-9, 1e-12)          # bytes/s, GB/s, TB/s
FLOPS = (1.0, 1e-12)                     # FLOP/s, TFLOP/s
TIME = (1.0, 1e3, 1e6)                   # s, ms, µs
COUNT = (1.0, 1e-6, 1e-9)                # parameters, millions, billions


@dataclass(frozen=True)
class Constant:
    """A catalogue value in SI units and the scales a notebook may write it in."""

    name: str
    value: float
    scales: tuple[float, ...]

    def written_forms(self) -> list[float]:
        forms = []
        for s in self.scales:
            v = self.value * s
            forms.append(v)
            if _significant_digits(v) > 3:
                forms.append(_round_sig(v, 3))
        return forms


def _round_sig(x: float, digits: int) -> float:
    return 0.0 if x == 0 else round(x, digits - 1 - math.floor(math.log10(abs(x))))


def _significant_digits(x: float) -> int:
    text = f"{abs(x):.12e}".split("e")[0].replace(".", "").rstrip("0")
    return max(1, len(text))


def catalogue_constants() -> list[Constant]:
    """Every constant the notebooks must take from ``course_utils``, in SI units."""
    out = []
    for g in hw.gpus().values():
        for attr in ("fp32_flops", "fp32_base_flops", "tensor_flops"):
            if getattr(g, attr):
                out.append(Constant(f"hw.gpu({g.name!r}).{attr}", getattr(g, attr), FLOPS))
        if g.memory_bandwidth:
            out.append(Constant(f"hw.gpu({g.name!r}).memory_bandwidth", g.memory_bandwidth,
                                BANDWIDTH))
    for lk in hw.links().values():
        scales = BANDWIDTH + (8e-9,)          # + Gbit/s
        if lk.kind == "nvlink":
            scales += (2e-9,)                 # NVIDIA's bidirectional GB/s
        out.append(Constant(f"hw.link({lk.name!r}).bandwidth", lk.bandwidth, scales))
        if lk.latency:
            out.append(Constant(f"hw.link({lk.name!r}).latency", lk.latency, TIME))
    for s in hw.systems():
        out.append(Constant(f"hw.systems() {s.system} node_injection", s.node_injection,
                            BANDWIDTH))
    for name in figures.__all__:
        value = getattr(figures, name)
        if isinstance(value, float | int) and name != "GIB":
            scales = TIME if "LATENCY" in name else BANDWIDTH + (1 / figures.GIB,)
            out.append(Constant(f"figures.{name}", float(value), scales))
    for key, w in workloads.WORKLOADS.items():
        out.append(Constant(f"workloads.{key}.parameters", float(w.parameters), COUNT))
        if w.step_seconds is not None:
            out.append(Constant(f"workloads.{key}.step_seconds", w.step_seconds, TIME))
    for key, ms in paper_model.TOTAL_MS.items():
        out.append(Constant(f"paper_model.TOTAL_MS[{key!r}]", ms * 1e-3, TIME))
    return out


CONSTANTS = catalogue_constants()


def _fold(node: ast.AST) -> float | None:
    """The value of a constant expression (numbers, + - * / **, KNOWN_NAMES), else None."""
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float) and not isinstance(
            node.value, bool):
        return float(node.value)
    if isinstance(node, ast.Name) and node.id in KNOWN_NAMES:
        return float(KNOWN_NAMES[node.id])
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        v = _fold(node.operand)
        return None if v is None else (-v if isinstance(node.op, ast.USub) else v)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Sub | ast.Mult
                                                   | ast.Div | ast.Pow):
        a, b = _fold(node.left), _fold(node.right)
        if a is None or b is None:
            return None
        try:
            return float({ast.Add: a + b, ast.Sub: a - b, ast.Mult: a * b,
                          ast.Div: a / b if b else math.inf,
                          ast.Pow: a**b if abs(b) < 64 else math.inf}[type(node.op)])
        except OverflowError:
            return math.inf
    return None


def _is_read(text: str, value: float, compound: bool) -> bool:
    """Whether a literal (or folded expression) is specific enough to be a copy."""
    if not math.isfinite(value) or value == 0 or _significant_digits(value) == 1 and (
            f"{abs(value):e}".startswith("1.")):
        return False  # zero, infinity, or a power of ten (a unit factor)
    if compound:
        return abs(value) >= 1e5 or (value != int(value) and _significant_digits(value) >= 3)
    if "e" in text.lower() or "_" in text:
        return True
    if "." in text:
        return _significant_digits(value) >= 3
    return abs(value) >= 1e5


def literal_copies(source: str) -> list[tuple[str, str]]:
    """(literal as written, constant name) for each copy of a catalogue constant in code."""
    code = "\n".join(line for line in source.splitlines()
                     if not line.lstrip().startswith(("%", "!")))
    tree = ast.parse(code)
    found, seen = [], set()

    def visit(node: ast.AST) -> None:
        value = _fold(node)
        if value is not None and not (isinstance(node, ast.Name)):
            compound = not isinstance(node, ast.Constant)
            text = ast.get_source_segment(code, node) or repr(value)
            if _is_read(text.replace(" ", ""), value, compound):
                for c in CONSTANTS:
                    if any(math.isclose(value, f, rel_tol=1e-9) for f in c.written_forms()):
                        if (text, c.name) not in seen:
                            seen.add((text, c.name))
                            found.append((text, c.name))
                        if compound:
                            return  # a matching expression is reported whole, not its parts
                        break
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def notebook_copies(path: Path) -> list[tuple[int, str, str]]:
    """(cell index, literal, constant) for every disallowed copy in ``path``'s code cells."""
    nb = nbformat.read(path, as_version=4)
    out = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        for text, name in literal_copies(cell.source):
            if (path.stem, text) not in ALLOWED:
                out.append((i, text, name))
    return out


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebooks_take_catalogue_constants_from_course_utils(path):
    copies = notebook_copies(path)
    assert not copies, (
        f"{len(copies)} literal copies of catalogue constants in {path.name}'s code (use the "
        "named value from course_utils instead):\n"
        + "\n".join(f"  cell {i}: {text} is {name}" for i, text, name in copies))


@pytest.mark.parametrize("code, constant", [
    ("params = 43.3e6", "workloads.alexnet_paper.parameters"),
    ("n = 60e6", "workloads.alexnet_2012.parameters"),
    ("n = 60_000_000", "workloads.alexnet_2012.parameters"),
    ("t = 104.1e-3 / 128", "workloads.alexnet_paper.step_seconds"),
    ("t_ms = 104.1", "workloads.alexnet_paper.step_seconds"),
    ("bw = 6.75e9", "hw.link('ib_fdr').bandwidth"),
    ("print(x / 6.75)", "hw.link('ib_fdr').bandwidth"),
    ("peak = 5.6e12", "hw.gpu('Tesla K80').fp32_base_flops"),
    ("f(latency=6e-6)", "hw.link('ib_fdr').latency"),
    ("bw = 7 * GIB", "figures.PAPER_PCIE_SHARED_BANDWIDTH"),
    ("bw = 14 * 2**30", "figures.PAPER_PCIE_2GPU_BANDWIDTH"),
    ("h = 989.4e12", "hw.gpu('H100 SXM5').tensor_flops"),
])
def test_a_copy_is_caught(code, constant):
    assert constant in [name for _, name in literal_copies(code)], literal_copies(code)


@pytest.mark.parametrize("code", [
    "n_gpus = 4; lanes = 16; batch = 128",
    "fig, ax = plt.subplots(figsize=(6, 4.0)); ax.grid(alpha=0.3)",
    "sizes = [4096 * 4**k for k in range(9)]",
    "bw = hw.link('ib_fdr').bandwidth; t = ALEXNET_PAPER.step_seconds",
    "buffer = 3 * GIB  # a buffer size, not a catalogue row",
    "fig, ax = plt.subplots(figsize=(8, 4.8)); ax.text(7.7, 2.7, '@')",
    "neurons = 1e11; scale = 1e9",
])
def test_settings_and_named_values_pass(code):
    assert literal_copies(code) == []


def test_the_constants_cover_each_concept():
    names = " ".join(c.name for c in CONSTANTS)
    for part in ("fp32_flops", "tensor_flops", "memory_bandwidth", "hw.link('pcie3')",
                 "figures.PAPER_PCIE_SHARED_BANDWIDTH", "workloads.alexnet_paper.parameters",
                 "paper_model.TOTAL_MS['nervana']"):
        assert part in names


def test_the_allow_list_is_short_and_explained():
    assert len(ALLOWED) <= 10
    assert all(isinstance(why, str) and len(why) > 20 for why in ALLOWED.values())
