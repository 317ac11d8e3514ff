from __future__ import annotations

import numpy as np
import pytest

from course_utils.core import checks
from course_utils.core.checks import (
    as_real_array,
    check_array,
    check_choice,
    check_int,
    check_number,
    scalar_or_array,
)


def test_check_number_accepts_and_converts():
    assert check_number("x", 3) == 3.0
    assert check_number("x", np.float32(2.5), minimum=0) == 2.5
    assert check_number("x", 1.0, minimum=0, strict_minimum=True) == 1.0


@pytest.mark.parametrize("value, kwargs, exc, match", [
    ("1", {}, TypeError, "bandwidth must be a real number"),
    (True, {}, TypeError, "bandwidth must be a real number"),
    (float("inf"), {}, ValueError, "bandwidth must be finite"),
    (-1.0, {"minimum": 0}, ValueError, r"bandwidth must be >= 0, got -1$"),
    (0.0, {"minimum": 0, "strict_minimum": True}, ValueError, r"bandwidth must be > 0"),
    (5.0, {"maximum": 4}, ValueError, r"bandwidth must be <= 4"),
])
def test_check_number_errors_name_the_parameter(value, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        check_number("bandwidth", value, **kwargs)


def test_check_int():
    assert check_int("n", np.int64(4), minimum=1) == 4
    with pytest.raises(ValueError, match="n_gpus must be >= 1, got 0"):
        check_int("n_gpus", 0, minimum=1)
    with pytest.raises(TypeError, match="n_gpus must be an integer"):
        check_int("n_gpus", 2.0)


def test_check_array_and_choice():
    a = np.zeros((2, 3), np.float32)
    assert check_array("x", a, ndim=2, dtype=np.float32) is a
    with pytest.raises(ValueError, match="x must have 4 dimensions"):
        check_array("x", a, ndim=4)
    with pytest.raises(TypeError, match="x must have dtype float64"):
        check_array("x", a, dtype=np.float64)
    assert check_choice("method", "ring", ("ring", "tree")) == "ring"
    with pytest.raises(ValueError, match="method must be one of"):
        check_choice("method", "star", ("ring", "tree"))


def test_check_series_returns_float_arrays():
    x, y = checks.check_series("a", [1, 2], "b", [3, 4], x_word="points")
    assert x.dtype == y.dtype == np.float64 and list(y) == [3.0, 4.0]


@pytest.mark.parametrize("x, y, match", [
    ([1, 2], [1.0], "a and b must be 1-D and the same length"),
    ([2, 2], [1.0, 1.0], "a must contain at least two different points"),
    ([-1, 2], [1.0, 1.0], r"a must be finite and >= 0"),
    # NaN is caught by as_real_array first, in its wording (zero or negative: next case)
    ([1, 2], [1.0, np.nan], "b must be finite, got nan"),
    ([1, 2], [1.0, 0.0], r"b must be finite and > 0 \(positive\)"),
])
def test_check_series_rejects_bad_pairs(x, y, match):
    with pytest.raises(ValueError, match=match):
        checks.check_series("a", x, "b", y, x_word="points", x_minimum=0)


def test_as_real_array_checks_and_converts():
    arr = as_real_array("nbytes", [1, 2, 3], minimum=0, integer=True)
    assert arr.dtype == np.float64 and arr.tolist() == [1.0, 2.0, 3.0]
    assert as_real_array("x", 2.5).shape == ()
    assert scalar_or_array(np.asarray(2.0)) == 2.0 and isinstance(
        scalar_or_array(np.asarray(2.0)), float)
    vec = np.array([1.0, 2.0])
    assert scalar_or_array(vec) is vec


@pytest.mark.parametrize("value, kwargs, exc, match", [
    (True, {}, TypeError, "x must be a real number or array of them, got bool"),
    ("1", {}, TypeError, "x must be a real number or array of them, got str"),
    (["a"], {}, TypeError, "got dtype <U1"),
    ([1.0, np.nan], {}, ValueError, "x must be finite, got nan$"),
    # bounds and values printed as a reader writes them, never np.float64(-1.0)
    (np.array([0.0, -1.0]), {"minimum": 0}, ValueError, r"x must be >= 0, got -1$"),
    (0.0, {"minimum": 0, "strict_minimum": True}, ValueError, r"x must be > 0, got 0$"),
    ([1.5], {"integer": True}, ValueError, r"x must be a whole number, got 1.5$"),
])
def test_as_real_array_errors_print_plain_numbers(value, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        as_real_array("x", value, **kwargs)
