"""Argument checks shared by every public function in ``course_utils``.

Each check raises ``TypeError`` (wrong kind of value) or ``ValueError`` (right kind,
out of range) with a message that names the parameter and the accepted range, in one
style: ``"<name> must be <what is accepted>, got <value>"``. Scalars are checked by
:func:`check_number`, :func:`check_int` and :func:`check_choice`; the cost models,
which take scalars or whole NumPy sweeps, by :func:`as_real_array`.

Used by every chapter package; defined here, in the shared core.

Used in: every chapter, through the other modules of ``course_utils``.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import numpy as np

#: What a cost model accepts for a numeric parameter: a number, or a sequence or NumPy
#: array of them (evaluated element-wise, broadcast together).
RealLike = float | int | Sequence[float] | np.ndarray

__all__ = [
    "RealLike",
    "check_number",
    "check_int",
    "check_array",
    "check_choice",
    "check_series",
    "as_real_array",
    "scalar_or_array",
]


def check_number(
    name: str,
    value: object,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    strict_minimum: bool = False,
) -> float:
    """Return ``value`` as a float after checking it is a finite real number in range.

    Args:
        name: parameter name used in the error message.
        minimum, maximum: inclusive bounds (``None`` = unbounded).
        strict_minimum: make the lower bound exclusive (``value > minimum``).
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    v = float(value)
    if not np.isfinite(v):
        raise ValueError(f"{name} must be finite, got {v}")
    if minimum is not None:
        if strict_minimum and not v > minimum:
            raise ValueError(f"{name} must be > {minimum:g}, got {v:g}")
        if not strict_minimum and not v >= minimum:
            raise ValueError(f"{name} must be >= {minimum:g}, got {v:g}")
    if maximum is not None and not v <= maximum:
        raise ValueError(f"{name} must be <= {maximum:g}, got {v:g}")
    return v


def check_int(
    name: str, value: object, *, minimum: int | None = None, maximum: int | None = None
) -> int:
    """Return ``value`` as an int after checking it is an integer in ``[minimum, maximum]``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
    v = int(value)
    if minimum is not None and v < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {v}")
    if maximum is not None and v > maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {v}")
    return v


def check_array(
    name: str,
    value: object,
    *,
    ndim: int | None = None,
    dtype: type | np.dtype | None = None,
) -> np.ndarray:
    """Check that ``value`` is a NumPy array with the given number of dims and dtype."""
    if not isinstance(value, np.ndarray):
        raise TypeError(f"{name} must be a numpy.ndarray, got {type(value).__name__}")
    if ndim is not None and value.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {value.shape}")
    if dtype is not None and value.dtype != np.dtype(dtype):
        raise TypeError(f"{name} must have dtype {np.dtype(dtype)}, got {value.dtype}")
    return value


def check_choice(name: str, value: object, choices: tuple[str, ...]) -> str:
    """Check that ``value`` is one of the strings in ``choices``."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")
    return str(value)


def check_series(
    x_name: str, x: object, y_name: str, y: object, *, x_word: str,
    x_minimum: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Check measured pairs for a fit; return them as 1-D float arrays ``(x, y)``.

    ``x`` and ``y`` must be 1-D and the same length, ``x`` must hold at least two
    different values (``x_word`` names them in the message, e.g. "sizes"), be finite
    and, if given, ``>= x_minimum``; every ``y`` must be finite and > 0.
    """
    xs, ys = as_real_array(x_name, x), as_real_array(y_name, y)
    if xs.ndim != 1 or xs.shape != ys.shape:
        raise ValueError(f"{x_name} and {y_name} must be 1-D and the same length, "
                         f"got {xs.shape}, {ys.shape}")
    if np.unique(xs).size < 2:
        raise ValueError(f"{x_name} must contain at least two different {x_word}")
    if not np.all(np.isfinite(xs)) or (x_minimum is not None and np.any(xs < x_minimum)):
        bound = "" if x_minimum is None else f" and >= {x_minimum:g}"
        raise ValueError(f"{x_name} must be finite{bound}")
    if not np.all(np.isfinite(ys)) or np.any(ys <= 0):
        raise ValueError(f"{y_name} must be finite and > 0 (positive)")
    return xs, ys

def as_real_array(
    name: str,
    value: object,
    *,
    minimum: float | None = None,
    strict_minimum: bool = False,
    integer: bool = False,
) -> np.ndarray:
    """Return ``value`` (a real number or array of them) as a float64 array, checked.

    Args:
        name: parameter name used in the error message.
        minimum: lower bound (inclusive unless ``strict_minimum``).
        integer: every element must be a whole number.

    Raises:
        TypeError: not a real number / real-valued array (bools and strings included).
        ValueError: NaN, infinity, out of range, or not whole when ``integer``.
    """
    if isinstance(value, (bool, np.bool_)) or isinstance(value, (str, bytes)):
        kind = type(value).__name__
        raise TypeError(f"{name} must be a real number or array of them, got {kind}")
    if isinstance(value, numbers.Real):
        arr = np.asarray(float(value))
    else:
        try:
            arr = np.asarray(value)
        except Exception as exc:  # pragma: no cover - exotic objects
            raise TypeError(f"{name} must be a real number or array of them") from exc
        if arr.dtype == object or not (
            np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)
        ):
            raise TypeError(
                f"{name} must be a real number or array of them, got dtype {arr.dtype}"
            )
        arr = arr.astype(np.float64)
    if arr.size and not np.all(np.isfinite(arr)):
        bad = arr[~np.isfinite(arr)].flat[0]
        raise ValueError(f"{name} must be finite, got {_show(bad)}")
    if minimum is not None and arr.size:
        bad = arr <= minimum if strict_minimum else arr < minimum
        if np.any(bad):
            op = ">" if strict_minimum else ">="
            raise ValueError(f"{name} must be {op} {minimum:g}, got {_show(arr[bad].flat[0])}")
    if integer and arr.size and np.any(arr != np.round(arr)):
        bad = arr[arr != np.round(arr)].flat[0]
        raise ValueError(f"{name} must be a whole number, got {_show(bad)}")
    return arr


def _show(x: object) -> str:
    """A number as a reader writes it (``-1``, ``0.5``, ``nan``), never ``np.float64(-1.0)``."""
    return f"{float(x):g}"


def scalar_or_array(result: np.ndarray) -> float | np.ndarray:
    """A 0-d result as a Python float, anything else unchanged."""
    return float(result) if np.ndim(result) == 0 else result
