"""Bytes sent by collectives: counted in a real run, and the models they must equal.

:func:`count_collectives` replaces the collectives of ``torch.distributed`` (all-reduce,
all-gather, reduce-scatter, all-to-all) by wrappers that record each call, then calls
the original. Library code looks them up as ``dist.<name>`` when it calls them, so the
wrappers see FSDP2's all-gathers and reduce-scatters, a DDP communication hook written in
Python (PowerSGD, the course's 8-bit hook, ``allreduce_hook``) and the tensor-parallel
all-reduces of :mod:`course_utils.parallel.model_parallel`. (DDP's built-in all-reduce
runs in C++ and is not seen: register a Python hook to count it.) A call made inside
another counted call is not counted twice.

The byte models the counts are checked against live here too (plain Python; torch is
imported only inside :func:`count_collectives`):
:func:`fsdp_traffic` (DDP and ZeRO-3/FSDP, Rajbhandari et al. 2020,
https://arxiv.org/abs/1910.02054) with :func:`padded_numel`, :func:`tp_traffic`
(Megatron-LM's MLP block, https://arxiv.org/abs/1909.08053), :func:`powersgd_bytes`
(PowerSGD, https://arxiv.org/abs/1905.13727, as PyTorch's hook decides) and
:func:`scatter_gather_bytes` (the course's 8-bit and 1-bit hooks).

Each record is a :class:`Collective`: the operation and ``nbytes``, the size of the
*full* tensor of the collective (all-reduce: the tensor; all-gather: the gathered
output; reduce-scatter: the input before it is cut; all-to-all: this rank's input).
:func:`wire_bytes` turns that into the bytes one rank sends with the bandwidth-optimal
algorithms (ring, pairwise exchange) on ``p`` ranks: ``2(p-1)/p * nbytes`` for an
all-reduce, ``(p-1)/p * nbytes`` for the others.

Used in: :doc:`/notebooks/modern_sharded_runs`.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from ..core.checks import check_choice, check_int, check_number
from .compression import EIGHT_BIT_SCHEMES

__all__ = ["COUNTED_OPS", "Collective", "count_collectives", "wire_bytes", "total_bytes",
           "padded_numel", "fsdp_traffic", "tp_traffic", "powersgd_bytes",
           "scatter_gather_bytes"]

#: The collectives counted, and which argument holds the full tensor (see the docstring).
COUNTED_OPS = {
    "all_reduce": "tensor",
    "all_gather": "tensor_list",
    "all_gather_into_tensor": "output_tensor",
    "all_gather_single": "output_tensor",
    "reduce_scatter": "input_list",
    "reduce_scatter_tensor": "input",
    "reduce_scatter_single": "input",
    "all_to_all_single": "input",
}

_state = threading.local()


@dataclass(frozen=True)
class Collective:
    """One collective call: ``op`` (its ``torch.distributed`` name), ``nbytes`` (bytes of
    the full tensor, see the module docstring)."""

    op: str
    nbytes: int

    def __post_init__(self) -> None:
        if self.op not in COUNTED_OPS:
            raise ValueError(f"op must be one of {tuple(COUNTED_OPS)}, got {self.op!r}")
        check_int("nbytes", self.nbytes, minimum=0)

    @property
    def kind(self) -> str:
        """``"all_reduce"``, ``"all_gather"``, ``"reduce_scatter"`` or ``"all_to_all"``."""
        for kind in ("all_reduce", "all_gather", "reduce_scatter", "all_to_all"):
            if self.op.startswith(kind):
                return kind
        raise AssertionError(f"unreachable: {self.op!r}")  # pragma: no cover


def _nbytes(value) -> int:
    if isinstance(value, list | tuple):
        return sum(_nbytes(v) for v in value)
    return int(value.numel() * value.element_size())


def _wrap(fn, op: str, log: list[Collective]):
    signature = inspect.signature(fn)
    argument = COUNTED_OPS[op]

    @functools.wraps(fn)
    def counted(*args, **kwargs):
        depth = getattr(_state, "depth", 0)
        if depth == 0:
            bound = signature.bind(*args, **kwargs).arguments
            log.append(Collective(op, _nbytes(bound[argument])))
        _state.depth = depth + 1
        try:
            return fn(*args, **kwargs)
        finally:
            _state.depth = depth

    return counted


@contextlib.contextmanager
def count_collectives() -> Iterator[list[Collective]]:
    """Within the ``with`` block, record every collective call of this process.

    Yields the list the :class:`Collective` records are appended to (in call order).
    The original functions are restored on exit, also after an error.
    """
    import torch.distributed as dist

    log: list[Collective] = []
    originals = {op: getattr(dist, op) for op in COUNTED_OPS if hasattr(dist, op)}
    for op, fn in originals.items():
        setattr(dist, op, _wrap(fn, op, log))
    try:
        yield log
    finally:
        for op, fn in originals.items():
            setattr(dist, op, fn)


def wire_bytes(record: Collective, world_size: int) -> float:
    """Bytes one of ``world_size`` ranks sends for ``record`` (ring / pairwise exchange)."""
    p = check_int("world_size", world_size, minimum=1)
    if not isinstance(record, Collective):
        raise TypeError(f"record must be a Collective, got {type(record).__name__}")
    factor = 2 if record.kind == "all_reduce" else 1
    return factor * (p - 1) / p * record.nbytes


def total_bytes(records: Sequence[Collective], kind: str | None = None) -> int:
    """Sum of ``nbytes`` over ``records`` (only those of ``kind`` when it is given)."""
    kinds = (None, "all_reduce", "all_gather", "reduce_scatter", "all_to_all")
    if kind not in kinds:
        raise ValueError(f"kind must be one of {kinds}, got {kind!r}")
    return sum(r.nbytes for r in records if kind is None or r.kind == kind)


# --------------------------------------------------------------------------- byte models
def padded_numel(shapes: Sequence[Sequence[int]], world_size: int) -> int:
    """Elements FSDP2 all-gathers for parameters of ``shapes``: dim 0 of each is padded up
    to a multiple of ``world_size`` (no padding when every dim 0 divides evenly)."""
    p = check_int("world_size", world_size, minimum=1)
    total = 0
    for shape in shapes:
        dims = [check_int("shapes entry", d, minimum=1) for d in shape]
        if not dims:
            raise ValueError("shapes must hold non-empty shapes, got ()")
        rest = 1
        for d in dims[1:]:
            rest *= d
        total += -(-dims[0] // p) * p * rest
    return total


def fsdp_traffic(n_params: int, bytes_per_param: int, world_size: int,
                 reshard_after_forward: bool = True) -> dict[str, dict]:
    """Bytes per training step of DDP and of FSDP (ZeRO-3).

    Returns ``{"ddp": {...}, "fsdp": {...}}``, each with the full-tensor bytes per
    collective kind (``all_reduce``, ``all_gather``, ``reduce_scatter``; see
    :mod:`course_utils.parallel.comm_count`) and ``wire``, the bytes one rank sends:
    DDP ``2(p-1)/p * Psi``, FSDP ``3(p-1)/p * Psi`` (``Psi = n_params * bytes_per_param``).
    With ``reshard_after_forward=False`` the parameters stay gathered from forward to
    backward: one all-gather, ``2(p-1)/p * Psi``, but no memory saved during the step.
    """
    n = check_int("n_params", n_params, minimum=1)
    b = check_int("bytes_per_param", bytes_per_param, minimum=1)
    p = check_int("world_size", world_size, minimum=1)
    if not isinstance(reshard_after_forward, bool):
        raise TypeError("reshard_after_forward must be a bool, "
                        f"got {type(reshard_after_forward).__name__}")
    psi = n * b
    share = (p - 1) / p
    gathers = 2 if reshard_after_forward else 1
    return {
        "ddp": {"all_reduce": psi, "all_gather": 0, "reduce_scatter": 0, "wire": 2 * share * psi},
        "fsdp": {"all_reduce": 0, "all_gather": gathers * psi, "reduce_scatter": psi,
                 "wire": (gathers + 1) * share * psi},
    }


def tp_traffic(batch: int, hidden: int, bytes_per_value: int, world_size: int,
               blocks: int = 1) -> dict[str, float]:
    """Bytes per step of Megatron tensor parallelism over ``blocks`` MLP blocks.

    ``forward`` and ``backward``: the ``(batch, hidden)`` all-reduce in each direction
    (full-tensor bytes); ``wire``: bytes one rank sends, ``2(p-1)/p`` of both.
    """
    b = check_int("batch", batch, minimum=1)
    h = check_int("hidden", hidden, minimum=1)
    e = check_int("bytes_per_value", bytes_per_value, minimum=1)
    p = check_int("world_size", world_size, minimum=1)
    n = check_int("blocks", blocks, minimum=1)
    one = n * b * h * e
    return {"forward": one, "backward": one, "wire": 2 * (p - 1) / p * 2 * one}


def powersgd_bytes(shapes: Sequence[Sequence[int]], rank: int = 1,
                   min_compression_rate: float = 2.0, bytes_per_value: int = 4) -> int:
    """Bytes PowerSGD all-reduces per step (after its plain start) for gradients of
    ``shapes``, as ``powerSGD_hook`` decides: each tensor viewed as ``(shape[0], rest)``
    = ``(n, m)`` with rank ``k = min(n, m, rank)`` is compressed to ``(n + m) k`` values
    if ``(n + m) k * min_compression_rate < n m``, else sent whole."""
    r = check_int("rank", rank, minimum=1)
    rate = check_number("min_compression_rate", min_compression_rate, minimum=0)
    e = check_int("bytes_per_value", bytes_per_value, minimum=1)
    values = 0
    for shape in shapes:
        dims = [check_int("shapes entry", d, minimum=1) for d in shape]
        if not dims:
            raise ValueError("shapes must hold non-empty shapes, got ()")
        n = dims[0]
        m = 1
        for d in dims[1:]:
            m *= d
        k = min(n, m, r)
        values += (n + m) * k if (n + m) * k * rate < n * m else n * m
    return values * e


def scatter_gather_bytes(n_values: int, world_size: int, scheme: str) -> int:
    """Bytes of the course hook's two phases for one bucket of ``n_values`` (full tensors:
    the all-to-all's input plus the all-gather's output): each of ``p`` shards of
    ``ceil(n/p)`` values is one message, 8-bit: a byte per value + a 4-byte scale;
    1-bit: a bit per value (whole bytes) + two 4-byte means."""
    n = check_int("n_values", n_values, minimum=1)
    p = check_int("world_size", world_size, minimum=1)
    check_choice("scheme", scheme, (*EIGHT_BIT_SCHEMES, "1bit"))
    shard = -(-n // p)
    message = -(-shard // 8) + 8 if scheme == "1bit" else shard + 4
    return 2 * p * message
