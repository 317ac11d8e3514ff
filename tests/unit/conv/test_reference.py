"""course_utils.conv.reference: the NumPy reference, its argument checks, output sizes and
the committed benchmark results. NumPy only: nothing here starts Numba.

FLOPs, bytes, the roofline and Winograd (course_utils.conv.costs) are in test_costs.py."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from course_utils.conv import reference as ref

from ._helpers import assert_matches_torch, problems


@given(problem=problems(max_hw=24, max_batch=3, max_channels=5, max_k=7))
@settings(max_examples=60)
@pytest.mark.parametrize("method", ["reference", "reference_fft"])
def test_numpy_methods_match_torch(method, problem):
    x, w, stride, padding = problem
    assert_matches_torch(ref.reference_conv2d(x, w, stride=stride, padding=padding,
                                              method=method),
                         x, w, stride, padding)


def test_the_method_lists():
    assert ref.REFERENCE_METHODS == ("reference", "reference_fft")
    assert ref.METHODS == ref.REFERENCE_METHODS + ref.CUDA_METHODS
    with pytest.raises(ValueError, match="method must be one of"):
        ref.reference_conv2d(GOOD_X, GOOD_W, method="naive")  # a CUDA method: not here


GOOD_X = np.zeros((1, 2, 5, 5), np.float32)
GOOD_W = np.zeros((3, 2, 3, 3), np.float32)


@pytest.mark.parametrize("name, bad", [("x", np.nan), ("x", np.inf), ("w", -np.inf)])
def test_check_conv_args_rejects_non_finite_values(name, bad):
    """New in the move: NaN or infinity in x or w is a ValueError, for every method."""
    args = {"x": GOOD_X.copy(), "w": GOOD_W.copy()}
    args[name][0, 0, 0, 0] = bad
    with pytest.raises(ValueError, match=f"{name} must be finite: it holds 1 NaN or infinite"):
        ref.check_conv_args(args["x"], args["w"], 1, 0)
    with pytest.raises(ValueError, match=f"{name} must be finite"):
        ref.reference_conv2d(args["x"], args["w"])


def test_check_conv_args_returns_the_output_shape():
    x, w, stride, padding, out_shape = ref.check_conv_args(GOOD_X, GOOD_W, 2, 1)
    assert (stride, padding, out_shape) == (2, 1, (1, 3, 3, 3))
    assert x.flags.c_contiguous and w.flags.c_contiguous


# ----------------------------------------------------------------------- sizes and costs
def test_the_posts_example_256_image_32_kernels_of_16():
    # Dettmers 2015: 32 kernels of 16x16 on a 256x256 image give 32 feature maps of 241x241
    assert ref.conv_output_shape((1, 1, 256, 256), (32, 1, 16, 16)) == (1, 32, 241, 241)
    assert ref.output_length(256, 16) == 241


@given(n=st.integers(1, 40), k=st.integers(1, 9), stride=st.integers(1, 4),
       padding=st.integers(0, 4))
def test_output_length_matches_torch(n, k, stride, padding):
    if k > n + 2 * padding:
        with pytest.raises(ValueError, match="kernel size"):
            ref.output_length(n, k, stride=stride, padding=padding)
        return
    out = torch.nn.functional.conv2d(torch.zeros(1, 1, n, 1), torch.zeros(1, 1, k, 1),
                                     stride=stride, padding=(padding, 0))
    assert ref.output_length(n, k, stride=stride, padding=padding) == out.shape[2]


def test_valid_same_full():
    assert [ref.output_length(10, 3, padding=ref.padding_for(m, 3))
            for m in ("valid", "same", "full")] == [8, 10, 12]
    assert ref.padding_for("full", 5) == 4
    with pytest.raises(ValueError, match="odd kernel size"):
        ref.padding_for("same", 4)
    with pytest.raises(ValueError, match="mode must be one of"):
        ref.padding_for("circular", 3)


def test_committed_cpu_results_are_complete():
    data = ref.load_benchmark("conv_benchmark_cpu.json")
    assert not data["tiny"] and data["machine"]["kind"] == "cpu"
    for prob in data["problems"].values():
        assert {r["method"] for r in prob["results"] if "seconds" in r} >= {
            "reference", "reference_fft", "torch"}
    for sweep in data["sweeps"].values():
        assert len(sweep["kernel_sizes"]) == len(sweep["seconds"]["reference_fft"])
    with pytest.raises(ValueError, match="name must be a .json"):
        ref.load_benchmark("../x.json")
    # a file that is not there (yet: a GPU run writes conv_benchmark_gpu.json) is not
    # bad input; the convolution chapter catches FileNotFoundError and goes on
    with pytest.raises(FileNotFoundError, match="no benchmark results"):
        ref.load_benchmark("conv_benchmark_nowhere.json")
