"""The five parallelisms priced: memory per GPU and communication per step of each.

For ``N`` parameters (``Psi`` in the ZeRO paper) and ``d`` data-parallel ranks, with
bytes per parameter from :data:`course_utils.parallel.memory.TRAININGS` (mixed-precision
Adam: 2 + 2 + 12, ``K = 12``):

===========  =================================================================  =========
layout       model state per GPU                                                sent/GPU
===========  =================================================================  =========
DP           ``(2 + 2 + K) N``                                                  ``2 N``
ZeRO-1       ``(2 + 2) N + K N / d``  (optimizer state sharded)                 ``2 N``
ZeRO-2       ``2 N + (2 + K) N / d``  (and gradients)                           ``2 N``
ZeRO-3/FSDP  ``(2 + 2 + K) N / d``    (and parameters, gathered per layer)      ``3 N``
===========  =================================================================  =========

(Rajbhandari et al. 2020, https://arxiv.org/abs/1910.02054, sections 5 and 7; the
"sent" column counts values, times ``(d-1)/d``.) ZeRO-3 all-gathers the parameters in
the forward pass, again in the backward pass, and reduce-scatters the gradients: three
half-all-reduces instead of two, 1.5 x the data-parallel traffic (:func:`dp_comm_time`).

The other parallelisms, per transformer layer and micro-batch of ``b`` sequences of
``s`` tokens, ``h`` wide, 2-byte activations:

* **tensor** (Megatron-LM, Shoeybi et al. 2019, https://arxiv.org/abs/1909.08053):
  attention and MLP each split column-then-row, so one all-reduce of ``b s h`` values
  forward and one backward per block: **four per layer** (:func:`tp_comm_time`, from
  chapter 3's :func:`course_utils.parallel.mp_costs.fc_comm_bytes`).
  Sequence parallelism (Korthikanti et al. 2022) swaps each for a reduce-scatter plus
  an all-gather: the same bytes.
* **context** (ring attention, Liu et al. 2023, https://arxiv.org/abs/2310.01889):
  the sequence is split ``c`` ways; each rank passes its K and V blocks around the ring,
  ``c - 1`` steps forward and again (with their gradients) backward
  (:func:`cp_comm_bytes`).
* **pipeline**: each stage boundary sends ``b s h`` activations forward and their
  gradient back per micro-batch (:func:`pp_p2p_bytes`); the bubble is
  :func:`course_utils.parallel.pipeline.interleaved_bubble_fraction`.
* **expert** (GShard, Lepikhin et al. 2020, https://arxiv.org/abs/2006.16668): each MoE
  layer sends every token's ``h`` values to its ``k`` experts and back, forward and
  backward: four all-to-alls (:func:`ep_alltoall_time`).

Times come from :class:`Topology`: an NVLink domain of ``nvlink_domain`` GPUs and an
InfiniBand network, with the two-level all-reduce of
:func:`course_utils.parallel.costs.hierarchical_allreduce_time` and NCCL's per-hop
latencies (:mod:`course_utils.parallel.figures`). A group whose members sit ``stride``
GPUs apart (tensor-parallel ranks are adjacent; data-parallel ranks ``tp`` apart) has
``nvlink_domain // stride`` members per domain.

Used in: :doc:`/notebooks/modern_transformer_parallelism`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..core.checks import check_int, check_number
from .costs import hierarchical_allreduce_time
from .figures import NCCL_BASE_LATENCY, NCCL_NET_HOP_LATENCY, NCCL_NVLINK_HOP_LATENCY
from .memory import TRAININGS, MemoryBreakdown, Training
from .mp_costs import fc_comm_bytes

__all__ = [
    "ZERO_STAGES",
    "Topology",
    "model_state_bytes",
    "dp_comm_values",
    "dp_comm_time",
    "tp_comm_time",
    "cp_comm_bytes",
    "pp_p2p_bytes",
    "p2p_time",
    "ep_alltoall_time",
]

ZERO_STAGES = (0, 1, 2, 3)


@dataclass(frozen=True)
class Topology:
    """A GPU cluster: ``nvlink_domain`` GPUs share NVLink at ``nvlink_bandwidth`` (bytes/s
    per GPU, per direction); domains talk over InfiniBand at ``ib_bandwidth`` per GPU.
    Latencies (seconds) default to NCCL's per-hop figures."""

    name: str
    nvlink_domain: int
    nvlink_bandwidth: float
    ib_bandwidth: float
    nvlink_alpha: float = NCCL_NVLINK_HOP_LATENCY
    ib_alpha: float = NCCL_NET_HOP_LATENCY
    base_latency: float = NCCL_BASE_LATENCY

    def __post_init__(self):
        check_int("nvlink_domain", self.nvlink_domain, minimum=1)
        check_number("nvlink_bandwidth", self.nvlink_bandwidth, minimum=0, strict_minimum=True)
        check_number("ib_bandwidth", self.ib_bandwidth, minimum=0, strict_minimum=True)
        check_number("nvlink_alpha", self.nvlink_alpha, minimum=0)
        check_number("ib_alpha", self.ib_alpha, minimum=0)
        check_number("base_latency", self.base_latency, minimum=0)

    def group(self, ranks: int, stride: int = 1) -> tuple[int, int]:
        """``(members per NVLink domain, domains)`` of a group of ``ranks`` GPUs that sit
        ``stride`` apart."""
        ranks = check_int("ranks", ranks, minimum=1)
        stride = check_int("stride", stride, minimum=1)
        per = max(1, min(ranks, self.nvlink_domain // stride))
        return per, math.ceil(ranks / per)

    def allreduce_time(self, nbytes: float, ranks: int, stride: int = 1) -> float:
        """Seconds to all-reduce ``nbytes`` over the group (NCCL's fastest of ring and tree)."""
        g, m = self.group(ranks, stride)
        return float(hierarchical_allreduce_time(
            check_number("nbytes", nbytes, minimum=0), g, m, self.nvlink_bandwidth,
            self.ib_bandwidth, self.nvlink_alpha, self.ib_alpha, "auto",
            base_latency=self.base_latency))

    def link(self, ranks: int, stride: int = 1) -> tuple[float, float]:
        """``(bandwidth, alpha)`` of the slowest link the group crosses."""
        _, m = self.group(ranks, stride)
        if m > 1:
            return self.ib_bandwidth, self.ib_alpha
        return self.nvlink_bandwidth, self.nvlink_alpha


def _check_topology(topology: Topology) -> Topology:
    if not isinstance(topology, Topology):
        raise TypeError(f"topology must be a sharding.Topology, got {type(topology).__name__}")
    return topology


def _training(training: str | Training) -> Training:
    if isinstance(training, str):
        if training not in TRAININGS:
            raise ValueError(f"training must be one of {tuple(TRAININGS)} or a Training, "
                             f"got {training!r}")
        return TRAININGS[training]
    if not isinstance(training, Training):
        raise TypeError(f"training must be a key of TRAININGS or a Training, got "
                        f"{type(training).__name__}")
    return training


def _stage(stage: int) -> int:
    return check_int("stage", stage, minimum=0, maximum=3)


def model_state_bytes(n_params: float, dp: int, stage: int = 0,
                      training: str | Training = "mixed_adam") -> MemoryBreakdown:
    """Bytes per GPU of parameters, gradients and optimizer state of ``n_params``
    parameters under ZeRO ``stage`` (0 = plain data parallelism, 3 = ZeRO-3/FSDP) over
    ``dp`` data-parallel ranks (activations 0: see
    :func:`course_utils.parallel.accounting.activation_bytes_per_layer`)."""
    n = check_number("n_params", n_params, minimum=0)
    d = check_int("dp", dp, minimum=1)
    st, t = _stage(stage), _training(training)
    p = n * t.param_bytes / (d if st >= 3 else 1)
    g = n * t.grad_bytes / (d if st >= 2 else 1)
    o = n * t.optimizer_bytes / (d if st >= 1 else 1)
    return MemoryBreakdown(math.ceil(p), math.ceil(g), math.ceil(o), 0)


def dp_comm_values(n_params: float, dp: int, stage: int = 0) -> float:
    """Values each GPU sends per step: ``2 N (d-1)/d`` for stages 0-2 (reduce-scatter +
    all-gather), ``3 N (d-1)/d`` for ZeRO-3 (ZeRO paper, section 7)."""
    n = check_number("n_params", n_params, minimum=0)
    d = check_int("dp", dp, minimum=1)
    return (3 if _stage(stage) == 3 else 2) * n * (d - 1) / d


def dp_comm_time(n_params: float, dp: int, topology: Topology, *, stage: int = 0,
                 stride: int = 1, bytes_per_value: float = 2.0) -> float:
    """Seconds of one step's data-parallel traffic: an all-reduce of the gradients
    (``n_params`` values of ``bytes_per_value``) over ``dp`` ranks ``stride`` apart;
    ZeRO-3 costs 1.5 x (two all-gathers and a reduce-scatter)."""
    n = check_number("n_params", n_params, minimum=0)
    b = check_number("bytes_per_value", bytes_per_value, minimum=0, strict_minimum=True)
    d = check_int("dp", dp, minimum=1)
    factor = 1.5 if _stage(stage) == 3 else 1.0
    return factor * _check_topology(topology).allreduce_time(n * b, d, stride)


def tp_comm_time(tokens: int, d_model: int, tp: int, topology: Topology, *,
                 bytes_per_value: float = 2.0) -> float:
    """Seconds of one layer's tensor-parallel traffic for one micro-batch of ``tokens``
    tokens (``b s``): four all-reduces of ``tokens x d_model`` values over ``tp``
    adjacent GPUs (two forward, two backward)."""
    tok = check_int("tokens", tokens, minimum=1)
    d = check_int("d_model", d_model, minimum=1)
    t = check_int("tp", tp, minimum=1)
    b = check_number("bytes_per_value", bytes_per_value, minimum=0, strict_minimum=True)
    topo = _check_topology(topology)
    total = 0.0
    for wide in (3 * d, 4 * d):  # attention (d -> 3d -> d) and MLP (d -> 4d -> d)
        # chapter 3's split layers: the column split all-reduces its input gradient
        # (backward), the row split its output (forward); the all-gathers vanish because
        # the wide activations stay split between the two
        col = fc_comm_bytes("column", tok, d, wide, b)["allreduce"]
        row = fc_comm_bytes("row", tok, wide, d, b)["allreduce"]
        total += topo.allreduce_time(col, t, 1) + topo.allreduce_time(row, t, 1)
    return total


def cp_comm_bytes(tokens: int, d_model: int, cp: int, *, bytes_per_value: float = 2.0) -> float:
    """Bytes each GPU sends per layer and micro-batch under ring attention over ``cp``
    ranks: its K and V blocks (``2 tokens d / cp`` values) ``cp - 1`` times forward, and
    as many K, V and their gradients backward (``3 x`` in all)."""
    tok = check_int("tokens", tokens, minimum=1)
    d = check_int("d_model", d_model, minimum=1)
    c = check_int("cp", cp, minimum=1)
    b = check_number("bytes_per_value", bytes_per_value, minimum=0, strict_minimum=True)
    return 3 * (c - 1) * 2 * tok * d / c * b


def pp_p2p_bytes(tokens: int, d_model: int, *, bytes_per_value: float = 2.0) -> float:
    """Bytes one stage boundary carries per micro-batch: the activations forward and
    their gradient backward, ``2 tokens d_model`` values."""
    tok = check_int("tokens", tokens, minimum=1)
    d = check_int("d_model", d_model, minimum=1)
    b = check_number("bytes_per_value", bytes_per_value, minimum=0, strict_minimum=True)
    return 2 * tok * d * b


def p2p_time(nbytes: float, topology: Topology, *, across: bool) -> float:
    """Seconds to send ``nbytes`` to one neighbour over InfiniBand (``across=True``) or
    NVLink (alpha + bytes / bandwidth)."""
    nb = check_number("nbytes", nbytes, minimum=0)
    t = _check_topology(topology)
    if not isinstance(across, bool):
        raise TypeError(f"across must be True or False, got {type(across).__name__}")
    bw, alpha = (t.ib_bandwidth, t.ib_alpha) if across else (t.nvlink_bandwidth,
                                                              t.nvlink_alpha)
    return alpha + nb / bw


def ep_alltoall_time(tokens: int, d_model: int, ep: int, topology: Topology, *,
                     top_k: int = 1, stride: int = 1, bytes_per_value: float = 2.0) -> float:
    """Seconds of one MoE layer's expert-parallel traffic for ``tokens`` tokens per GPU:
    four all-to-alls (dispatch and combine, forward and backward) of ``top_k`` copies of
    each token's ``d_model`` values over ``ep`` ranks; each sends ``(ep-1)/ep`` of its
    data, ``ep - 1`` messages, over the slowest link the group crosses."""
    tok = check_int("tokens", tokens, minimum=1)
    d = check_int("d_model", d_model, minimum=1)
    e = check_int("ep", ep, minimum=1)
    k = check_int("top_k", top_k, minimum=1)
    b = check_number("bytes_per_value", bytes_per_value, minimum=0, strict_minimum=True)
    if e == 1:
        return 0.0
    bw, alpha = _check_topology(topology).link(e, stride)
    nbytes = tok * k * d * b * (e - 1) / e
    return 4 * ((e - 1) * alpha + nbytes / bw)
