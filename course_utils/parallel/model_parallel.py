"""Model parallelism: one fully connected layer split across processes.

Conventions follow Dettmers' model-parallelism post
(http://timdettmers.com/2014/11/09/model-parallelism-deep-learning/): a layer computes
``Y = X @ W`` with ``X`` of shape (batch, in) and ``W`` of shape (in, out), e.g. the
post's 128x1000 by 1000x500. On ``p`` processes:

* **row split** (W split along its rows, dim 0): rank r holds ``W[rows_r, :]`` and the
  matching columns of ``X``; the partial results ``X_r @ W_r`` (batch x out) are
  **added** (all-reduce). Backward: the blocks ``dY @ W_r.T`` are **stacked**
  (all-gather).
* **column split** (W split along its columns, dim 1): rank r holds ``W[:, cols_r]``
  and all of ``X``; the blocks ``X @ W_r`` (batch x out/p) are **stacked**
  (all-gather). Backward: the partials ``dY_r @ W_r.T`` are **added** (all-reduce).

Two ways to run them, both on an initialised ``torch.distributed`` process group
(gloo on CPU, NCCL on GPUs; tensors must then live on the rank's GPU):

* :func:`row_split_forward` / :func:`row_split_backward` and the column
  counterparts write forward and backward out by hand, as in the post;
* the ``torch.nn`` modules of :mod:`course_utils.parallel.tensor_parallel` are built
  from the autograd primitives here (:func:`copy_to_shards`,
  :func:`reduce_from_shards`, :func:`gather_from_shards`, :func:`scatter_to_shards`),
  so autograd does the backward pass.

Chapter 3, ``notebooks/mp_split_layers``.

The cost models (NumPy only) are in :mod:`course_utils.parallel.mp_costs`.

Used in: :doc:`/notebooks/mp_split_layers`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
import torch.distributed as dist

from ..core.checks import check_int

__all__ = [
    "shard_slice",
    "split_weight",
    "record_collectives",
    "group_size_rank",
    "all_reduce_sum",
    "all_gather_cat",
    "copy_to_shards",
    "reduce_from_shards",
    "gather_from_shards",
    "scatter_to_shards",
    "broadcast_from",
    "row_split_forward",
    "row_split_backward",
    "column_split_forward",
    "column_split_backward",
    "full_init",
]


# --------------------------------------------------------------------------- shards
def shard_slice(size: int, world_size: int, rank: int) -> slice:
    """The ``rank``-th of ``world_size`` equal, contiguous pieces of ``range(size)``.

    Raises:
        ValueError: ``size`` is not a multiple of ``world_size``, or ``rank`` is out of
            ``[0, world_size)``.
    """
    size = check_int("size", size, minimum=1)
    world_size = check_int("world_size", world_size, minimum=1)
    rank = check_int("rank", rank, minimum=0, maximum=world_size - 1)
    if size % world_size:
        raise ValueError(
            f"size must be a multiple of world_size={world_size} to split evenly, got {size}"
        )
    step = size // world_size
    return slice(rank * step, (rank + 1) * step)


def split_weight(weight, dim: int, world_size: int, rank: int):
    """Rank ``rank``'s piece of a 2-D ``weight`` (in, out): ``dim=0`` rows, ``dim=1`` columns.

    Works for NumPy arrays and torch tensors (a view; copy it before modifying it).
    """
    dim = check_int("dim", dim, minimum=0, maximum=1)
    if getattr(weight, "ndim", None) != 2:
        shape = getattr(weight, "shape", None)
        raise ValueError(f"weight must be 2-D (in, out), got shape {shape}")
    piece = shard_slice(weight.shape[dim], world_size, rank)
    return weight[piece, :] if dim == 0 else weight[:, piece]


# --------------------------------------------------------------------------- collectives
_log: list[tuple[str, int]] | None = None


@contextlib.contextmanager
def record_collectives() -> Iterator[list[tuple[str, int]]]:
    """Record every collective this module calls, as ``(op, bytes)`` pairs.

    ``bytes`` is the size of the tensor this rank passes in (all-gather: its own piece).
    """
    global _log
    previous, _log = _log, []
    try:
        yield _log
    finally:
        _log = previous


def group_size_rank(group=None) -> tuple[int, int]:
    """``(world_size, rank)`` of ``group``; a clear error if there is no process group."""
    if not dist.is_available() or not dist.is_initialized():
        raise RuntimeError(
            "no torch.distributed process group: call torch.distributed.init_process_group "
            "first (run under torchrun, or use course_utils.parallel.hybrid.run_workers)"
        )
    return dist.get_world_size(group), dist.get_rank(group)


def _note(op: str, tensor: torch.Tensor) -> None:
    if _log is not None:
        _log.append((op, tensor.numel() * tensor.element_size()))


def all_reduce_sum(tensor: torch.Tensor, group=None) -> torch.Tensor:
    """Sum ``tensor`` over the group, in place; returns it."""
    group_size_rank(group)
    _note("all_reduce", tensor)
    dist.all_reduce(tensor, group=group)
    return tensor


def all_gather_cat(tensor: torch.Tensor, dim: int, group=None) -> torch.Tensor:
    """Every rank's ``tensor``, stacked along ``dim`` in rank order."""
    world_size, _ = group_size_rank(group)
    tensor = tensor.contiguous()
    _note("all_gather", tensor)
    pieces = [torch.empty_like(tensor) for _ in range(world_size)]
    dist.all_gather(pieces, tensor, group=group)
    return torch.cat(pieces, dim=dim)


