"""Shared by the conv tests: torch as the oracle, and random conv problems."""

from __future__ import annotations

import numpy as np
import torch
from hypothesis import strategies as st


def torch_conv(x, w, stride=1, padding=0):
    return torch.nn.functional.conv2d(torch.from_numpy(x), torch.from_numpy(w),
                                      stride=stride, padding=padding).numpy()


def assert_matches_torch(out, x, w, stride, padding):
    expected = torch_conv(x, w, stride, padding)
    assert out.shape == expected.shape and out.dtype == np.float32
    # float32 on both sides, summed in different orders: at most 3 * 4 * 4 = 48 products
    # of standard-normal values per output leave differences of a few 1e-6. A GPU runs
    # the kernels' operations in the simulator's order and only rounds single operations
    # differently (fused multiply-adds; cosf/sinf within 2 ulp for the FFT), which keeps
    # that order of error; 1e-4 leaves a wide margin, and an indexing bug gives O(1).
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-4)


@st.composite
def problems(draw, max_hw=11, max_batch=2, max_channels=3, max_k=4):
    """(x, w, stride, padding) with the kernel fitting the padded input."""
    n = draw(st.integers(1, max_batch))
    c = draw(st.integers(1, max_channels))
    k = draw(st.integers(1, max_channels))
    r, s = draw(st.integers(1, max_k)), draw(st.integers(1, max_k))
    stride, padding = draw(st.integers(1, 2)), draw(st.integers(0, 2))
    h = draw(st.integers(max(1, r - 2 * padding), max_hw))
    wd = draw(st.integers(max(1, s - 2 * padding), max_hw))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, h, wd), dtype=np.float32)
    w = rng.standard_normal((k, c, r, s), dtype=np.float32)
    return x, w, stride, padding
