"""course_utils.conv.costs: FLOPs, bytes, arithmetic intensity, the roofline, Winograd."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given

from course_utils.conv import costs
from course_utils.systems.hardware import gpu

from ._helpers import assert_matches_torch, problems


def test_flops_bytes_and_intensity_match_the_reference_example():
    # /work/shared/reference/convolution.md section 5: N=64, C=K=256, 56x56, 3x3, pad 1
    x, w = (64, 256, 56, 56), (256, 256, 3, 3)
    assert costs.conv_flops(x, w, padding=1) == pytest.approx(2.37e11, rel=5e-3)
    assert costs.conv_min_bytes(x, w, padding=1) == pytest.approx(4.13e8, rel=5e-3)
    assert round(costs.arithmetic_intensity(x, w, padding=1)) == 573
    assert round(costs.arithmetic_intensity(x, w, padding=1, itemsize=2)) == 1145
    assert round(costs.arithmetic_intensity((1, 256, 56, 56), w, padding=1)) == 421


def test_ridge_points_match_the_reference():
    roofs = costs.gpu_roofs()
    assert tuple(roofs) == costs.ROOFLINE_GPUS
    assert roofs["V100 SXM2"]["ridge_point"] == pytest.approx(17.4, abs=0.05)
    # The reference's Kepler ridge points use the base-clock FP32 peak, the figure their
    # datasheets headline; the catalogue's fp32_flops (what gpu_roofs uses) is at boost.
    for name, ridge in {"GTX 680": 16.1, "Tesla K40": 14.9}.items():
        g = gpu(name)
        assert g.fp32_base_flops / g.memory_bandwidth == pytest.approx(ridge, abs=0.05)
        assert roofs[name]["ridge_point"] == pytest.approx(g.fp32_flops / g.memory_bandwidth)
        assert roofs[name]["ridge_point"] > ridge
    with pytest.raises(ValueError, match="name must be one of"):
        costs.gpu_roofs(("GTX 9999",))


def test_attainable_flops_is_the_roofline():
    assert costs.attainable_flops(1.0, 100.0, 10.0) == 10.0  # memory-bound
    assert costs.attainable_flops(50.0, 100.0, 10.0) == 100.0  # compute-bound
    with pytest.raises(ValueError, match="bandwidth must be > 0"):
        costs.attainable_flops(1.0, 1.0, 0.0)


def test_winograd_multiply_counts():
    assert costs.winograd_multiplies(2, 3) == {"direct": 36, "winograd": 16, "saving": 2.25}
    assert costs.winograd_multiplies(4, 3)["saving"] == 4.0  # Lavin & Gray's "up to 4x"
    layer = costs.winograd_layer_multiplies((1, 2, 10, 10), (3, 2, 3, 3), m=2)
    assert layer["tiles"] == 16 and layer["saving"] == pytest.approx(2.25)


@given(problem=problems(max_hw=14, max_batch=2, max_channels=3, max_k=3))
def test_winograd_f2x2_3x3_computes_the_convolution(problem):
    x, w, _, _ = problem
    if w.shape[2:] != (3, 3) or min(x.shape[2:]) < 3:
        w = np.ones((w.shape[0], w.shape[1], 3, 3), np.float32)
        x = np.pad(x, ((0, 0), (0, 0), (0, 3), (0, 3)))
    out, mults = costs.winograd_f2x2_3x3(x, w)
    assert_matches_torch(out, x, w, 1, 0)
    n, c, h, wd = x.shape
    tiles = -(-(h - 2) // 2) * -(-(wd - 2) // 2)
    assert mults == n * w.shape[0] * c * tiles * 16


def _benchmark_module():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[3] / "benchmarks" / "conv.py"
    spec = importlib.util.spec_from_file_location("bench_conv_targets", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    return bench


def test_gpu_targets_are_the_ones_the_benchmark_checks():
    """conv_3_cuda's prose glues GPU_TARGETS; benchmarks/conv.py must judge by the same
    fractions: just below a target fails it, just above meets it."""
    targets = costs.GPU_TARGETS
    assert set(targets) == {"tiled_fraction_of_copy_bandwidth", "layer_fraction_of_torch"}
    assert all(0 < v <= 1 for v in targets.values())
    with pytest.raises(TypeError):
        targets["layer_fraction_of_torch"] = 1.0  # read-only: defined in one place
    check_targets = _benchmark_module().check_targets
    for scale, met in ((0.99, False), (1.01, True)):
        tiled_gbps = scale * targets["tiled_fraction_of_copy_bandwidth"] * 100.0
        layer_gflops = scale * targets["layer_fraction_of_torch"] * 50.0
        problems = {
            "image": {"results": [
                {"method": "tiled", "seconds": 1.0, "gbps": tiled_gbps, "gflops": 1.0},
                {"method": "torch", "seconds": 2.0, "gbps": 1.0, "gflops": 1.0}]},
            "layer": {"results": [
                {"method": "layer", "seconds": 1.0, "gbps": 1.0, "gflops": layer_gflops},
                {"method": "torch", "seconds": 1.0, "gbps": 1.0, "gflops": 50.0}]},
        }
        out = check_targets(problems, {"copy_bandwidth": 100e9}, True)
        assert out["tiled_target_met"] is met and out["layer_target_met"] is met
