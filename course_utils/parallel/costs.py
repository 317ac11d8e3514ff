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

Across nodes, :func:`hierarchical_allreduce_time` models the two-level all-reduces of a
GPU cluster (``g`` GPUs per node on NVLink, ``m`` nodes on a network, a per-hop alpha for
each level): a hierarchical ring, NCCL's tree (latency growing with log2 m), in-network
reduction (NVLink SHARP, InfiniBand SHARP) and NCCL's choice of the fastest. Its hop
latencies are NCCL's own (:data:`course_utils.parallel.figures.NCCL_NET_HOP_LATENCY`).

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
    "HIERARCHICAL_ALGORITHMS",
    "allreduce_time",
    "hierarchical_allreduce_time",
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
HIERARCHICAL_ALGORITHMS = ("ring", "tree", "in_network", "auto")


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


def hierarchical_allreduce_time(
    nbytes: RealLike,
    gpus_per_node: RealLike,
    nodes: RealLike,
    intra_bandwidth: RealLike,
    inter_bandwidth: RealLike,
    intra_alpha: RealLike,
    inter_alpha: RealLike,
    algorithm: str = "auto",
    *,
    in_network: bool = False,
    base_latency: RealLike = 0.0,
) -> float | np.ndarray:
    """Seconds to all-reduce ``nbytes`` on ``nodes`` nodes of ``gpus_per_node`` GPUs each.

    With ``g`` GPUs per node, ``m`` nodes, ``s = nbytes / g`` (one GPU's shard), per-hop
    latencies ``ai``, ``ae`` and per-GPU bandwidths ``Bi``, ``Be``:

    * ``"ring"``: reduce-scatter inside each node, ring all-reduce of each GPU's shard
      across the nodes (``g`` rings at once, one per GPU and network port), all-gather
      inside the node: ``2(g-1) ai + 2(m-1) ae + 2(g-1)/g n/Bi + 2(m-1)/m s/Be``. One
      node, or one GPU per node, is the flat ring of :func:`allreduce_time`.
    * ``"tree"``: the same steps inside the node, and across nodes NCCL's pipelined
      tree: latency ``2 ceil(log2 m) ae``, bandwidth ``2 s/Be`` (each byte goes up the
      tree and back down; NCCL's tree model gives it half the bus bandwidth as
      algorithm bandwidth, :data:`course_utils.parallel.figures.NCCL_TUNING_URL`).
    * ``"in_network"``: the switches add (NVLink SHARP inside the node, InfiniBand
      SHARP across nodes): each GPU sends its data once and receives the sum once,
      ``2 ai + n/Bi`` inside a node (``g > 1``) plus ``2 ae + s/Be`` across nodes
      (``m > 1``): about half the ring's bandwidth term for many GPUs.
    * ``"auto"``: the fastest of ring and tree (and of in-network when ``in_network``),
      as NCCL's tuner chooses per call.

    Phases run one after another (no overlap between levels). ``base_latency`` is added
    once per call on more than one GPU (NCCL's ``baseLat``); a single GPU costs 0 s.

    Args:
        nbytes: bytes each GPU contributes and receives back (>= 0).
        gpus_per_node: GPUs per node, ``g`` (whole number >= 1).
        nodes: nodes, ``m`` (whole number >= 1).
        intra_bandwidth: per-GPU, per-direction bandwidth inside a node (NVLink), bytes/s (> 0).
        inter_bandwidth: per-GPU, per-direction network bandwidth (the node's injection
            bandwidth / ``g``), bytes/s (> 0).
        intra_alpha: latency of one step inside a node, seconds (>= 0).
        inter_alpha: latency of one step across the network, seconds (>= 0).
        algorithm: one of :data:`HIERARCHICAL_ALGORITHMS`.
        in_network: whether the switches can reduce (NVLS / SHARP): ``"auto"`` then
            considers ``"in_network"`` too, and ``"in_network"`` requires it.
        base_latency: fixed cost of one call, seconds (>= 0; default 0).
    """
    check_choice("algorithm", algorithm, HIERARCHICAL_ALGORITHMS)
    if not isinstance(in_network, bool | np.bool_):
        raise TypeError(f"in_network must be True or False, got {type(in_network).__name__}")
    if algorithm == "in_network" and not in_network:
        raise ValueError("algorithm 'in_network' needs in_network=True (switches that reduce)")
    nb = as_real_array("nbytes", nbytes, minimum=0)
    g = as_real_array("gpus_per_node", gpus_per_node, minimum=1, integer=True)
    m = as_real_array("nodes", nodes, minimum=1, integer=True)
    bi = as_real_array("intra_bandwidth", intra_bandwidth, minimum=0, strict_minimum=True)
    be = as_real_array("inter_bandwidth", inter_bandwidth, minimum=0, strict_minimum=True)
    ai = as_real_array("intra_alpha", intra_alpha, minimum=0)
    ae = as_real_array("inter_alpha", inter_alpha, minimum=0)
    base = as_real_array("base_latency", base_latency, minimum=0)

    shard = nb / g
    inside = 2 * (g - 1) * ai + 2 * (g - 1) / g * nb / bi  # reduce-scatter + all-gather
    times = {
        "ring": inside + 2 * (m - 1) * ae + 2 * (m - 1) / m * shard / be,
        "tree": inside + 2 * _lg(m) * ae + np.where(m > 1, 2 * shard / be, 0.0),
    }
    if in_network:
        times["in_network"] = (np.where(g > 1, 2 * ai + nb / bi, 0.0)
                               + np.where(m > 1, 2 * ae + shard / be, 0.0))
    if algorithm == "auto":
        t = np.minimum(times["ring"], times["tree"])
        if in_network:
            t = np.minimum(t, times["in_network"])
    else:
        t = times[algorithm]
    return scalar_or_array(np.where(g * m > 1, base + t, 0.0))


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
