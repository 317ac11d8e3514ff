"""Communication cost models: alpha-beta messages, all-reduce algorithms, bus bandwidth.

Units everywhere: bytes, seconds, bytes per second. ``bandwidth`` is the link rate in
bytes/s **per direction**; ``latency`` (alpha) is the fixed cost of one message in
seconds; beta = 1 / bandwidth is the time per byte. Every function accepts scalars or
NumPy arrays (broadcast together) and returns a float for scalar input, an array
otherwise.

Formulas (p = ranks, n = message bytes, lg = log2 rounded up), from Thakur,
Rabenseifner & Gropp 2005 (https://doi.org/10.1177/1094342005051521) and Patarasuk &
Yuan 2009 (https://doi.org/10.1016/j.jpdc.2008.09.002); see
``/work/shared/reference/parallelism.md`` section 4:

==================  ===========================================================
ring                2 (p-1) alpha + 2 (p-1)/p n beta  (+ (p-1)/p n gamma)
rabenseifner        2 lg p alpha + 2 (p-1)/p n beta  (+ (p-1)/p n gamma)
recursive_doubling  lg p (alpha + n beta + n gamma)
tree                2 lg p (alpha + n beta)  (+ lg p n gamma): reduce + broadcast
parameter_server    2 (p-1) (alpha + n beta)  (+ (p-1) n gamma): one rank gathers
                    p-1 gradients through its single link, sums, sends p-1 back
==================  ===========================================================

gamma (seconds per byte reduced) is optional and 0 by default.

Bus bandwidth follows nccl-tests
(https://github.com/NVIDIA/nccl-tests/blob/master/doc/PERFORMANCE.md):
``algbw = S / t`` and ``busbw = algbw * factor`` with factor 2(p-1)/p for all-reduce.
"""

from __future__ import annotations

import numpy as np

from ..validate import check_choice
from ._arrays import as_real_array, scalar_or_array
from .figures import PAPER_PCIE_2GPU_BANDWIDTH, PAPER_PCIE_SHARED_BANDWIDTH

__all__ = [
    "ALGORITHMS",
    "COLLECTIVES",
    "message_time",
    "allreduce_time",
    "allreduce_terms",
    "fit_alpha_beta",
    "leave_one_out_errors",
    "fit_relative_least_squares",
    "busbw_factor",
    "algorithm_bandwidth",
    "bus_bandwidth",
    "allreduce_time_from_busbw",
    "PAPER_PCIE_2GPU_BANDWIDTH",
    "PAPER_PCIE_SHARED_BANDWIDTH",
    "pcie_switch_bandwidth",
    "pcie_switch_sync_time",
]

ALGORITHMS = ("ring", "tree", "recursive_doubling", "rabenseifner", "parameter_server")
COLLECTIVES = ("allreduce", "reducescatter", "allgather", "alltoall", "broadcast", "reduce")



def _ranks(n: object) -> np.ndarray:
    return as_real_array("n", n, minimum=1, integer=True)


def _lg(p: np.ndarray) -> np.ndarray:
    """Number of rounds of a binary algorithm: ceil(log2 p) (0 for p = 1)."""
    return np.ceil(np.log2(p))


def message_time(nbytes: object, bandwidth: object, latency: object) -> float | np.ndarray:
    """Alpha-beta time of one point-to-point message: ``latency + nbytes / bandwidth`` (s).

    Args:
        nbytes: message size in bytes (>= 0).
        bandwidth: link rate in bytes/s (> 0).
        latency: per-message start-up time alpha in seconds (>= 0).
    """
    nb = as_real_array("nbytes", nbytes, minimum=0)
    bw = as_real_array("bandwidth", bandwidth, minimum=0, strict_minimum=True)
    lat = as_real_array("latency", latency, minimum=0)
    return scalar_or_array(lat + nb / bw)


