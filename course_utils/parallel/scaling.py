"""Data-parallel scaling layer by layer: DDP's gradient buckets against the backward pass.

One step of synchronous data parallelism on every GPU (seconds):

* **Compute.** Forward ``F = b * sum(f_i) / R`` for ``b`` examples per GPU and forward
  FLOPs ``f_i`` per example of layer ``i``; backward ``2F`` (gradients with respect to
  inputs and to weights). ``R`` is the achieved rate in FLOP/s:
  ``peak * mfu * batch_efficiency(b) / batch_efficiency(reference_batch)``, so ``mfu``
  is the model-FLOPs utilisation measured at ``reference_batch`` examples per GPU and
  smaller batches run slower (:func:`batch_efficiency`).
* **Gradients become ready in reverse layer order.** Layer ``i``'s gradient is ready
  when the backward pass has gone through layers ``n-1 ... i``:
  ``F + 2 b / R * sum(f_j, j >= i)``. A layer with no FLOPs is ready with the one
  after it.
* **Buckets** (:func:`buckets`). As PyTorch DDP does, gradients are packed in reverse
  layer order into buckets of ``bucket_bytes`` (25 MiB by default); a bucket is
  launched as soon as it holds at least that many bytes (a tensor is never split, so a
  bucket can exceed the cap), and the last bucket when the backward pass ends: it can
  never overlap.
* **Communication.** Buckets are all-reduced one after another on one stream:
  ``start_k = max(ready_k, end_(k-1))``, ``end_k = start_k + T(bytes_k)``, with ``T``
  the hierarchical all-reduce of :func:`course_utils.parallel.costs.hierarchical_allreduce_time`
  at ``bandwidth_efficiency`` times the nominal link rates.
* **Step** ``= max(F + 2F, end_last)``; the exposed communication is what sticks out of
  the backward pass. The optimizer update is not modelled.

Two scaling conventions, named in every result:

* **weak**: ``b`` examples per GPU on any number of GPUs; efficiency against the
  baseline at the same ``b``: ``(N / N0) * step(N0) / step(N)`` throughput ratio over
  linear.
* **strong**: a fixed global batch ``B``; ``b = B / N``, so compute shrinks with ``N``
  and runs less efficiently as ``b`` falls; efficiency = ``step(N0) * N0 / (step(N) * N)``.

Numeric arguments broadcast (NumPy), so a sweep over thousands of configurations is a
few array operations (``benchmarks/scaling_sweep.py``).

Used in: :doc:`/notebooks/dp_scaling`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..core.checks import RealLike, as_real_array, check_choice, check_int, check_number
from .costs import HIERARCHICAL_ALGORITHMS, hierarchical_allreduce_time
from .figures import NCCL_BASE_LATENCY, NCCL_NET_HOP_LATENCY, NCCL_NVLINK_HOP_LATENCY

__all__ = [
    "DDP_BUCKET_BYTES",
    "SCALINGS",
    "Buckets",
    "buckets",
    "batch_efficiency",
    "overlap_step",
    "Cluster",
    "Achieved",
    "ScalingResult",
    "step_time",
    "scaling_efficiency",
]

#: PyTorch DDP's default ``bucket_cap_mb=25``: 25 MiB per bucket (bytes).
#: https://docs.pytorch.org/docs/stable/generated/torch.nn.parallel.DistributedDataParallel.html
DDP_BUCKET_BYTES = 25 * 2**20
SCALINGS = ("weak", "strong")


@dataclass(frozen=True)
class Buckets:
    """Gradient buckets in launch order: ``nbytes`` (bytes each) and ``ready`` (the
    fraction of the backward pass done when each is full: 0 = at its start, 1 = at its
    end)."""

    nbytes: np.ndarray
    ready: np.ndarray

    def __len__(self) -> int:
        return len(self.nbytes)


def buckets(
    parameters: Sequence[int] | np.ndarray,
    flops: Sequence[float] | np.ndarray,
    *,
    bytes_per_value: float = 4.0,
    bucket_bytes: float = DDP_BUCKET_BYTES,
) -> Buckets:
    """Pack the gradients of layers (forward order) into DDP buckets.

    ``parameters``: count per layer; ``flops``: forward FLOPs per example per layer
    (only their shares matter here); ``bytes_per_value``: bytes per gradient value on
    the wire (4 for fp32, 1 for 8-bit, 1/8 for 1-bit); ``bucket_bytes``: the cap
    (bytes). Layers without parameters add no bytes but still take backward time.
    """
    p = np.ravel(as_real_array("parameters", parameters, minimum=0))
    f = np.ravel(as_real_array("flops", flops, minimum=0))
    if p.size == 0:
        raise ValueError("parameters must list at least one layer, got an empty model")
    if p.shape != f.shape:
        raise ValueError(f"parameters and flops must have one entry per layer, got {p.size} "
                         f"and {f.size}")
    if p.sum() <= 0:
        raise ValueError("parameters must contain at least one layer with parameters")
    bytes_per_value = check_number("bytes_per_value", bytes_per_value, minimum=0,
                                   strict_minimum=True)
    bucket_bytes = check_number("bucket_bytes", bucket_bytes, minimum=0, strict_minimum=True)
    total = f.sum()
    # backward runs from the last layer to the first; cumulative share done after each
    done = np.cumsum(f[::-1]) / total if total > 0 else np.ones(p.size)
    sizes, ready, filling = [], [], 0.0
    for values, share in zip(p[::-1] * bytes_per_value, done, strict=True):
        if values == 0:
            continue
        filling += values
        if filling >= bucket_bytes:
            sizes.append(filling)
            ready.append(share)
            filling = 0.0
    if filling > 0:
        sizes.append(filling)
        ready.append(1.0)  # the last bucket waits for the end of the backward pass
    ready[-1] = 1.0
    return Buckets(np.array(sizes), np.array(ready))


def batch_efficiency(batch: RealLike, half_batch: RealLike) -> np.ndarray | float:
    """Fraction of its best rate a GPU reaches at ``batch`` examples: ``b / (b + b_half)``.

    ``half_batch`` is the batch at which the rate is half the large-batch rate (0: every
    batch runs at the best rate). Fitted to a measured images/s-versus-batch curve.
    """
    b = as_real_array("batch", batch, minimum=0, strict_minimum=True)
    h = as_real_array("half_batch", half_batch, minimum=0)
    out = b / (b + h)
    return float(out) if out.ndim == 0 else out


def overlap_step(
    forward: RealLike, bucket_ready: np.ndarray, bucket_seconds: np.ndarray
) -> dict[str, np.ndarray]:
    """Step time of one data-parallel step with bucketed all-reduces (seconds).

    ``forward``: forward time F (seconds, broadcasts); the backward pass takes ``2F``.
    ``bucket_ready``: each bucket's ready point as a fraction of the backward pass, in
    launch order; ``bucket_seconds``: each bucket's all-reduce time, shape
    ``(buckets, ...)`` broadcasting with ``forward``. Returns ``compute`` (3F),
    ``comm`` (sum of the all-reduces), ``exposed`` (step minus compute), ``step``, and
    each bucket's all-reduce ``starts`` and ``ends`` (shape ``(buckets, ...)``).
    """
    fwd = as_real_array("forward", forward, minimum=0)
    ready = np.ravel(as_real_array("bucket_ready", bucket_ready, minimum=0))
    if np.any(ready > 1):
        raise ValueError(f"bucket_ready must be fractions in [0, 1], got {ready.max()}")
    seconds = as_real_array("bucket_seconds", bucket_seconds, minimum=0)
    if seconds.ndim == 0 or seconds.shape[0] != ready.size:
        raise ValueError(f"bucket_seconds must have one row per bucket ({ready.size}), got "
                         f"shape {seconds.shape}")
    end = np.zeros(np.broadcast_shapes(fwd.shape, seconds.shape[1:]))
    starts, ends = [], []
    for k in range(ready.size):
        starts.append(np.maximum(end, fwd + 2 * fwd * ready[k]))
        end = starts[-1] + seconds[k]
        ends.append(end)
    compute = 3 * fwd
    step = np.maximum(compute, end)
    return {"compute": compute + 0 * step, "comm": seconds.sum(axis=0) + 0 * step,
            "exposed": step - compute, "step": step, "starts": np.array(starts),
            "ends": np.array(ends)}


@dataclass(frozen=True)
class Cluster:
    """A data-parallel machine at its nominal rates.

    ``gpu_flops``: peak FLOP/s of one GPU in the training precision; ``gpus_per_node``;
    ``intra_bandwidth``: bytes/s per GPU per direction inside a node (NVLink, PCIe);
    ``node_bandwidth``: bytes/s per node per direction into the network (all its NICs);
    ``intra_alpha``, ``inter_alpha``: seconds per all-reduce step inside a node and
    across the network; ``base_latency``: seconds per collective call; ``in_network``:
    switches that reduce (NVLS, SHARP). Latency defaults: NCCL's cost model
    (:mod:`course_utils.parallel.figures`).
    """

    name: str
    gpu_flops: float
    gpus_per_node: int
    intra_bandwidth: float
    node_bandwidth: float
    intra_alpha: float = NCCL_NVLINK_HOP_LATENCY
    inter_alpha: float = NCCL_NET_HOP_LATENCY
    base_latency: float = NCCL_BASE_LATENCY
    in_network: bool = False

    def __post_init__(self):
        check_number("gpu_flops", self.gpu_flops, minimum=0, strict_minimum=True)
        check_int("gpus_per_node", self.gpus_per_node, minimum=1)
        check_number("intra_bandwidth", self.intra_bandwidth, minimum=0, strict_minimum=True)
        check_number("node_bandwidth", self.node_bandwidth, minimum=0, strict_minimum=True)
        for name in ("intra_alpha", "inter_alpha", "base_latency"):
            check_number(name, getattr(self, name), minimum=0)


@dataclass(frozen=True)
class Achieved:
    """What a software stack achieves of the nominal rates (the model's free parameters).

    ``mfu``: fraction of peak FLOP/s at ``reference_batch`` examples per GPU (0 < mfu
    <= 1); ``bandwidth``: fraction of the nominal link rates the all-reduce achieves
    (busbw / nominal, 0 < x <= 1); ``half_batch``: examples per GPU at which compute
    runs at half its large-batch rate (:func:`batch_efficiency`; 0 = no batch effect).
    Fields may be NumPy arrays (a sweep).
    """

    mfu: RealLike
    bandwidth: RealLike
    reference_batch: RealLike = 32
    half_batch: RealLike = 0.0

    def __post_init__(self):
        for name in ("mfu", "bandwidth"):
            value = as_real_array(name, getattr(self, name), minimum=0, strict_minimum=True)
            if np.any(value > 1):
                raise ValueError(f"{name} must be a fraction in (0, 1], got {value.max():g}")
        as_real_array("reference_batch", self.reference_batch, minimum=0, strict_minimum=True)
        as_real_array("half_batch", self.half_batch, minimum=0)

    def flops(self, peak: float, batch: RealLike) -> np.ndarray:
        """Achieved FLOP/s at ``batch`` examples per GPU on a GPU of ``peak`` FLOP/s."""
        rel = (batch_efficiency(batch, self.half_batch)
               / batch_efficiency(self.reference_batch, self.half_batch))
        return peak * np.asarray(self.mfu) * rel


@dataclass(frozen=True)
class ScalingResult:
    """:func:`scaling_efficiency`'s answer; arrays broadcast over the inputs.

    ``scaling`` names the convention ("weak" or "strong"); ``efficiency`` is throughput
    over linear scaling from ``baseline_gpus``; ``step``, ``compute``, ``exposed``
    (seconds) and ``batch_per_gpu`` are at ``gpus``.
    """

    scaling: str
    gpus: np.ndarray
    baseline_gpus: int
    batch_per_gpu: np.ndarray
    step: np.ndarray
    compute: np.ndarray
    exposed: np.ndarray
    efficiency: np.ndarray

    @property
    def speedup(self) -> np.ndarray:
        """Throughput at ``gpus`` over throughput at ``baseline_gpus``."""
        return self.efficiency * self.gpus / self.baseline_gpus


def step_time(
    layers: Sequence,
    gpus: RealLike,
    batch_per_gpu: RealLike,
    cluster: Cluster,
    achieved: Achieved,
    *,
    bytes_per_value: float = 4.0,
    gradient_bytes: float = 4.0,
    bucket_bytes: float = DDP_BUCKET_BYTES,
    algorithm: str = "auto",
) -> dict[str, np.ndarray]:
    """One DDP step on ``gpus`` GPUs with ``batch_per_gpu`` examples each (seconds).

    ``layers``: the network in forward order (objects with ``parameters`` and ``flops``,
    forward FLOPs per example, e.g. :mod:`course_utils.parallel.networks`). GPUs fill
    nodes of ``cluster.gpus_per_node``. DDP buckets the gradients as they are in memory
    (``gradient_bytes`` per value); a communication hook then sends each bucket with
    ``bytes_per_value`` bytes per value (4 = fp32, 1 = 8-bit, 1/8 = 1-bit), so
    compression shrinks every all-reduce but not the buckets' boundaries. Returns
    :func:`overlap_step`'s arrays.
    """
    if not isinstance(cluster, Cluster) or not isinstance(achieved, Achieved):
        raise TypeError("cluster must be a Cluster and achieved an Achieved")
    check_choice("algorithm", algorithm, HIERARCHICAL_ALGORITHMS)
    if len(layers) == 0:
        raise ValueError("layers must list at least one layer, got an empty model")
    params = np.array([layer.parameters for layer in layers], dtype=float)
    flops = np.array([layer.flops for layer in layers], dtype=float)
    if flops.sum() <= 0:
        raise ValueError("layers must have forward FLOPs (their flops sum to 0)")
    n = as_real_array("gpus", gpus, minimum=1, integer=True)
    b = as_real_array("batch_per_gpu", batch_per_gpu, minimum=0, strict_minimum=True)
    wire = check_number("bytes_per_value", bytes_per_value, minimum=0, strict_minimum=True)
    packed = buckets(params, flops, bytes_per_value=gradient_bytes, bucket_bytes=bucket_bytes)
    forward = b * flops.sum() / achieved.flops(cluster.gpu_flops, b)
    per_node = np.minimum(n, cluster.gpus_per_node)
    nodes = np.ceil(n / per_node)
    eff = np.asarray(achieved.bandwidth)
    shape = (len(packed),) + (1,) * np.broadcast(n, b, eff, forward).ndim
    sent = packed.nbytes.reshape(shape) * wire / gradient_bytes  # bytes on the wire
    seconds = hierarchical_allreduce_time(
        sent, per_node, nodes, cluster.intra_bandwidth * eff,
        cluster.node_bandwidth * eff / per_node, cluster.intra_alpha, cluster.inter_alpha,
        algorithm, in_network=cluster.in_network, base_latency=cluster.base_latency)
    seconds = np.where(n > 1, seconds, 0.0)  # one GPU does not communicate
    return overlap_step(forward, packed.ready, seconds)


def scaling_efficiency(
    layers: Sequence,
    gpus: RealLike,
    cluster: Cluster,
    achieved: Achieved,
    *,
    scaling: str,
    batch: RealLike,
    baseline_gpus: int = 1,
    **options,
) -> ScalingResult:
    """Throughput at ``gpus`` over linear scaling from ``baseline_gpus``.

    ``scaling="weak"``: ``batch`` is the per-GPU batch at every GPU count.
    ``scaling="strong"``: ``batch`` is the global batch, split over the GPUs. Other
    keyword ``options`` go to :func:`step_time` (bytes_per_value, gradient_bytes,
    bucket_bytes, algorithm).
    """
    check_choice("scaling", scaling, SCALINGS)
    n0 = check_int("baseline_gpus", baseline_gpus, minimum=1)
    n = as_real_array("gpus", gpus, minimum=1, integer=True)
    total = as_real_array("batch", batch, minimum=0, strict_minimum=True)
    b, b0 = (total, total) if scaling == "weak" else (total / n, total / n0)
    base = step_time(layers, n0, b0, cluster, achieved, **options)
    at = step_time(layers, n, b, cluster, achieved, **options)
    efficiency = (n * b / at["step"]) / (n0 * b0 / base["step"]) / (n / n0)
    return ScalingResult(scaling, n + 0 * efficiency, n0, b + 0 * efficiency, at["step"],
                         at["compute"], at["exposed"], efficiency)
