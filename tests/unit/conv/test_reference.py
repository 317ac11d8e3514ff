"""course_utils.conv, conv_kernels and conv_signal: every method against torch, and the helpers.

The CUDA methods run wherever select_device() points (the simulator without a GPU), on
tiny shapes: the simulator runs one Python thread per CUDA thread.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.signal
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from course_utils import conv, conv_signal
from course_utils import conv_kernels as ck

ROOT = Path(__file__).resolve().parents[2]


def torch_conv(x, w, stride=1, padding=0):
    return torch.nn.functional.conv2d(torch.from_numpy(x), torch.from_numpy(w),
                                      stride=stride, padding=padding).numpy()


def assert_matches_torch(out, x, w, stride, padding):
    expected = torch_conv(x, w, stride, padding)
    assert out.shape == expected.shape and out.dtype == np.float32
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


# ----------------------------------------------------------------------- correctness
@given(problem=problems(max_hw=24, max_batch=3, max_channels=5, max_k=7))
@settings(max_examples=60)
@pytest.mark.parametrize("method", ["reference", "reference_fft"])
def test_numpy_methods_match_torch(method, problem):
    x, w, stride, padding = problem
    assert_matches_torch(conv.conv2d(x, w, stride=stride, padding=padding, method=method),
                         x, w, stride, padding)


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
    out = ck.run(method, x, w, stride=1, padding=1, configs=ck.GPU_CONFIGS)
    assert_matches_torch(out, x, w, 1, 1)


def test_constant_kernels_are_cached_per_filter_bank():
    w = np.ones((1, 1, 3, 3), np.float32)
    assert ck.constant_kernel(w, 1, ck.SIM_TILE) is ck.constant_kernel(w.copy(), 1, ck.SIM_TILE)
    assert ck.constant_kernel(w, 1, ck.SIM_TILE) is not ck.constant_kernel(2 * w, 1, ck.SIM_TILE)


def test_simulator_speedup_restores_the_switch_interval():
    before = sys.getswitchinterval()
    with ck.simulator_speedup():
        pass
    assert sys.getswitchinterval() == before


# ----------------------------------------------------------------------- bad input
GOOD_X = np.zeros((1, 2, 5, 5), np.float32)
GOOD_W = np.zeros((3, 2, 3, 3), np.float32)


@pytest.mark.parametrize("kwargs, exc, match", [
    ({"x": GOOD_X.astype(np.float64)}, TypeError, "x must have dtype float32"),
    ({"w": GOOD_W.astype(np.float16)}, TypeError, "w must have dtype float32"),
    ({"x": GOOD_X.tolist()}, TypeError, "x must be a numpy.ndarray"),
    ({"x": GOOD_X[0]}, ValueError, "x must have 4 dimensions"),
    ({"w": GOOD_W[:, :1]}, ValueError, "x has C=2 channels"),
    ({"x": np.zeros((1, 2, 0, 5), np.float32)}, ValueError, "x must have no empty dimension"),
    ({"w": np.zeros((1, 2, 6, 3), np.float32)}, ValueError, "must fit in the padded input"),
    ({"stride": 0}, ValueError, "stride must be >= 1"),
    ({"stride": 1.5}, TypeError, "stride must be an integer"),
    ({"padding": -1}, ValueError, "padding must be >= 0"),
    ({"method": "winograd"}, ValueError, "method must be one of"),
])
def test_conv2d_rejects_bad_input(kwargs, exc, match):
    args = {"x": GOOD_X, "w": GOOD_W, "stride": 1, "padding": 0, "method": "reference"} | kwargs
    with pytest.raises(exc, match=match):
        conv.conv2d(args.pop("x"), args.pop("w"), **args)


def test_cuda_methods_reject_bad_input_before_launching():
    with pytest.raises(TypeError, match="x must have dtype float32"):
        conv.conv2d(GOOD_X.astype(np.float64), GOOD_W, method="naive")
    with pytest.raises(ValueError, match="constant memory"):
        ck.constant_kernel(np.zeros((64, 64, 3, 3), np.float32), 1, ck.SIM_TILE)
    with pytest.raises(ValueError, match="shared memory"):
        ck.tiled_kernel(31, 31, 4, ck.GPU_TILE)
    with pytest.raises(ValueError, match="padded sizes up to 4096"):
        ck.fft_length(5000)
    with pytest.raises(ValueError, match="power of two"):
        ck.fft_kernel(12)
    with pytest.raises(TypeError, match="configs must be a LaunchConfigs"):
        ck.DeviceConv("naive", GOOD_X, GOOD_W, configs=ck.SIM_TILE)
    with pytest.raises(ValueError, match="threads"):
        ck.GemmConfig(pixels=16, channels=8, depth=3, pixels_per_thread=2, channels_per_thread=2)


# ----------------------------------------------------------------------- sizes and costs
def test_the_posts_example_256_image_32_kernels_of_16():
    # Dettmers 2015: 32 kernels of 16x16 on a 256x256 image give 32 feature maps of 241x241
    assert conv.conv_output_shape((1, 1, 256, 256), (32, 1, 16, 16)) == (1, 32, 241, 241)
    assert conv.output_length(256, 16) == 241


@given(n=st.integers(1, 40), k=st.integers(1, 9), stride=st.integers(1, 4),
       padding=st.integers(0, 4))
def test_output_length_matches_torch(n, k, stride, padding):
    if k > n + 2 * padding:
        with pytest.raises(ValueError, match="kernel size"):
            conv.output_length(n, k, stride=stride, padding=padding)
        return
    out = torch.nn.functional.conv2d(torch.zeros(1, 1, n, 1), torch.zeros(1, 1, k, 1),
                                     stride=stride, padding=(padding, 0))
    assert conv.output_length(n, k, stride=stride, padding=padding) == out.shape[2]


def test_valid_same_full():
    assert [conv.mode_output_length(10, 3, m) for m in ("valid", "same", "full")] == [8, 10, 12]
    assert conv.padding_for("full", 5) == 4
    with pytest.raises(ValueError, match="odd kernel size"):
        conv.padding_for("same", 4)
    with pytest.raises(ValueError, match="mode must be one of"):
        conv.padding_for("circular", 3)


def test_flops_bytes_and_intensity_match_the_reference_example():
    # /work/shared/reference/convolution.md section 5: N=64, C=K=256, 56x56, 3x3, pad 1
    x, w = (64, 256, 56, 56), (256, 256, 3, 3)
    assert conv.conv_flops(x, w, padding=1) == pytest.approx(2.37e11, rel=5e-3)
    assert conv.conv_min_bytes(x, w, padding=1) == pytest.approx(4.13e8, rel=5e-3)
    assert round(conv.arithmetic_intensity(x, w, padding=1)) == 573
    assert round(conv.arithmetic_intensity(x, w, padding=1, itemsize=2)) == 1145
    assert round(conv.arithmetic_intensity((1, 256, 56, 56), w, padding=1)) == 421


def test_ridge_points_match_the_reference():
    roofs = conv.gpu_roofs()
    assert tuple(roofs) == conv.ROOFLINE_GPUS
    for name, ridge in {"GTX 680": 16.1, "Tesla K40": 14.9, "V100 SXM2": 17.4}.items():
        assert roofs[name]["ridge_point"] == pytest.approx(ridge, abs=0.05)
    with pytest.raises(ValueError, match="name must be one of"):
        conv.gpu_roofs(("GTX 9999",))


def test_attainable_flops_is_the_roofline():
    assert conv.attainable_flops(1.0, 100.0, 10.0) == 10.0  # memory-bound
    assert conv.attainable_flops(50.0, 100.0, 10.0) == 100.0  # compute-bound
    with pytest.raises(ValueError, match="bandwidth must be > 0"):
        conv.attainable_flops(1.0, 1.0, 0.0)


# ----------------------------------------------------------------------- Winograd
def test_winograd_multiply_counts():
    assert conv.winograd_multiplies(2, 3) == {"direct": 36, "winograd": 16, "saving": 2.25}
    assert conv.winograd_multiplies(4, 3)["saving"] == 4.0  # Lavin & Gray's "up to 4x"
    layer = conv.winograd_layer_multiplies((1, 2, 10, 10), (3, 2, 3, 3), m=2)
    assert layer["tiles"] == 16 and layer["saving"] == pytest.approx(2.25)


@given(problem=problems(max_hw=14, max_batch=2, max_channels=3, max_k=3))
def test_winograd_f2x2_3x3_computes_the_convolution(problem):
    x, w, _, _ = problem
    if w.shape[2:] != (3, 3) or min(x.shape[2:]) < 3:
        w = np.ones((w.shape[0], w.shape[1], 3, 3), np.float32)
        x = np.pad(x, ((0, 0), (0, 0), (0, 3), (0, 3)))
    out, mults = conv.winograd_f2x2_3x3(x, w)
    assert_matches_torch(out, x, w, 1, 0)
    n, c, h, wd = x.shape
    tiles = -(-(h - 2) // 2) * -(-(wd - 2) // 2)
    assert mults == n * w.shape[0] * c * tiles * 16


# ----------------------------------------------------------------------- Part II helpers
def test_convolution_theorem_circular_and_linear():
    rng = np.random.default_rng(3)
    for shape in [(16,), (6, 7)]:
        a, b = rng.standard_normal(shape), rng.standard_normal(shape)
        np.testing.assert_allclose(conv_signal.fft_convolve(a, b, mode="circular"),
                                   conv_signal.circular_convolve_direct(a, b), atol=1e-10)
    a, b = rng.standard_normal((9, 5)), rng.standard_normal((3, 4))
    np.testing.assert_allclose(conv_signal.fft_convolve(a, b),
                               scipy.signal.convolve2d(a, b, mode="full"), atol=1e-10)
    a1, b1 = rng.standard_normal(8), rng.standard_normal(8)
    linear = np.convolve(a1, b1)
    circular = conv_signal.fft_convolve(a1, b1, mode="circular")
    np.testing.assert_allclose(circular, linear[:8] + np.r_[linear[8:], 0.0], atol=1e-10)


def test_spectrum_orientation_follows_the_stripes():
    for angle in (0, 30, 45, 90, 135):
        img = conv_signal.stripes(64, angle, period=8)
        found, radius = conv_signal.dominant_frequency(img)
        assert abs((found - angle + 90) % 180 - 90) < 6 and radius == pytest.approx(8, abs=1)


def test_disc_lowpass_and_compression_ratio():
    img = np.random.default_rng(0).standard_normal((32, 32))
    same, ratio = conv_signal.lowpass_disc(img, radius=100)
    np.testing.assert_allclose(same, img, atol=1e-10)
    assert ratio == 1.0
    _, ratio = conv_signal.lowpass_disc(img, radius=4)
    assert ratio == pytest.approx(32 * 32 / conv_signal.disc_mask((32, 32), 4).sum())
    smooth = conv_signal.stripes(32, 0, period=16)  # 2 cycles per image: inside radius 4
    np.testing.assert_allclose(conv_signal.lowpass_disc(smooth, 4)[0], smooth, atol=1e-10)


def test_kernel_softmax_is_a_distribution():
    sobel = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], float)
    p = conv_signal.kernel_softmax(sobel)
    assert p.sum() == pytest.approx(1.0) and (p > 0).all() and p.argmax() == 5
    np.testing.assert_allclose(conv_signal.kernel_softmax(sobel + 1000.0), p)  # stable


def test_cross_correlation_is_convolution_with_the_flipped_template():
    rng = np.random.default_rng(4)
    img, t = rng.standard_normal((12, 15)), rng.standard_normal((4, 3))
    np.testing.assert_allclose(conv_signal.cross_correlate(img, t),
                               scipy.signal.correlate2d(img, t, mode="full"), atol=1e-10)


def test_match_template_finds_a_planted_patch():
    rng = np.random.default_rng(5)
    img = rng.uniform(0, 1, (60, 70))
    img[:, :20] += 5.0  # a bright region that plain correlation would favour
    patch = rng.uniform(0, 1, (7, 9))
    img[31:38, 40:49] = patch
    assert conv_signal.match_template(img, patch) == (31, 40)
    with pytest.raises(ValueError, match="must not be constant"):
        conv_signal.match_template(img, np.ones((3, 3)))


def test_ma_and_ar_models_are_convolutions():
    rng = np.random.default_rng(6)
    e = rng.standard_normal(400)
    theta, phi = [0.6, -0.3], [0.5, 0.3]
    x_ma = conv_signal.ma_process(e, theta, mu=2.0)
    loop = [2.0 + e[t] + sum(th * e[t - i - 1] for i, th in enumerate(theta) if t - i - 1 >= 0)
            for t in range(len(e))]
    np.testing.assert_allclose(x_ma, loop, atol=1e-12)
    x_ar = conv_signal.ar_process(e, phi, c=1.0)
    for t in range(2, 50):
        assert x_ar[t] == pytest.approx(1.0 + phi[0] * x_ar[t - 1] + phi[1] * x_ar[t - 2] + e[t])
    residual = x_ar - conv_signal.ar_predict(x_ar, phi, c=1.0)
    np.testing.assert_allclose(residual[2:], e[2:], atol=1e-10)
    phi_hat, c_hat = conv_signal.fit_ar(conv_signal.ar_process(
        rng.standard_normal(20000), phi, c=1.0), 2)
    np.testing.assert_allclose(phi_hat, phi, atol=0.03)
    psi = conv_signal.ar_impulse_response(phi, 200)
    np.testing.assert_allclose(np.convolve(e, psi)[:400], conv_signal.ar_process(e, phi),
                               atol=1e-8)


def test_signal_helpers_reject_bad_input():
    with pytest.raises(ValueError, match="same shape"):
        conv_signal.circular_convolve_direct(np.zeros(3), np.zeros(4))
    with pytest.raises(ValueError, match="mode must be one of"):
        conv_signal.fft_convolve(np.zeros(3), np.zeros(3), mode="valid")
    with pytest.raises(TypeError, match="image must be a numpy.ndarray"):
        conv_signal.log_spectrum([[1.0]])
    with pytest.raises(ValueError, match="template .* must fit"):
        conv_signal.match_template(np.zeros((4, 4)), np.zeros((5, 2)))


# ----------------------------------------------------------------------- benchmark
def test_benchmark_tiny_mode_runs_every_path(tmp_path):
    spec = importlib.util.spec_from_file_location("bench_conv", ROOT / "benchmarks" / "conv.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    out = tmp_path / "tiny.json"
    report = bench.run(["--tiny", "--out", str(out)])
    assert json.loads(out.read_text())["tiny"] is True
    for prob in report["problems"].values():
        methods = {r["method"] for r in prob["results"]}
        assert set(conv.METHODS) | {"torch"} <= methods
        assert all(r.get("correct", True) for r in prob["results"])
    assert bench.crossover([3, 5, 7, 9], [1, 2, 3, 4], [2, 1, 3.5, 3]) == 9
    assert bench.crossover([3, 5], [1, 1], [2, 2]) is None


def test_committed_cpu_results_are_complete():
    data = conv.load_benchmark("conv_benchmark_cpu.json")
    assert not data["tiny"] and data["machine"]["kind"] == "cpu"
    for prob in data["problems"].values():
        assert {r["method"] for r in prob["results"] if "seconds" in r} >= {
            "reference", "reference_fft", "torch"}
    for sweep in data["sweeps"].values():
        assert len(sweep["kernel_sizes"]) == len(sweep["seconds"]["reference_fft"])
    with pytest.raises(ValueError, match="name must be a .json"):
        conv.load_benchmark("../x.json")
