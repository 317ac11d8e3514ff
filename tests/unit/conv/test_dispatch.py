"""course_utils.conv.dispatch: conv2d, the one entry point for all seven methods, its
argument checks, and the benchmark script that runs every path."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from course_utils import conv
from course_utils.conv.reference import reference_conv2d

ROOT = Path(__file__).resolve().parents[3]


GOOD_X = np.zeros((1, 2, 5, 5), np.float32)
GOOD_W = np.zeros((3, 2, 3, 3), np.float32)


@pytest.mark.parametrize("kwargs, exc, match", [
    ({"x": GOOD_X.astype(np.float64)}, TypeError, "x must have dtype float32"),
    ({"w": GOOD_W.astype(np.float16)}, TypeError, "w must have dtype float32"),
    ({"x": GOOD_X.tolist()}, TypeError, "x must be a numpy.ndarray"),
    ({"x": GOOD_X[0]}, ValueError, "x must have 4 dimensions"),
    ({"w": GOOD_W[:, :1]}, ValueError, "x has C=2 channels"),
    ({"x": np.zeros((1, 2, 0, 5), np.float32)}, ValueError, "x must have no empty dimension"),
    ({"w": np.zeros((1, 2, 6, 3), np.float32)}, ValueError, "must fit in the padded input"),
    ({"stride": 0}, ValueError, "stride must be >= 1"),
    ({"stride": 1.5}, TypeError, "stride must be an integer"),
    ({"padding": -1}, ValueError, "padding must be >= 0"),
    ({"method": "winograd"}, ValueError, "method must be one of"),
    ({"x": np.full((1, 2, 5, 5), np.nan, np.float32)}, ValueError, "x must be finite"),
    ({"w": np.full((3, 2, 3, 3), np.inf, np.float32)}, ValueError, "w must be finite"),
])
def test_conv2d_rejects_bad_input(kwargs, exc, match):
    args = {"x": GOOD_X, "w": GOOD_W, "stride": 1, "padding": 0, "method": "reference"} | kwargs
    with pytest.raises(exc, match=match):
        conv.conv2d(args.pop("x"), args.pop("w"), **args)


@pytest.mark.parametrize("method", conv.REFERENCE_METHODS)
def test_reference_methods_are_the_numpy_reference(method):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 9, 8), dtype=np.float32)
    w = rng.standard_normal((4, 3, 3, 2), dtype=np.float32)
    np.testing.assert_array_equal(
        conv.conv2d(x, w, stride=2, padding=1, method=method),
        reference_conv2d(x, w, stride=2, padding=1, method=method))


def test_reference_methods_never_import_numba():
    """conv2d with a NumPy method, in a fresh interpreter: Numba is not imported, so the
    device choice stays open (select_device() can still pick the GPU or the simulator)."""
    code = textwrap.dedent("""
        import sys
        import numpy as np
        from course_utils import conv
        x = np.ones((1, 1, 4, 4), np.float32)
        conv.conv2d(x, np.ones((1, 1, 2, 2), np.float32), method="reference_fft")
        print(sorted(m for m in sys.modules if m == "numba" or m.startswith("numba.")))
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_benchmark_tiny_mode_runs_every_path(tmp_path):
    spec = importlib.util.spec_from_file_location("bench_conv", ROOT / "benchmarks" / "conv.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    out = tmp_path / "tiny.json"
    report = bench.run(["--tiny", "--out", str(out)])
    assert json.loads(out.read_text())["tiny"] is True
    for prob in report["problems"].values():
        methods = {r["method"] for r in prob["results"]}
        assert set(conv.METHODS) | {"torch"} <= methods
        assert all(r.get("correct", True) for r in prob["results"])
    assert bench.crossover([3, 5, 7, 9], [1, 2, 3, 4], [2, 1, 3.5, 3]) == 9
    assert bench.crossover([3, 5], [1, 1], [2, 2]) is None