def allreduce_terms(
    n: object, algorithm: str = "ring"
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Coefficients ``(a, b, c)`` with ``time = a*alpha + b*nbytes*beta + c*nbytes*gamma``.

    ``a`` is the number of sequential messages, ``b`` the bytes per rank that cross the
    busiest link per byte of input, ``c`` the bytes reduced per input byte. Useful for
    fitting alpha and beta to measurements by least squares.
    """
    check_choice("algorithm", algorithm, ALGORITHMS)
    p = _ranks(n)
    lg = _lg(p)
    frac = (p - 1) / p
    if algorithm == "ring":
        return 2 * (p - 1), 2 * frac, frac
    if algorithm == "rabenseifner":
        return 2 * lg, 2 * frac, frac
    if algorithm == "recursive_doubling":
        return lg, lg, lg
    if algorithm == "tree":
        return 2 * lg, 2 * lg, lg
    return 2 * (p - 1), 2 * (p - 1), p - 1  # parameter_server


def allreduce_time(
    nbytes: object,
    n: object,
    bandwidth: object,
    latency: object,
    algorithm: str = "ring",
    *,
    reduce_time_per_byte: object = 0.0,
) -> float | np.ndarray:
    """Time in seconds to all-reduce ``nbytes`` bytes over ``n`` ranks.

    Args:
        nbytes: bytes each rank contributes (and receives back), >= 0.
        n: number of ranks (whole number >= 1); one rank costs 0 s.
        bandwidth: per-direction link rate in bytes/s (> 0).
        latency: per-message latency alpha in seconds (>= 0).
        algorithm: one of :data:`ALGORITHMS`.
        reduce_time_per_byte: gamma, seconds to add one byte (>= 0; default 0).
    """
    nb = as_real_array("nbytes", nbytes, minimum=0)
    bw = as_real_array("bandwidth", bandwidth, minimum=0, strict_minimum=True)
    lat = as_real_array("latency", latency, minimum=0)
    gamma = as_real_array("reduce_time_per_byte", reduce_time_per_byte, minimum=0)
    a, b, c = allreduce_terms(n, algorithm)
    return scalar_or_array(a * lat + b * nb / bw + c * nb * gamma)


def fit_alpha_beta(
    nbytes: object, n: object, seconds: object, algorithm: str = "ring"
) -> tuple[float, float]:
    """Fit latency alpha (s) and bandwidth 1/beta (bytes/s) to measured all-reduce times.

    Least squares on **relative** error (each point weighted by 1/seconds, so small and
    large messages count alike), with alpha, beta >= 0. With exactly two points of
    different shape it solves them exactly. Returns ``(latency, bandwidth)``.
    """
    nb = np.ravel(as_real_array("nbytes", nbytes, minimum=0))
    t = np.ravel(as_real_array("seconds", seconds, minimum=0, strict_minimum=True))
    p = np.ravel(as_real_array("n", n, minimum=2, integer=True))
    nb, t, p = np.broadcast_arrays(nb, t, p)
    if nb.size < 2:
        raise ValueError(f"need at least 2 measurements to fit alpha and beta, got {nb.size}")
    a, b, _ = allreduce_terms(p, algorithm)
    alpha, beta = fit_relative_least_squares(a, b * nb, t)
    return alpha, 1.0 / beta


def leave_one_out_errors(
    nbytes: object, n: int, seconds: object, algorithm: str = "ring"
) -> np.ndarray:
    """Cross-validate the alpha-beta model: predict each size from a fit to the others.

    For every measurement ``i`` it fits :func:`fit_alpha_beta` to all the other
    (size, time) pairs and returns ``predicted_i / measured_i - 1``, so each number is a
    true prediction, not a residual of a fit that saw the point. Needs >= 3 sizes.
    """
    nb = np.ravel(as_real_array("nbytes", nbytes, minimum=0))
    t = np.ravel(as_real_array("seconds", seconds, minimum=0, strict_minimum=True))
    if nb.shape != t.shape:
        raise ValueError(f"nbytes and seconds must have the same length, got {nb.size} "
                         f"and {t.size}")
    if nb.size < 3:
        raise ValueError(f"need at least 3 measurements to leave one out, got {nb.size}")
    errors = np.empty(nb.size)
    for i in range(nb.size):
        rest = np.arange(nb.size) != i
        alpha, bw = fit_alpha_beta(nb[rest], n, t[rest], algorithm)
        errors[i] = allreduce_time(nb[i], n, bw, alpha, algorithm) / t[i] - 1
    return errors


def fit_relative_least_squares(
    latency_terms: np.ndarray, byte_terms: np.ndarray, seconds: np.ndarray
) -> tuple[float, float]:
    """Fit ``seconds ~ alpha * latency_terms + beta * byte_terms`` with alpha, beta >= 0.

    The shared core of every alpha-beta fit in the course (all-reduce here, point-to-point
    in :func:`course_utils.measure.fit_alpha_beta`). Residuals are relative (divided by
    ``seconds``), so small messages, which fix alpha, count as much as large ones, which
    fix beta. Returns ``(alpha, beta)``: seconds per latency term, seconds per byte.
    """
    from scipy.optimize import nnls

    design = np.column_stack([latency_terms, byte_terms]) / seconds[:, None]
    (alpha, beta), _ = nnls(design, np.ones_like(seconds))
    if beta <= 0:
        raise ValueError("the times do not grow with the message size: bandwidth is "
                         "undefined; measure larger messages")
    return float(alpha), float(beta)


def busbw_factor(n: object, collective: str = "allreduce") -> float | np.ndarray:
    """nccl-tests factor from algorithm bandwidth to bus bandwidth for ``n`` ranks."""
    check_choice("collective", collective, COLLECTIVES)
    p = _ranks(n)
    if collective == "allreduce":
        f = 2 * (p - 1) / p
    elif collective in ("broadcast", "reduce"):
        f = np.ones_like(p)
    else:
        f = (p - 1) / p
    return scalar_or_array(f)


def algorithm_bandwidth(nbytes: object, seconds: object) -> float | np.ndarray:
    """nccl-tests ``algbw = S / t`` in bytes/s (``S`` bytes, ``t`` seconds > 0)."""
    nb = as_real_array("nbytes", nbytes, minimum=0)
    t = as_real_array("seconds", seconds, minimum=0, strict_minimum=True)
    return scalar_or_array(nb / t)


def bus_bandwidth(
    nbytes: object, seconds: object, n: object, collective: str = "allreduce"
) -> float | np.ndarray:
    """nccl-tests bus bandwidth in bytes/s: ``(S / t) * busbw_factor(n, collective)``.

    For a ring all-reduce with no latency this equals the per-direction link
    bandwidth, whatever ``n`` is: that is why nccl-tests reports it.
    """
    return scalar_or_array(
        np.asarray(algorithm_bandwidth(nbytes, seconds)) * np.asarray(busbw_factor(n, collective))
    )


def allreduce_time_from_busbw(nbytes: object, n: object, busbw: object) -> float | np.ndarray:
    """Inverse of :func:`bus_bandwidth` for all-reduce: seconds = S * 2(n-1)/n / busbw."""
    nb = as_real_array("nbytes", nbytes, minimum=0)
    bb = as_real_array("busbw", busbw, minimum=0, strict_minimum=True)
    return scalar_or_array(nb * np.asarray(busbw_factor(n)) / bb)


def pcie_switch_bandwidth(n_gpus: object) -> float | np.ndarray:
    """Practical per-transfer PCIe bandwidth (bytes/s) in one box, from the 8-bit paper.

    About 14 GB/s when 2 GPUs share the bus, about 7 GB/s with more than 2, because
    pairs of slots share a PCIe switch that serves one incoming and one outgoing
    connection at a time (Dettmers 2016, section 2.3).
    """
    p = as_real_array("n_gpus", n_gpus, minimum=1, integer=True)
    return scalar_or_array(
        np.where(p <= 2, PAPER_PCIE_2GPU_BANDWIDTH, PAPER_PCIE_SHARED_BANDWIDTH)
    )


def pcie_switch_sync_time(
    nbytes: object,
    n_gpus: object,
    *,
    bandwidth: object | None = None,
    latency: object = 0.0,
) -> float | np.ndarray:
    """Seconds to synchronise ``nbytes`` of gradients naively across ``n_gpus`` GPUs.

    The paper's model: the shared PCIe switches serialise the transfers, so a full
    synchronisation costs ``n_gpus`` sequential messages of ``nbytes`` each (stated for
    4 GPUs: "4 messages"; one message per GPU for other counts is this course's
    generalisation). ``bandwidth`` defaults to :func:`pcie_switch_bandwidth`.
    Reproduces the paper's AlexNet example: 60M float32 parameters = 0.2235 GiB, 4 GPUs,
    7 GiB/s -> ~32 ms per message, ~128 ms in all.
    """
    p = as_real_array("n_gpus", n_gpus, minimum=1, integer=True)
    bw = pcie_switch_bandwidth(p) if bandwidth is None else bandwidth
    per_message = np.asarray(message_time(nbytes, bw, latency))
    return scalar_or_array(np.where(p > 1, p * per_message, 0.0))
