"""The setup chapter's kernels against their NumPy specification."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from course_utils.systems import vector


@given(n=st.integers(1, 700), tpb=st.sampled_from([1, 32, 64, 100, 256]),
       dtype=st.sampled_from([np.float32, np.float64]), seed=st.integers(0, 2**16))
def test_vector_add_matches_numpy(n, tpb, dtype, seed):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal(n).astype(dtype)
    b = rng.standard_normal(n).astype(dtype)
    out = vector.vector_add(a, b, threads_per_block=tpb)
    assert out.dtype == dtype
    np.testing.assert_array_equal(out, a + b)


@given(rows=st.integers(1, 40), cols=st.integers(1, 40),
       block=st.sampled_from([(16, 16), (8, 4), (32, 1), (5, 7)]),
       alpha=st.floats(-4, 4), seed=st.integers(0, 2**16))
def test_saxpy_2d_matches_numpy(rows, cols, block, alpha, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((rows, cols)).astype(np.float32)
    y = rng.standard_normal((rows, cols)).astype(np.float32)
    out = vector.saxpy_2d(alpha, x, y, block=block)
    np.testing.assert_allclose(out, np.float32(alpha) * x + y, rtol=1e-6, atol=1e-6)


@given(rows=st.integers(1, 40), cols=st.integers(1, 40),
       block=st.sampled_from([(16, 16), (8, 4), (32, 1), (5, 7)]))
def test_block_map_covers_every_element_once_with_the_right_owner(rows, cols, block):
    owners = vector.block_map_2d((rows, cols), block=block)
    (gx, gy), _ = vector.launch_config_2d((rows, cols), block)
    r, c = np.indices((rows, cols))
    np.testing.assert_array_equal(owners, (r // block[1]) * gx + c // block[0])
    assert owners.min() == 0 and owners.max() == gx * gy - 1


def test_launch_config_1d_is_ceil_division():
    assert vector.launch_config_1d(1000, 256) == (4, 256)
    assert vector.launch_config_1d(1024, 256) == (4, 256)
    assert vector.launch_config_1d(1025, 256) == (5, 256)
    for n in (1, 7, 255, 257, 10**6):
        blocks, tpb = vector.launch_config_1d(n, 128)
        assert blocks == math.ceil(n / 128) and (blocks - 1) * tpb < n <= blocks * tpb


@pytest.mark.parametrize("args, exc, match", [
    ((np.zeros(3, np.float32), np.zeros(4, np.float32)), ValueError, "same shape"),
    ((np.zeros(3, np.int32), np.zeros(3, np.int32)), TypeError, "float32 or float64"),
    ((np.zeros(3, np.float32), np.zeros(3, np.float64)), TypeError, "share a dtype"),
    (([1.0, 2.0], np.zeros(2, np.float32)), TypeError, "numpy.ndarray"),
    ((np.zeros((2, 2), np.float32), np.zeros((2, 2), np.float32)), ValueError, "1 dimensions"),
])
def test_vector_add_rejects_bad_input(args, exc, match):
    with pytest.raises(exc, match=match):
        vector.vector_add(*args)


@pytest.mark.parametrize("kwargs, exc, match", [
    ({"n": 0}, ValueError, "n must be >= 1"),
    ({"n": 10, "threads_per_block": 0}, ValueError, "threads_per_block must be >= 1"),
    ({"n": 10, "threads_per_block": 2048}, ValueError, "threads_per_block must be <= 1024"),
    ({"n": 2.5}, TypeError, "n must be an integer"),
])
def test_launch_config_1d_rejects_bad_input(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        vector.launch_config_1d(**kwargs)


def test_launch_config_2d_rejects_oversized_blocks():
    with pytest.raises(ValueError, match="at most 1024 threads"):
        vector.launch_config_2d((10, 10), (64, 32))
    with pytest.raises(ValueError, match=r"shape must be \(rows, cols\)"):
        vector.launch_config_2d((10,), (8, 8))


def test_saxpy_rejects_non_finite_alpha():
    x = np.zeros((2, 2), np.float32)
    with pytest.raises(ValueError, match="alpha must be finite"):
        vector.saxpy_2d(float("nan"), x, x)
