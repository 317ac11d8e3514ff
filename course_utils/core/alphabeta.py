"""The alpha-beta model of a message, and the one fit every measurement in the course uses.

A message of ``n`` bytes takes ``alpha + n * beta`` seconds: ``alpha`` (latency) is the
fixed cost of sending anything, ``beta`` = 1 / bandwidth the time per byte. A collective
is a sequence of messages, so its time is ``a * alpha + b * n * beta`` with counts
``a`` (sequential messages) and ``b`` (bytes on the busiest link per input byte) that
depend on the algorithm (:func:`course_utils.parallel.allreduce_terms`).

Used by chapter 1 (ping-pong, data path: ``notebooks/mgpu_measure``) and chapters 2-3
(all-reduce and all-gather fits: ``notebooks/dp_communication``,
``notebooks/mp_split_layers``). Units: bytes, seconds, bytes per second.

Used in: :doc:`/notebooks/mgpu_measure`, :doc:`/notebooks/dp_communication`,
:doc:`/notebooks/mp_split_layers`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .checks import RealLike, as_real_array, check_series, scalar_or_array

__all__ = ["AlphaBeta", "message_time", "fit_alpha_beta", "fit_relative_least_squares"]


def message_time(nbytes: RealLike, bandwidth: RealLike, latency: RealLike) -> float | np.ndarray:
    """Alpha-beta time of one point-to-point message: ``latency + nbytes / bandwidth`` (s).

    Args:
        nbytes: message size in bytes (>= 0); scalar or array.
        bandwidth: link rate in bytes/s (> 0).
        latency: per-message start-up time alpha in seconds (>= 0).
    """
    nb = as_real_array("nbytes", nbytes, minimum=0)
    bw = as_real_array("bandwidth", bandwidth, minimum=0, strict_minimum=True)
    lat = as_real_array("latency", latency, minimum=0)
    return scalar_or_array(lat + nb / bw)


@dataclass(frozen=True)
class AlphaBeta:
    """A fitted alpha-beta model: ``alpha`` seconds plus ``beta`` seconds per byte."""

    alpha: float
    beta: float

    @property
    def bandwidth(self) -> float:
        """Asymptotic bandwidth 1 / beta in bytes/s."""
        return 1.0 / self.beta

    def predict(self, nbytes: RealLike) -> float | np.ndarray:
        """Model time in seconds of one message of ``nbytes`` bytes."""
        return message_time(nbytes, self.bandwidth, self.alpha)


def fit_relative_least_squares(
    latency_terms: np.ndarray, byte_terms: np.ndarray, seconds: np.ndarray
) -> tuple[float, float]:
    """Fit ``seconds ~ alpha * latency_terms + beta * byte_terms`` with alpha, beta >= 0.

    Residuals are relative (divided by ``seconds``), so small messages, which fix
    alpha, count as much as large ones, which fix beta. Returns ``(alpha, beta)``:
    seconds per latency term, seconds per byte.

    Raises:
        ValueError: the times do not grow with the byte terms (no bandwidth to fit).
    """
    from scipy.optimize import nnls

    seconds = as_real_array("seconds", seconds, minimum=0, strict_minimum=True)
    latency_terms = as_real_array("latency_terms", latency_terms, minimum=0)
    byte_terms = as_real_array("byte_terms", byte_terms, minimum=0)
    if seconds.ndim != 1 or not latency_terms.shape == byte_terms.shape == seconds.shape:
        raise ValueError("latency_terms, byte_terms and seconds must be 1-D and the same "
                         f"length, got {latency_terms.shape}, {byte_terms.shape}, {seconds.shape}")
    design = np.column_stack([latency_terms, byte_terms]) / seconds[:, None]
    (alpha, beta), _ = nnls(design, np.ones_like(seconds))
    if beta <= 0:
        raise ValueError("the times do not grow with the message size: bandwidth is "
                         "undefined; measure larger messages")
    return float(alpha), float(beta)


def fit_alpha_beta(
    nbytes: RealLike,
    seconds: RealLike,
    *,
    latency_terms: RealLike = 1.0,
    byte_terms: RealLike = 1.0,
) -> AlphaBeta:
    """Fit ``t = a * alpha + b * n * beta`` (alpha, beta >= 0) to measured times.

    For one point-to-point message ``a = b = 1`` (the defaults). For a collective pass
    its algorithm's counts, e.g. ``a, b, _ = allreduce_terms(p, "ring")``
    (:func:`course_utils.parallel.fit_allreduce` does).

    Args:
        nbytes: message sizes in bytes (>= 0, at least two different sizes).
        seconds: measured times in seconds (> 0), same length.
        latency_terms, byte_terms: ``a`` and ``b`` per measurement (scalars or arrays
            of the same length, >= 0).
    """
    n, t = check_series("nbytes", nbytes, "seconds", seconds, x_word="sizes", x_minimum=0)
    a = _per_point("latency_terms", latency_terms, n.shape)
    b = _per_point("byte_terms", byte_terms, n.shape)
    alpha, beta = fit_relative_least_squares(a, b * n, t)
    return AlphaBeta(alpha=alpha, beta=beta)


def _per_point(name: str, value: RealLike, shape: tuple[int, ...]) -> np.ndarray:
    arr = as_real_array(name, value, minimum=0)
    if arr.size != 1 and arr.shape != shape:
        raise ValueError(f"{name} must be a number or have one value per measurement "
                         f"({shape[0]}), got {arr.size}")
    return np.broadcast_to(arr.reshape(-1) if arr.size == 1 else arr, shape)
