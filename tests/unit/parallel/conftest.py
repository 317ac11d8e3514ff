"""Fixtures shared by test_model_parallel.py and test_tensor_parallel.py: one 2-process
gloo run of hybrid.split_layer_worker (every split of the post's example) and the same
layer computed by one process."""

from __future__ import annotations

import pytest
import torch

from course_utils.core.launchers import run_local
from course_utils.parallel import hybrid
from course_utils.parallel import model_parallel as mp


@pytest.fixture(scope="session")
def split_results():
    """The post's example (128x1000 by 1000x500) on 2 gloo processes."""
    return run_local(hybrid.split_layer_worker, nprocs=2, process_group="gloo")


@pytest.fixture(scope="session")
def reference():
    """The same draws as split_layer_worker, computed by one process with autograd."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(128, 1000, generator=gen).requires_grad_(True)
    w = (torch.randn(1000, 500, generator=gen) / 1000**0.5).requires_grad_(True)
    b = torch.randn(500, generator=gen).requires_grad_(True)
    g = torch.randn(128, 500, generator=gen)
    y = x @ w + b
    (y * g).sum().backward()
    w1, b1 = mp.full_init(1000, 1000, seed=1)
    w2, b2 = mp.full_init(1000, 500, seed=2)
    x2 = x.detach().clone().requires_grad_(True)
    params = [p.requires_grad_(True) for p in (w1, b1, w2, b2)]
    y2 = torch.relu(x2 @ params[0] + params[1]) @ params[2] + params[3]
    (y2 * g).sum().backward()
    return {"y": (x @ w).detach(), "y_bias": y.detach(), "grad_x": x.grad, "grad_w": w.grad,
            "grad_b": b.grad, "mlp_y": y2.detach(), "mlp_grad_x": x2.grad,
            "mlp_grad_w1": params[0].grad, "mlp_grad_w2": params[2].grad}
