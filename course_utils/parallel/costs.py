"""Communication cost models: alpha-beta messages, all-reduce algorithms, bus bandwidth.

Units everywhere: bytes, seconds, bytes per second. ``bandwidth`` is the link rate in
bytes/s **per direction**; ``latency`` (alpha) is the fixed cost of one message in
seconds; beta = 1 / bandwidth is the time per byte. Every function accepts scalars or
NumPy arrays (broadcast together) and returns a float for scalar input, an array
otherwise.

Formulas (p = ranks, n = message bytes, lg = log2 rounded up), from Thakur,
Rabenseifner & Gropp 2005 (https://doi.org/10.1177/1094342005051521) and Patarasuk &
Yuan 2009 (https://doi.org/10.1016/j.jpdc.2008.09.002):

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

Used in: :doc:`/notebooks/dp_communication`, :doc:`/notebooks/mgpu_measure`,
:doc:`/notebooks/mgpu_hardware`, :doc:`/notebooks/mp_split_layers`.
"""

from __future__ import annotations

import numpy as np

from ..core.alphabeta import AlphaBeta, fit_alpha_beta, message_time
from ..core.checks import RealLike, as_real_array, check_choice, scalar_or_array
from .figures import PAPER_PCIE_2GPU_BANDWIDTH, PAPER_PCIE_SHARED_BANDWIDTH

__all__ = [
    "ALGORITHMS",
    "COLLECTIVES",
    "allreduce_time",
    "allreduce_terms",
    "fit_allreduce",
    "leave_one_out_errors",
    "busbw_factor",
    "algorithm_bandwidth",
    "bus_bandwidth",
    "pcie_switch_bandwidth",
    "pcie_switch_sync_time",
]

ALGORITHMS = ("ring", "tree", "recursive_doubling", "rabenseifner", "parameter_server")
COLLECTIVES = ("allreduce", "reducescatter", "allgather", "alltoall", "broadcast", "reduce")



def _ranks(n: RealLike) -> np.ndarray:
    return as_real_array("n", n, minimum=1, integer=True)


def _lg(p: np.ndarray) -> np.ndarray:
    """Number of rounds of a binary algorithm: ceil(log2 p) (0 for p = 1)."""
    return np.ceil(np.log2(p))


def allreduce_terms(
    n: RealLike, algorithm: str = "ring"
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
    nbytes: RealLike,
    n: RealLike,
    bandwidth: RealLike,
    latency: RealLike,
    algorithm: str = "ring",
    *,
    reduce_time_per_byte: RealLike = 0.0,
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


def fit_allreduce(
    nbytes: RealLike, n: RealLike, seconds: RealLike, algorithm: str = "ring"
) -> AlphaBeta:
    """Fit latency alpha (s) and beta (s/byte) to measured all-reduce times.

    The one alpha-beta fit of the course (:func:`course_utils.core.fit_alpha_beta`,
    relative least squares, alpha, beta >= 0) with ``algorithm``'s message and byte
    counts (:func:`allreduce_terms`) for ``n`` ranks.

    Args:
        nbytes: bytes each rank all-reduced, per measurement (>= 0).
        n: ranks (whole number >= 2), one for all or one per measurement.
        seconds: measured times (> 0), one per measurement.
        algorithm: one of :data:`ALGORITHMS`.
    """
    check_choice("algorithm", algorithm, ALGORITHMS)
    nb = np.ravel(as_real_array("nbytes", nbytes, minimum=0))
    t = np.ravel(as_real_array("seconds", seconds, minimum=0, strict_minimum=True))
    p = np.ravel(as_real_array("n", n, minimum=2, integer=True))
    if nb.shape != t.shape:
        raise ValueError(f"nbytes and seconds must have the same length, got {nb.size} "
                         f"and {t.size}")
    if p.size not in (1, nb.size):
        raise ValueError(f"n must be one rank count or one per measurement ({nb.size}), "
                         f"got {p.size}")
    a, b, _ = allreduce_terms(p, algorithm)
    return fit_alpha_beta(nb, t, latency_terms=a, byte_terms=b)


def leave_one_out_errors(
    nbytes: RealLike, n: int, seconds: RealLike, algorithm: str = "ring"
) -> np.ndarray:
    """Cross-validate the alpha-beta model: predict each size from a fit to the others.

    For every measurement ``i`` it fits :func:`fit_allreduce` to all the other
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
        fit = fit_allreduce(nb[rest], n, t[rest], algorithm)
        errors[i] = allreduce_time(nb[i], n, fit.bandwidth, fit.alpha, algorithm) / t[i] - 1
    return errors


def busbw_factor(n: RealLike, collective: str = "allreduce") -> float | np.ndarray:
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


def algorithm_bandwidth(nbytes: RealLike, seconds: RealLike) -> float | np.ndarray:
    """nccl-tests ``algbw = S / t`` in bytes/s (``S`` bytes, ``t`` seconds > 0)."""
    nb = as_real_array("nbytes", nbytes, minimum=0)
    t = as_real_array("seconds", seconds, minimum=0, strict_minimum=True)
    return scalar_or_array(nb / t)


def bus_bandwidth(
    nbytes: RealLike, seconds: RealLike, n: RealLike, collective: str = "allreduce"
) -> float | np.ndarray:
    """nccl-tests bus bandwidth in bytes/s: ``(S / t) * busbw_factor(n, collective)``.

    For a ring all-reduce with no latency this equals the per-direction link
    bandwidth, whatever ``n`` is: that is why nccl-tests reports it.
    """
    return scalar_or_array(
        np.asarray(algorithm_bandwidth(nbytes, seconds)) * np.asarray(busbw_factor(n, collective))
    )


def pcie_switch_bandwidth(n_gpus: RealLike) -> float | np.ndarray:
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
    nbytes: RealLike,
    n_gpus: RealLike,
    *,
    bandwidth: RealLike | None = None,
    latency: RealLike = 0.0,
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