def _own_piece(tensor: torch.Tensor, dim: int, group=None) -> torch.Tensor:
    world_size, rank = group_size_rank(group)
    piece = shard_slice(tensor.shape[dim], world_size, rank)
    return tensor.narrow(dim, piece.start, piece.stop - piece.start).contiguous()


def _global_rank(rank: int, group=None) -> int:
    return rank if group is None else dist.get_global_rank(group, rank)


class _CopyToShards(torch.autograd.Function):
    """Forward: identity. Backward: add the gradient pieces of all ranks."""

    @staticmethod
    def forward(ctx, x, group):
        ctx.group = group
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        return all_reduce_sum(grad.clone(), ctx.group), None


class _ReduceFromShards(torch.autograd.Function):
    """Forward: add the partial results of all ranks. Backward: identity."""

    @staticmethod
    def forward(ctx, x, group):
        return all_reduce_sum(x.clone(), group)

    @staticmethod
    def backward(ctx, grad):
        return grad, None


class _GatherFromShards(torch.autograd.Function):
    """Forward: stack the pieces along the last dim. Backward: keep this rank's piece."""

    @staticmethod
    def forward(ctx, x, group):
        ctx.group = group
        return all_gather_cat(x, -1, group)

    @staticmethod
    def backward(ctx, grad):
        return _own_piece(grad, -1, ctx.group), None


class _ScatterToShards(torch.autograd.Function):
    """Forward: keep this rank's piece of the last dim. Backward: stack the pieces."""

    @staticmethod
    def forward(ctx, x, group):
        ctx.group = group
        return _own_piece(x, -1, group)

    @staticmethod
    def backward(ctx, grad):
        return all_gather_cat(grad, -1, ctx.group), None


class _BroadcastFrom(torch.autograd.Function):
    """Forward: every rank gets rank ``src``'s tensor. Backward: the gradients of all
    ranks are summed onto ``src`` (a reduce); the other ranks get zeros."""

    @staticmethod
    def forward(ctx, x, src, group):
        ctx.src, ctx.group = src, group
        out = x.detach().clone().contiguous()
        _note("broadcast", out)
        dist.broadcast(out, src=_global_rank(src, group), group=group)
        return out

    @staticmethod
    def backward(ctx, grad):
        grad = grad.contiguous().clone()
        _note("reduce", grad)
        dist.reduce(grad, dst=_global_rank(ctx.src, ctx.group), group=ctx.group)
        if dist.get_rank(ctx.group) != ctx.src:
            grad.zero_()
        return grad, None, None


def copy_to_shards(x: torch.Tensor, group=None) -> torch.Tensor:
    """Identity forward; backward all-reduces the gradient (Megatron's ``f``)."""
    group_size_rank(group)
    return _CopyToShards.apply(x, group)


def reduce_from_shards(x: torch.Tensor, group=None) -> torch.Tensor:
    """All-reduce (sum) forward; identity backward (Megatron's ``g``)."""
    return _ReduceFromShards.apply(x, group)


def gather_from_shards(x: torch.Tensor, group=None) -> torch.Tensor:
    """All-gather along the last dim forward; backward keeps this rank's piece."""
    return _GatherFromShards.apply(x, group)


