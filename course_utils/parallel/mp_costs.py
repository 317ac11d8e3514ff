"""Cost models for model and hybrid parallelism (NumPy only, vectorised).

Units: bytes, seconds, bytes/s per direction. Every function accepts scalars or NumPy
arrays (broadcast together) and returns a float for scalar input, an array otherwise.
All-reduce times come from the shared :func:`course_utils.parallel.costs.allreduce_time`.

* :func:`fc_comm_bytes`: what one training step of a fully
  connected layer communicates under data parallelism (the weights' gradients) or
  model parallelism (the activations);
* :func:`crossover_batch`: the batch size where the two move the same bytes;
* :func:`pooled_low_times`, :func:`fit_split_collectives`, :func:`column_split_time`,
  :func:`compare_split_to_data`: measured collectives of a split layer (pooled over
  runs, 10th percentile) against the alpha-beta model fitted to single collectives;
* :func:`unhidden_time`, :func:`hybrid_step_time`, :func:`speedup`: the step-time
  model of the 8-bit paper's appendix (Dettmers 2016, https://arxiv.org/abs/1511.04561),
  written for any numbers (:mod:`course_utils.parallel.paper_model` feeds it the
  paper's).

Used in: :doc:`/notebooks/mp_split_layers`, :doc:`/notebooks/mp_speedup_model`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ..core.alphabeta import AlphaBeta, fit_alpha_beta
from ..core.checks import (
    RealLike,
    as_real_array,
    check_choice,
    check_int,
    check_number,
    scalar_or_array,
)
from ..core.measure import low_quantile
from .costs import allreduce_time, fit_allreduce

__all__ = [
    "FC_STRATEGIES",
    "allgather_time",
    "fit_allgather",
    "fc_comm_bytes",
    "crossover_batch",
    "pooled_low_times",
    "fit_split_collectives",
    "column_split_time",
    "SplitVsData",
    "compare_split_to_data",
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


def pooled_low_times(runs: Sequence[Mapping], q: float = 0.1) -> dict:
    """Pool the timing samples of several measurement runs; the ``q``-quantile of each.

    ``runs``: results of :func:`course_utils.parallel.hybrid.fc_comm_worker`, i.e.
    mappings ``group -> {key: samples (seconds)}``; an entry that is not a mapping
    (``world_size``) is taken from the first run. Every run must hold the same groups
    and keys. Returns ``group -> {key: seconds}``. A burst of someone else's load spoils
    some samples of one run; the low quantile of the pooled samples
    (:func:`course_utils.core.measure.low_quantile`, default the 10th percentile) is the
    time of a call on a quiet machine, and a quiet later run outvotes a noisy one.
    """
    if isinstance(runs, Mapping) or not isinstance(runs, Sequence) or not runs:
        raise ValueError("runs must be a non-empty sequence of measurement results")
    check_number("q", q, minimum=0, maximum=1)
    if not all(isinstance(run, Mapping) for run in runs):
        raise TypeError("runs must hold mappings (group -> {key: samples}), e.g. "
                        "fc_comm_worker results")
    first = runs[0]
    out: dict = {}
    for group, entries in first.items():
        if not isinstance(entries, Mapping):
            out[group] = entries
            continue
        out[group] = {}
        for key in entries:
            try:
                pooled = [t for run in runs for t in np.ravel(run[group][key])]
            except (KeyError, TypeError):
                raise ValueError(f"runs must all hold the same groups and keys; "
                                 f"{group}[{key!r}] is missing from one") from None
            out[group][key] = low_quantile(pooled, q)
    return out


def fit_split_collectives(times: Mapping, n: int = 2) -> tuple[AlphaBeta, AlphaBeta]:
    """Alpha-beta fits of the ring all-reduce and all-gather over ``n`` ranks.

    ``times["allreduce"]`` and ``times["allgather"]`` map bytes (each rank's all-reduce
    buffer; the gathered result) to seconds, at least two sizes each (e.g. from
    :func:`pooled_low_times`). Returns ``(all-reduce fit, all-gather fit)``.
    """
    n = check_int("n", n, minimum=2)
    fits = []
    for group, fit in (("allreduce", fit_allreduce), ("allgather", fit_allgather)):
        measured = times.get(group) if isinstance(times, Mapping) else None
        if not isinstance(measured, Mapping) or len(measured) < 2:
            raise ValueError(f"times[{group!r}] must map at least two sizes (bytes) to seconds")
        sizes = sorted(measured)
        fits.append(fit(sizes, n, [measured[s] for s in sizes]))
    return fits[0], fits[1]


def column_split_time(batch: RealLike, n_in: RealLike, n_out: RealLike,
                      allreduce_fit: AlphaBeta, allgather_fit: AlphaBeta, n: int = 2,
                      bytes_per_value: RealLike = 4) -> float | np.ndarray:
    """Model time (s) of a column-split layer's collectives in one training step: the
    all-gather of the (batch, n_out) output plus the all-reduce of the (batch, n_in)
    input gradient (the bytes of :func:`fc_comm_bytes`), with fitted alpha-beta
    constants. Sizes need not be whole numbers here (for smooth maps over them)."""
    for name, fit in (("allreduce_fit", allreduce_fit), ("allgather_fit", allgather_fit)):
        if not isinstance(fit, AlphaBeta):
            raise TypeError(f"{name} must be an AlphaBeta fit, got {type(fit).__name__}")
    n = check_int("n", n, minimum=2)
    b = as_real_array("batch", batch, minimum=0, strict_minimum=True)
    i = as_real_array("n_in", n_in, minimum=0, strict_minimum=True)
    o = as_real_array("n_out", n_out, minimum=0, strict_minimum=True)
    v = as_real_array("bytes_per_value", bytes_per_value, minimum=0, strict_minimum=True)
    return scalar_or_array(
        allreduce_time(b * i * v, n, allreduce_fit.bandwidth, allreduce_fit.alpha)
        + allgather_time(b * o * v, n, allgather_fit.bandwidth, allgather_fit.alpha))


@dataclass(frozen=True)
class SplitVsData:
    """A square (width x width) layer at one batch: a column split's collectives
    against data parallelism's all-reduce of the weight gradient, measured and
    modelled (seconds)."""

    width: int
    batch: int
    data_measured: float
    column_measured: float
    data_model: float
    column_model: float

    @property
    def model_ratio(self) -> float:
        """Modelled column time over modelled data time (below 1: the split wins)."""
        return self.column_model / self.data_model

    @property
    def column_wins_measured(self) -> bool:
        """Whether the measured column split was faster than the measured all-reduce."""
        return self.column_measured < self.data_measured

    def clear(self, margin: float) -> bool:
        """Whether the model predicts a winner by a factor ``margin`` (> 1) or more."""
        margin = check_number("margin", margin, minimum=1, strict_minimum=True)
        return self.model_ratio >= margin or self.model_ratio <= 1 / margin

    def miss(self, margin: float) -> bool:
        """A clear predicted winner (:meth:`clear`) that the measurement contradicts."""
        return self.clear(margin) and self.column_wins_measured != (self.model_ratio < 1)


def compare_split_to_data(times: Mapping, n: int = 2) -> list[SplitVsData]:
    """Measured against modelled, for every (batch, width) in ``times["column"]``.

    ``times`` as from :func:`pooled_low_times` of
    :func:`course_utils.parallel.hybrid.fc_comm_worker` runs (float32, square layers):
    the model is :func:`fit_split_collectives` on the single collectives, so the
    column split's time is a prediction, not a fit.
    """
    allreduce_fit, allgather_fit = fit_split_collectives(times, n)
    column = times.get("column") if isinstance(times, Mapping) else None
    if not isinstance(column, Mapping) or not column:
        raise ValueError("times['column'] must map (batch, width) pairs to seconds")
    rows = []
    for (batch, width), measured in column.items():
        weights = 4 * width * width
        if weights not in times["allreduce"]:
            raise ValueError(f"times['allreduce'] must hold the weight gradient of width "
                             f"{width} ({weights} bytes)")
        rows.append(SplitVsData(
            width, batch, times["allreduce"][weights], measured,
            float(allreduce_time(weights, n, allreduce_fit.bandwidth, allreduce_fit.alpha)),
            float(column_split_time(batch, width, width, allreduce_fit, allgather_fit, n))))
    return rows


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
