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

__all__ = [
    "DDP_BUCKET_BYTES",
    "SCALINGS",
    "Buckets",
    "buckets",
    "batch_efficiency",
    "overlap_step",
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
    ``comm`` (sum of the all-reduces), ``exposed`` (step minus compute) and ``step``.
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
    for k in range(ready.size):
        end = np.maximum(end, fwd + 2 * fwd * ready[k]) + seconds[k]
    compute = 3 * fwd
    step = np.maximum(compute, end)
    return {"compute": compute + 0 * step, "comm": seconds.sum(axis=0) + 0 * step,
            "exposed": step - compute, "step": step}


def _check_scaling(scaling: str) -> str:
    return check_choice("scaling", scaling, SCALINGS)


def _check_gpus(gpus: RealLike, gpus_per_node: int) -> np.ndarray:
    check_int("gpus_per_node", gpus_per_node, minimum=1)
    return as_real_array("gpus", gpus, minimum=1)
