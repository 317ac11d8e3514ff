"""Analytic model of one data-parallel training step: compute, communication, speedup.

Weak scaling, as in the paper: every GPU keeps ``batch_per_gpu`` examples, so ``n_gpus``
GPUs process ``n_gpus`` times as many examples per step as one. Per step:

* compute  = batch_per_gpu * flops_per_example / (gpu_flops * matmul_efficiency)
  where matmul_efficiency = batch / (batch + half_batch) models small matrix products
  running below peak (``half_batch`` = batch size at which half of peak is reached;
  0 = always at peak). ``flops_per_example`` counts forward + backward.
* comm     = all-reduce of the gradients, ``params * bytes_per_value`` bytes, with
  :func:`~course_utils.parallel.costs.allreduce_time` (``algorithm``) or the paper's
  PCIe-switch model (``algorithm="pcie_switch"``). Compressed formats are assumed to be
  reduced in compressed form (reduce-scatter and all-gather of compressed chunks, the
  paper's "scatter raw, gather accumulated"), so their bytes shrink by the same factor.
* exposed  = max(0, comm - overlap * backward), backward = 2/3 of compute: ``overlap``
  is the fraction of the backward pass that communication can hide behind
  (0 = the 2014 way, after the backward pass; 1 = fully overlapped, as DDP's buckets do).
* step     = compute + exposed (+ compression time, if given).

speedup = n_gpus * compute / step (throughput against one GPU, which does not
communicate); efficiency = speedup / n_gpus. All numeric inputs broadcast as NumPy arrays.

Used in: :doc:`/notebooks/dp_communication`, :doc:`/notebooks/dp_compression`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.checks import RealLike, as_real_array, check_choice
from .costs import ALGORITHMS, allreduce_time, pcie_switch_sync_time

__all__ = ["BYTES_PER_VALUE", "DataParallelStep", "simulate_data_parallel", "matmul_efficiency"]

# Bytes on the wire per gradient value. 8-bit types and 1-bit send one scale / two means
# per tensor too; for a whole model that is negligible and left out here.
BYTES_PER_VALUE = {
    "fp32": 4.0,
    "fp16": 2.0,
    "bf16": 2.0,
    "fp8": 1.0,
    "dynamic_tree": 1.0,
    "static_tree": 1.0,
    "linear": 1.0,
    "mantissa_exponent": 1.0,
    "1bit": 1.0 / 8,
}
TOPOLOGIES = (*ALGORITHMS, "pcie_switch")
BACKWARD_SHARE = 2.0 / 3.0  # backward = 2x forward FLOPs, so 2/3 of a step's compute


@dataclass(frozen=True)
class DataParallelStep:
    """Result of :func:`simulate_data_parallel`; every field is an array (seconds or ratio)."""

    compute_time: np.ndarray
    comm_time: np.ndarray
    exposed_comm_time: np.ndarray
    step_time: np.ndarray
    speedup: np.ndarray
    efficiency: np.ndarray
    examples_per_second: np.ndarray
    gradient_bytes: np.ndarray

    @property
    def comm_fraction(self) -> np.ndarray:
        """Share of the step spent waiting for communication."""
        return self.exposed_comm_time / self.step_time


def matmul_efficiency(batch: RealLike, half_batch: RealLike) -> np.ndarray:
    """Fraction of peak FLOP/s reached at ``batch`` examples: batch / (batch + half_batch)."""
    b = as_real_array("batch", batch, minimum=1)
    h = as_real_array("half_batch", half_batch, minimum=0)
    return b / (b + h)


def simulate_data_parallel(
    *,
    params: RealLike,
    flops_per_example: RealLike,
    gpu_flops: RealLike,
    bandwidth: RealLike | None = None,
    latency: RealLike | None = None,
    n_gpus: RealLike,
    batch_per_gpu: RealLike,
    algorithm: str = "ring",
    compression: str = "fp32",
    overlap: RealLike = 0.0,
    half_batch: RealLike = 0.0,
    compress_time_per_value: RealLike = 0.0,
    allreduce_seconds: RealLike | None = None,
) -> DataParallelStep:
    """Step time and its breakdown for data-parallel training (see the module docstring).

    Args:
        params: number of model parameters (gradient values), >= 1.
        flops_per_example: forward + backward FLOPs per example, > 0.
        gpu_flops: peak FLOP/s of one GPU, > 0.
        bandwidth: per-direction link bandwidth in bytes/s, > 0.
        latency: per-message latency in seconds, >= 0.
        n_gpus: number of GPUs, whole number >= 1.
        batch_per_gpu: examples per GPU per step, >= 1.
        algorithm: an all-reduce algorithm of :data:`~course_utils.parallel.costs.ALGORITHMS`
            or "pcie_switch" (the paper's one-message-per-GPU PCIe model).
        compression: a key of :data:`BYTES_PER_VALUE`.
        overlap: fraction (0..1) of the backward pass that hides communication.
        half_batch: batch at which matrix products reach half of peak, >= 0.
        compress_time_per_value: seconds to compress + decompress one value, >= 0
            (the paper: about 1.5 ns on a GTX Titan).
        allreduce_seconds: the all-reduce time itself (seconds, >= 0), from any model
            (e.g. :func:`~course_utils.parallel.costs.hierarchical_allreduce_time` for the
            compressed bytes); replaces ``bandwidth``, ``latency`` and ``algorithm``.
    """
    check_choice("algorithm", algorithm, TOPOLOGIES)
    check_choice("compression", compression, tuple(BYTES_PER_VALUE))
    p = as_real_array("params", params, minimum=1)
    fpe = as_real_array("flops_per_example", flops_per_example, minimum=0, strict_minimum=True)
    peak = as_real_array("gpu_flops", gpu_flops, minimum=0, strict_minimum=True)
    n = as_real_array("n_gpus", n_gpus, minimum=1, integer=True)
    batch = as_real_array("batch_per_gpu", batch_per_gpu, minimum=1)
    ov = as_real_array("overlap", overlap, minimum=0)
    if np.any(ov > 1):
        raise ValueError(f"overlap must be between 0 and 1, got {overlap!r}")
    ctime = as_real_array("compress_time_per_value", compress_time_per_value, minimum=0)

    compute = batch * fpe / (peak * matmul_efficiency(batch, half_batch))
    nbytes = p * BYTES_PER_VALUE[compression]
    if allreduce_seconds is not None:
        comm = np.where(n > 1, as_real_array("allreduce_seconds", allreduce_seconds, minimum=0),
                        0.0)
    elif bandwidth is None or latency is None:
        raise ValueError("bandwidth and latency are needed unless allreduce_seconds is given")
    elif algorithm == "pcie_switch":
        comm = np.asarray(pcie_switch_sync_time(nbytes, n, bandwidth=bandwidth, latency=latency))
    else:
        comm = np.asarray(allreduce_time(nbytes, n, bandwidth, latency, algorithm))
    codec = np.where(n > 1, p * ctime, 0.0) if compression != "fp32" else np.zeros_like(p)
    exposed = np.maximum(0.0, comm - ov * BACKWARD_SHARE * compute)
    step = compute + exposed + codec
    shape = np.broadcast(compute, step, n).shape
    speedup = np.broadcast_to(n * compute / step, shape)
    return DataParallelStep(
        compute_time=np.broadcast_to(compute, shape),
        comm_time=np.broadcast_to(comm, shape),
        exposed_comm_time=np.broadcast_to(exposed, shape),
        step_time=np.broadcast_to(step, shape),
        speedup=speedup,
        efficiency=speedup / np.broadcast_to(n, shape),
        examples_per_second=np.broadcast_to(n * batch / step, shape),
        gradient_bytes=np.broadcast_to(nbytes, shape),
    )
