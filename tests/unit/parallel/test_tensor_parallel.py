"""course_utils.parallel.tensor_parallel: the column/row-parallel nn.Module layers and the
tensor-parallel MLP on two real gloo processes (fixtures in conftest.py) against the
single-process layer, with autograd."""

from __future__ import annotations

import pytest
import torch

ATOL = 2e-5  # float32, sums in another order


def close(a, b):
    torch.testing.assert_close(a, b, atol=ATOL, rtol=1e-5)


@pytest.mark.parametrize("split, w_dim", [("row_module", 0), ("column_module", 1)])
def test_every_split_equals_the_unsplit_layer(split_results, reference, split, w_dim):
    """Autograd (*_module, with a bias) splits."""
    for r in split_results:
        close(r[split]["y"], reference["y_bias"])
        close(r[split]["grad_x"], reference["grad_x"])
    close(torch.cat([r[split]["grad_w"] for r in split_results], w_dim), reference["grad_w"])
    if split == "row_module":  # the bias is replicated: every rank has the whole gradient
        for r in split_results:
            close(r[split]["grad_b"], reference["grad_b"])
    elif split == "column_module":  # the bias is split like the columns
        close(torch.cat([r[split]["grad_b"] for r in split_results]), reference["grad_b"])


def test_tensor_parallel_mlp_equals_the_unsplit_mlp_with_one_all_reduce_each_way(
        split_results, reference):
    for r in split_results:
        close(r["mlp"]["y"], reference["mlp_y"])
        close(r["mlp"]["grad_x"], reference["mlp_grad_x"])
        assert r["mlp"]["forward"] == [("all_reduce", 128 * 500 * 4)]
        assert r["mlp"]["backward"] == [("all_reduce", 128 * 1000 * 4)]
    close(torch.cat([r["mlp"]["grad_w1"] for r in split_results], 1), reference["mlp_grad_w1"])
    close(torch.cat([r["mlp"]["grad_w2"] for r in split_results], 0), reference["mlp_grad_w2"])


def test_layers_need_a_process_group():
    from course_utils.parallel.tensor_parallel import ColumnParallelLinear

    with pytest.raises(RuntimeError, match="no torch.distributed process group"):
        ColumnParallelLinear(torch.ones(4, 4))
