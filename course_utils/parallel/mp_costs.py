"""Cost models for model and hybrid parallelism (NumPy only, vectorised).

Units: bytes, seconds, bytes/s per direction. Every function accepts scalars or NumPy
arrays (broadcast together) and returns a float for scalar input, an array otherwise.
All-reduce times come from the shared :func:`course_utils.parallel.costs.allreduce_time`.

* :func:`fc_comm_bytes`: what one training step of a fully
  connected layer communicates under data parallelism (the weights' gradients) or
  model parallelism (the activations);
* :func:`crossover_batch`: the batch size where the two move the same bytes;
* :func:`unhidden_time`, :func:`hybrid_step_time`, :func:`speedup`: the step-time
  model of the 8-bit paper's appendix (Dettmers 2016, https://arxiv.org/abs/1511.04561),
  written for any numbers (:mod:`course_utils.parallel.paper_model` feeds it the
  paper's).

Used in: :doc:`/notebooks/mp_split_layers`, :doc:`/notebooks/mp_speedup_model`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..core.alphabeta import AlphaBeta, fit_alpha_beta
from ..core.checks import RealLike, as_real_array, check_choice, scalar_or_array

__all__ = [
    "FC_STRATEGIES",
    "allgather_time",
    "fit_allgather",
    "fc_comm_bytes",
    "crossover_batch",
    "unhidden_time",
    "hybrid_step_time",
    "speedup",
]

FC_STRATEGIES = ("data", "column", "row")


def allgather_time(nbytes: RealLike, n: RealLike, bandwidth: RealLike,
                   latency: RealLike) -> float | np.ndarray:
    """Ring all-gather: ``(p-1) alpha + (p-1)/p * nbytes * beta`` seconds.

    ``nbytes`` is the size of the gathered result (every rank ends with all of it);
    each of the ``n`` ranks contributes ``nbytes / n``. Formula from Thakur,
    Rabenseifner & Gropp 2005 (https://doi.org/10.1177/1094342005051521).
    """
    nb = as_real_array("nbytes", nbytes, minimum=0)
    p = as_real_array("n", n, minimum=1, integer=True)
    bw = as_real_array("bandwidth", bandwidth, minimum=0, strict_minimum=True)
    lat = as_real_array("latency", latency, minimum=0)
    return scalar_or_array((p - 1) * lat + (p - 1) / p * nb / bw)


def fit_allgather(nbytes: RealLike, n: RealLike, seconds: RealLike) -> AlphaBeta:
    """Fit latency alpha (s) and beta (s/byte) of :func:`allgather_time` to measured
    all-gather times of ``nbytes`` (gathered) bytes over ``n`` ranks.

    The one alpha-beta fit of the course (:func:`course_utils.core.fit_alpha_beta`)
    with the ring all-gather's counts: ``p - 1`` messages, ``(p - 1) / p`` of the
    bytes on each link.
    """
    p = np.ravel(as_real_array("n", n, minimum=2, integer=True))
    return fit_alpha_beta(nbytes, seconds, latency_terms=p - 1, byte_terms=(p - 1) / p)


def fc_comm_bytes(strategy: str, batch: RealLike, n_in: RealLike, n_out: RealLike,
                  bytes_per_value: RealLike = 4) -> dict[str, float | np.ndarray]:
    """Bytes that one training step of an (n_in x n_out) layer communicates.

    * ``"data"``: all-reduce of the weight gradient, ``n_in * n_out`` values (bias
      ignored);
    * ``"column"`` (outputs stacked): all-gather of the output, ``batch * n_out``
      values, forward; all-reduce of the input gradient, ``batch * n_in``, backward;
    * ``"row"`` (outputs added): all-reduce of the output forward; all-gather of the
      input gradient backward.

    Returns:
        ``{"allreduce": bytes, "allgather": bytes}``: full tensor sizes in bytes.
    """
    check_choice("strategy", strategy, FC_STRATEGIES)
    b = as_real_array("batch", batch, minimum=1, integer=True)
    i = as_real_array("n_in", n_in, minimum=1, integer=True)
    o = as_real_array("n_out", n_out, minimum=1, integer=True)
    v = as_real_array("bytes_per_value", bytes_per_value, minimum=0, strict_minimum=True)
    zero = np.zeros(np.broadcast(b, i, o, v).shape)
    if strategy == "data":
        allreduce, allgather = i * o * v + zero, zero
    elif strategy == "column":
        allreduce, allgather = b * i * v + zero, b * o * v + zero
    else:
        allreduce, allgather = b * o * v + zero, b * i * v + zero
    return {"allreduce": scalar_or_array(allreduce), "allgather": scalar_or_array(allgather)}


def crossover_batch(
    n_in: RealLike, n_out: RealLike, strategy: str = "column"
) -> float | np.ndarray:
    """Batch size at which ``strategy`` moves as many bytes as data parallelism.

    Bandwidth terms of ring collectives (latency ignored; the factor (p-1)/p cancels):
    data parallelism sends ``2 n_in n_out`` values per step, a column split
    ``batch (n_out + 2 n_in)``, a row split ``batch (2 n_out + n_in)``. So model
    parallelism sends less below ``2 n_in n_out / (2 n_in + n_out)`` (column) or
    ``2 n_in n_out / (n_in + 2 n_out)`` (row).
    """
    check_choice("strategy", strategy, FC_STRATEGIES[1:])
    i = as_real_array("n_in", n_in, minimum=1)
    o = as_real_array("n_out", n_out, minimum=1)
    if strategy == "column":
        return scalar_or_array(2 * i * o / (2 * i + o))
    return scalar_or_array(2 * i * o / (i + 2 * o))


def unhidden_time(transfer: Sequence[float], hidden_under: Sequence[float]) -> float:
    """Communication time that computation does not hide: ``sum(max(0, t_i - c_i))``.

    ``transfer[i]`` runs while ``hidden_under[i]`` of computation runs (any one time
    unit), as in the 8-bit paper's appendix, e.g. a layer's gradient sync during the
    next layer's update. A transfer with nothing to hide under pairs with 0.
    """
    t = as_real_array("transfer", list(transfer), minimum=0)
    c = as_real_array("hidden_under", list(hidden_under), minimum=0)
    if t.ndim != 1 or t.shape != c.shape:
        raise ValueError(f"transfer and hidden_under must be 1-D and of one length, got "
                         f"shapes {t.shape} and {c.shape}")
    return float(np.maximum(t - c, 0.0).sum())


def hybrid_step_time(t_total: RealLike, t_fc: RealLike, t_fc_parallel: RealLike,
                     n_sub_batches: RealLike, conv_penalty: RealLike = 0.0,
                     fc_penalty: RealLike = 0.0) -> float | np.ndarray:
    """One GPU's time for a hybrid step (any one time unit), the 8-bit paper's model:

    ``(t_total - t_fc) + conv_penalty + n_sub_batches * t_fc_parallel + fc_penalty``.

    Args:
        t_total: one GPU's time for a whole step on its own sub-batch, all layers.
        t_fc: the part of ``t_total`` spent in the fully connected layers.
        t_fc_parallel: the model-parallel fully connected layers on one sub-batch.
        n_sub_batches: how many sub-batches pass through them (K = GPUs in the paper).
        conv_penalty, fc_penalty: communication that computation does not hide.
    """
    tt = as_real_array("t_total", t_total, minimum=0)
    tf = as_real_array("t_fc", t_fc, minimum=0)
    if np.any(tf > tt):
        raise ValueError("t_fc must be <= t_total (it is part of it)")
    tp = as_real_array("t_fc_parallel", t_fc_parallel, minimum=0)
    k = as_real_array("n_sub_batches", n_sub_batches, minimum=1, integer=True)
    pc = as_real_array("conv_penalty", conv_penalty, minimum=0)
    pf = as_real_array("fc_penalty", fc_penalty, minimum=0)
    return scalar_or_array(tt - tf + pc + k * tp + pf)


def speedup(n_gpus: RealLike, t_single: RealLike, t_step: RealLike) -> float | np.ndarray:
    """``n_gpus * t_single / t_step``: n_gpus single-GPU steps' work over one parallel
    step's time (both in one time unit)."""
    n = as_real_array("n_gpus", n_gpus, minimum=1, integer=True)
    ts = as_real_array("t_single", t_single, minimum=0, strict_minimum=True)
    tp = as_real_array("t_step", t_step, minimum=0, strict_minimum=True)
    return scalar_or_array(n * ts / tp)
