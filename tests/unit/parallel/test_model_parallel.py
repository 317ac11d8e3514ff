"""course_utils.parallel.model_parallel: hand-written split layers on two real gloo
processes (run by hybrid.split_layer_worker, fixtures in conftest.py) against the
single-process layer.

The nn.Module layers are in test_tensor_parallel.py, hybrid training in test_hybrid.py,
the cost models in test_mp_costs.py."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from course_utils.parallel import model_parallel as mp

ATOL = 2e-5  # float32, sums in another order


def close(a, b):
    torch.testing.assert_close(a, b, atol=ATOL, rtol=1e-5)


@pytest.mark.parametrize("split, w_dim", [("row", 0), ("column", 1)])
def test_every_split_equals_the_unsplit_layer(split_results, reference, split, w_dim):
    """Hand-written (row, column) splits; the autograd layers are in test_tensor_parallel.py."""
    for r in split_results:
        close(r[split]["y"], reference["y"])
        close(r[split]["grad_x"], reference["grad_x"])
    close(torch.cat([r[split]["grad_w"] for r in split_results], w_dim), reference["grad_w"])


def test_row_split_adds_and_column_split_stacks(split_results):
    # forward: row = all-reduce of (128, 500); column = all-gather of (128, 250) pieces
    assert split_results[0]["row"]["collectives"] == [("all_reduce", 128 * 500 * 4),
                                                      ("all_gather", 128 * 500 * 4)]
    assert split_results[0]["column"]["collectives"] == [("all_gather", 128 * 250 * 4),
                                                         ("all_reduce", 128 * 1000 * 4)]


def test_shards():
    assert mp.shard_slice(1000, 4, 3) == slice(750, 1000)
    w = np.arange(12).reshape(3, 4)
    np.testing.assert_array_equal(mp.split_weight(w, 1, 2, 1), w[:, 2:])


@pytest.mark.parametrize("call, exc, match", [
    (lambda: mp.shard_slice(1000, 3, 0), ValueError, "multiple of world_size=3"),
    (lambda: mp.shard_slice(10, 2, 2), ValueError, "rank must be <= 1"),
    (lambda: mp.split_weight(np.ones(4), 0, 2, 0), ValueError, "weight must be 2-D"),
    (lambda: mp.split_weight(np.ones((4, 4)), 2, 2, 0), ValueError, "dim must be <= 1"),
    (lambda: mp.column_split_forward(torch.ones(2, 2), torch.ones(2, 1)), RuntimeError,
     "no torch.distributed process group"),
])
def test_bad_inputs_raise_clear_errors(call, exc, match):
    with pytest.raises(exc, match=match):
        call()