def scatter_to_shards(x: torch.Tensor, group=None) -> torch.Tensor:
    """Keep this rank's piece of the last dim forward; all-gather backward."""
    return _ScatterToShards.apply(x, group)


def broadcast_from(x: torch.Tensor, src: int, group=None) -> torch.Tensor:
    """Broadcast rank ``src``'s ``x`` to all ranks; backward reduces the gradient to ``src``.

    ``x`` must have the same shape and dtype on every rank (the others' values are
    ignored). Used for the 8-bit paper's sub-batch scheme: the fully connected,
    model-parallel layers process one rank's sub-batch at a time.
    """
    world_size, _ = group_size_rank(group)
    src = check_int("src", src, minimum=0, maximum=world_size - 1)
    return _BroadcastFrom.apply(x, src, group)


# --------------------------------------------------------------------------- the post's algebra
def row_split_forward(x_piece: torch.Tensor, w_piece: torch.Tensor, group=None) -> torch.Tensor:
    """Row split, forward: ``X_r @ W_r`` on every rank, the partial results **added**.

    Args:
        x_piece: this rank's columns of X, shape (batch, in/p).
        w_piece: this rank's rows of W, shape (in/p, out).

    Returns:
        Y = X @ W, shape (batch, out), on every rank (one all-reduce).
    """
    return all_reduce_sum(x_piece @ w_piece, group)


def row_split_backward(x_piece: torch.Tensor, w_piece: torch.Tensor, grad_y: torch.Tensor,
                       group=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Row split, backward: the blocks of dX **stacked**, dW_r local.

    Args:
        x_piece: (batch, in/p), as in the forward pass.
        w_piece: (in/p, out).
        grad_y: dL/dY, (batch, out), the same on every rank.

    Returns:
        ``(grad_x, grad_w_piece)``: the full dL/dX (batch, in), stacked from the blocks
        ``dY @ W_r.T`` (one all-gather), and this rank's dL/dW_r = ``X_r.T @ dY``.
    """
    return all_gather_cat(grad_y @ w_piece.T, 1, group), x_piece.T @ grad_y


def column_split_forward(x: torch.Tensor, w_piece: torch.Tensor, group=None) -> torch.Tensor:
    """Column split, forward: ``X @ W_r`` on every rank, the blocks **stacked**.

    Args:
        x: all of X, (batch, in), the same on every rank.
        w_piece: this rank's columns of W, (in, out/p).

    Returns:
        Y = X @ W, (batch, out), on every rank (one all-gather).
    """
    return all_gather_cat(x @ w_piece, 1, group)


def column_split_backward(x: torch.Tensor, w_piece: torch.Tensor, grad_y: torch.Tensor,
                          group=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Column split, backward: the partials of dX **added**, dW_r local.

    Args:
        x: (batch, in).
        w_piece: (in, out/p).
        grad_y: dL/dY, (batch, out), the same on every rank (each uses its columns).

    Returns:
        ``(grad_x, grad_w_piece)``: dL/dX (batch, in), the sum over ranks of
        ``dY_r @ W_r.T`` (one all-reduce), and dL/dW_r = ``X.T @ dY_r``.
    """
    grad_y_piece = _own_piece(grad_y, 1, group)
    return all_reduce_sum(grad_y_piece @ w_piece.T, group), x.T @ grad_y_piece


# --------------------------------------------------------------------------- nn modules
def full_init(in_features: int, out_features: int, *, seed: int = 0, device=None,
              dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
    """A full (in, out) weight and (out,) bias, the same on every rank for one ``seed``.

    Drawn as ``torch.nn.Linear`` draws them, U(-1/sqrt(in), 1/sqrt(in)), on the CPU in
    float64, then moved to ``device`` and ``dtype``.
    """
    in_features = check_int("in_features", in_features, minimum=1)
    out_features = check_int("out_features", out_features, minimum=1)
    gen = torch.Generator().manual_seed(check_int("seed", seed, minimum=0))
    bound = in_features ** -0.5
    w = (torch.rand(in_features, out_features, generator=gen, dtype=torch.float64) * 2 - 1)
    b = (torch.rand(out_features, generator=gen, dtype=torch.float64) * 2 - 1)
    return ((w * bound).to(device=device, dtype=dtype), (b * bound).to(device=device, dtype=dtype))
