"""Vectorised argument checks for the parallelism cost models.

Like :mod:`course_utils.validate`, but each parameter may be a scalar or a NumPy array
(the models are evaluated on whole sweeps at once). Errors name the parameter and the
accepted range.
"""

from __future__ import annotations

import numbers

import numpy as np

__all__ = ["as_real_array", "scalar_or_array"]


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
        raise ValueError(f"{name} must be finite, got {value!r}")
    if minimum is not None and arr.size:
        bad = arr <= minimum if strict_minimum else arr < minimum
        if np.any(bad):
            op = ">" if strict_minimum else ">="
            raise ValueError(f"{name} must be {op} {minimum}, got {arr[bad].flat[0]!r}")
    if integer and arr.size and np.any(arr != np.round(arr)):
        raise ValueError(f"{name} must be a whole number, got {value!r}")
    return arr


def scalar_or_array(result: np.ndarray) -> float | np.ndarray:
    """A 0-d result as a Python float, anything else unchanged."""
    return float(result) if np.ndim(result) == 0 else result
