"""The CUDA methods of conv2d: course_utils.conv.kernels, fft_kernels and device_conv.

They run wherever select_device() points (the simulator without a GPU), on tiny shapes:
the simulator runs one Python thread per CUDA thread.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest
from hypothesis import given, settings

from course_utils import conv
from course_utils.conv import device_conv as dc
from course_utils.conv import fft_kernels as fk
from course_utils.conv import kernels as ck

from ._helpers import assert_matches_torch, problems


# The CUDA kernels on random shapes; the simulator is slow, so fewer and smaller examples.
@given(problem=problems(max_hw=10, max_channels=2))
@settings(max_examples=15)
@pytest.mark.parametrize("method", conv.CUDA_METHODS)
def test_cuda_methods_match_torch(method, problem):
    x, w, stride, padding = problem
    assert_matches_torch(conv.conv2d(x, w, stride=stride, padding=padding, method=method),
                         x, w, stride, padding)


# Fixed cases that hit every requirement for every CUDA method, whatever hypothesis draws:
# odd and non-square images and kernels, sizes not multiples of the tile (8x8 outputs in
# the simulator, 32x32 on a GPU), several blocks, stride 2 with padding, N, C, K > 1.
CASES = [
    # N, C, K, H, W, R, S, stride, padding
    (1, 1, 1, 13, 19, 3, 5, 1, 0),  # single plane, 2x3 blocks of outputs, odd sizes
    (2, 3, 2, 11, 9, 3, 2, 2, 1),  # batch, channels, stride 2 + padding, non-square kernel
    (1, 2, 3, 7, 10, 4, 4, 2, 2),  # even kernel, padding 2
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: "x".join(map(str, c)))
@pytest.mark.parametrize("method", conv.CUDA_METHODS)
def test_cuda_methods_fixed_cases(method, case):
    n, c, k, h, wd, r, s, stride, padding = case
    rng = np.random.default_rng(sum(case))
    x = rng.standard_normal((n, c, h, wd), dtype=np.float32)
    w = rng.standard_normal((k, c, r, s), dtype=np.float32)
    assert_matches_torch(conv.conv2d(x, w, stride=stride, padding=padding, method=method),
                         x, w, stride, padding)


@pytest.mark.parametrize("method", ["tiled", "constant", "layer", "fft"])
def test_gpu_block_shapes_are_correct_too(method):
    """The GPU block shapes (256 threads) on one tiny problem, wherever kernels run."""
    rng = np.random.default_rng(7)
    x = rng.standard_normal((1, 2, 5, 7), dtype=np.float32)
    w = rng.standard_normal((2, 2, 3, 3), dtype=np.float32)
    out = dc.run(method, x, w, stride=1, padding=1, configs=ck.GPU_CONFIGS)
    assert_matches_torch(out, x, w, 1, 1)


def test_constant_kernels_are_cached_per_filter_bank():
    w = np.ones((1, 1, 3, 3), np.float32)
    assert ck.constant_kernel(w, 1, ck.SIM_TILE) is ck.constant_kernel(w.copy(), 1, ck.SIM_TILE)
    assert ck.constant_kernel(w, 1, ck.SIM_TILE) is not ck.constant_kernel(2 * w, 1, ck.SIM_TILE)


def test_simulator_speedup_restores_the_switch_interval():
    before = sys.getswitchinterval()
    with dc.simulator_speedup():
        pass
    assert sys.getswitchinterval() == before


GOOD_X = np.zeros((1, 2, 5, 5), np.float32)
GOOD_W = np.zeros((3, 2, 3, 3), np.float32)


def test_cuda_methods_reject_bad_input_before_launching():
    with pytest.raises(TypeError, match="x must have dtype float32"):
        conv.conv2d(GOOD_X.astype(np.float64), GOOD_W, method="naive")
    with pytest.raises(ValueError, match="constant memory"):
        ck.constant_kernel(np.zeros((64, 64, 3, 3), np.float32), 1, ck.SIM_TILE)
    with pytest.raises(ValueError, match="shared memory"):
        ck.tiled_kernel(31, 31, 4, ck.GPU_TILE)
    with pytest.raises(ValueError, match="padded sizes up to 4096"):
        fk.fft_length(5000)
    with pytest.raises(ValueError, match="power of two"):
        fk.fft_kernel(12)
    with pytest.raises(TypeError, match="configs must be a LaunchConfigs"):
        dc.DeviceConv("naive", GOOD_X, GOOD_W, configs=ck.SIM_TILE)
    with pytest.raises(ValueError, match="method must be one of"):
        dc.DeviceConv("reference", GOOD_X, GOOD_W)  # NumPy methods are not device methods
    with pytest.raises(ValueError, match="x must be finite"):
        dc.run("naive", np.full_like(GOOD_X, np.nan), GOOD_W)
    with pytest.raises(ValueError, match="threads"):
        ck.GemmConfig(pixels=16, channels=8, depth=3, pixels_per_thread=2, channels_per_thread=2)


def test_fft_length_is_the_next_power_of_two_at_least_2():
    assert [fk.fft_length(n) for n in (1, 2, 3, 17, 4096)] == [2, 2, 4, 32, 4096]
    assert fk.MAX_FFT_LENGTH == 4096
