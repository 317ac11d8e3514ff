"""Tensor parallelism as ``torch.nn`` modules: column- and row-parallel linear layers.

Chapter 3, ``notebooks/mp_split_layers`` (section 3). :class:`ColumnParallelLinear`,
:class:`RowParallelLinear` and :class:`TensorParallelMLP` (column split, then row split:
one all-reduce forward, one backward, as in Megatron-LM,
https://arxiv.org/abs/1909.08053) are built from the autograd primitives of
:mod:`course_utils.parallel.model_parallel`, so autograd does the backward pass. They
run on an initialised ``torch.distributed`` process group (gloo on CPU, NCCL on GPUs).

Used in: :doc:`/notebooks/mp_split_layers`.
"""

from __future__ import annotations

import torch
from torch import nn

from .model_parallel import (
    copy_to_shards,
    full_init,
    gather_from_shards,
    group_size_rank,
    reduce_from_shards,
    scatter_to_shards,
    shard_slice,
    split_weight,
)

__all__ = ["ColumnParallelLinear", "RowParallelLinear", "TensorParallelMLP"]


class _ParallelLinear(nn.Module):
    """This rank's piece of a full (in, out) weight and bias; see the subclasses."""

    split_dim = 0

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None = None, *, group=None):
        super().__init__()
        self.group = group
        self.world_size, self.rank = group_size_rank(group)
        if not isinstance(weight, torch.Tensor) or weight.ndim != 2:
            raise ValueError("weight must be a 2-D torch.Tensor of shape (in, out)")
        self.in_features, self.out_features = weight.shape
        piece = split_weight(weight, self.split_dim, self.world_size, self.rank)
        self.weight = nn.Parameter(piece.detach().clone())
        if bias is not None and tuple(bias.shape) != (self.out_features,):
            raise ValueError(f"bias must have shape ({self.out_features},), "
                             f"got {tuple(bias.shape)}")
        self.bias = None if bias is None else nn.Parameter(self._bias_piece(bias).detach().clone())

    def _bias_piece(self, bias: torch.Tensor) -> torch.Tensor:
        return bias

    @classmethod
    def init(cls, in_features: int, out_features: int, *, seed: int = 0, bias: bool = True,
             device=None, dtype: torch.dtype = torch.float32, **kwargs):
        """A new layer, initialised as :func:`full_init` then split."""
        w, b = full_init(in_features, out_features, seed=seed, device=device, dtype=dtype)
        return cls(w, b if bias else None, **kwargs)


class ColumnParallelLinear(_ParallelLinear):
    """Y = X @ W + b with W split by columns: rank r computes ``X @ W[:, cols_r]``.

    Built from the full ``weight`` (in, out) and ``bias`` (same on every rank).
    ``gather_output=True`` stacks the blocks (all-gather) so every rank holds all of Y;
    ``False`` leaves each rank its (batch, out/p) block, for a following
    :class:`RowParallelLinear`. Backward adds the partial input gradients (all-reduce);
    ``reduce_input_grad=False`` leaves each rank its partial, for a caller that sums
    them itself (:func:`broadcast_from` reduces them onto the rank that sent X).
    """

    split_dim = 1

    def __init__(self, weight, bias=None, *, gather_output: bool = True,
                 reduce_input_grad: bool = True, group=None):
        super().__init__(weight, bias, group=group)
        self.gather_output = bool(gather_output)
        self.reduce_input_grad = bool(reduce_input_grad)

    def _bias_piece(self, bias):
        return bias[shard_slice(self.out_features, self.world_size, self.rank)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.reduce_input_grad:
            x = copy_to_shards(x, self.group)
        y = x @ self.weight
        if self.bias is not None:
            y = y + self.bias
        return gather_from_shards(y, self.group) if self.gather_output else y


class RowParallelLinear(_ParallelLinear):
    """Y = X @ W + b with W split by rows: rank r computes ``X_r @ W[rows_r, :]``.

    ``input_is_split=False`` takes the full X and keeps this rank's columns;
    ``True`` takes the (batch, in/p) block a :class:`ColumnParallelLinear` left.
    The partial results are added (all-reduce), then the bias (held by every rank).
    """

    split_dim = 0

    def __init__(self, weight, bias=None, *, input_is_split: bool = False, group=None):
        super().__init__(weight, bias, group=group)
        self.input_is_split = bool(input_is_split)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.input_is_split:
            x = scatter_to_shards(x, self.group)
        y = reduce_from_shards(x @ self.weight, self.group)
        return y + self.bias if self.bias is not None else y


class TensorParallelMLP(nn.Module):
    """ReLU MLP ``relu(X @ W1 + b1) @ W2 + b2``: W1 split by columns, W2 by rows.

    The hidden activations stay split, so a training step costs one all-reduce forward
    (the (batch, out) output) and one backward (the (batch, in) input gradient).
    Built from the full weights ``w1`` (in, hidden), ``b1``, ``w2`` (hidden, out), ``b2``;
    ``reduce_input_grad`` as in :class:`ColumnParallelLinear`.
    """

    def __init__(self, w1, b1, w2, b2, *, reduce_input_grad: bool = True, group=None):
        super().__init__()
        self.fc1 = ColumnParallelLinear(w1, b1, gather_output=False,
                                        reduce_input_grad=reduce_input_grad, group=group)
        self.fc2 = RowParallelLinear(w2, b2, input_is_split=True, group=group)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(torch.relu(self.fc1(x)))
