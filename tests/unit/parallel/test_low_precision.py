from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from course_utils.parallel import compression as C
from course_utils.parallel import low_precision as L


@pytest.mark.parametrize("name", L.FORMATS)
def test_format_matches_torch_finfo(name):
    f = L.float_format(name)
    fi = torch.finfo(f.dtype)
    assert (f.bits, f.eps, f.max, f.smallest_normal) == (fi.bits, fi.eps, fi.max,
                                                         fi.smallest_normal)
    sub = torch.tensor([f.smallest_subnormal, f.smallest_subnormal / 4], dtype=torch.float64)
    assert sub.to(f.dtype).double().tolist() == [f.smallest_subnormal, 0.0]


@pytest.mark.parametrize("name", L.FORMATS)
def test_spacing_is_the_gap_between_neighbours(name):
    f = L.float_format(name)
    x = torch.tensor([1.0, 3.0, 0.3, f.smallest_normal * 5, f.max / 3], dtype=torch.float64)
    x = x.to(f.dtype).double()  # representable values
    gap = torch.as_tensor(L.spacing(x.numpy(), name))
    up = (x + gap).to(f.dtype).double()
    assert torch.equal(up, x + gap)  # x + gap is representable
    assert torch.equal((x + gap / 4).to(f.dtype).double(), x)  # a quarter gap rounds back
    if name == "float16":
        np.testing.assert_array_equal(gap.numpy(), np.spacing(x.numpy().astype(np.float16)))


def test_roundtrip_report_counts_underflow_and_overflow():
    x = np.array([1e-9, 1.0, 500.0, 2.0])
    r = L.roundtrip_report(x, "float8_e4m3fn")
    assert r["underflow"] == 0.25 and r["overflow"] == 0.25
    assert r["mean_rel_error"] == 0.0  # 1 and 2 are exact
    assert L.roundtrip_report(x, "float8_e4m3fn", scale=0.5)["overflow"] == 0.0


def test_blockwise_roundtrip_reuses_the_2016_quantiser():
    x = torch.randn(5000, generator=torch.Generator().manual_seed(0))
    codes, absmax = L.quantize_blockwise(x, None)
    ref_codes, ref_scale = C.quantize_8bit(x, "dynamic_tree")
    assert torch.equal(codes, ref_codes) and float(absmax[0]) == pytest.approx(ref_scale)
    codes, absmax = L.quantize_blockwise(x, 2048)
    assert codes.dtype == torch.uint8 and absmax.numel() == math.ceil(5000 / 2048)
    back = L.dequantize_blockwise(codes, absmax, (5000,), 2048)
    top = float(C.code_table("dynamic_tree").max())  # the largest code is a leaf mid-point < 1
    assert float(back.abs().max()) == pytest.approx(top * float(x.abs().max()), rel=1e-6)
    assert L.blockwise_error(x, 2048)["mean_rel_error"] < 0.05


def test_block_wise_beats_a_global_scale_on_a_tensor_with_outliers():
    x = torch.randn(16384, generator=torch.Generator().manual_seed(1))
    x[[10, 100]] = 1e4  # two outliers, both in the first block of 2048
    block, glob = L.blockwise_error(x, 2048), L.blockwise_error(x, None)
    assert block["mean_rel_error"] < glob["mean_rel_error"] / 2
    assert block["flushed"] <= glob["flushed"]


@pytest.mark.parametrize("n, block, expected", [(10_000, 2048, 10_000 + 4 * 5),
                                                (2048, 2048, 2052), (7, None, 11), (0, 64, 0)])
def test_state_bytes_formula(n, block, expected):
    assert L.blockwise_state_bytes(n, block) == expected


def test_adam8bit_state_memory_equals_the_formula_and_trains():
    r = L.train_digits("8bit", block_size=256, hidden=16, epochs=2)
    expected = sum(2 * L.blockwise_state_bytes(n, 256) for n in r["tensor_sizes"])
    assert r["state_bytes"] == expected
    assert r["losses"][-1] < r["losses"][0]
    f = L.train_digits("fp32", hidden=16, epochs=1)
    assert f["state_bytes"] == 8 * f["parameters"]


@pytest.mark.parametrize("call, exc, match", [
    (lambda: L.float_format("float4"), ValueError, "name"),
    (lambda: L.spacing([1e6], "float16"), ValueError, "x must be finite"),
    (lambda: L.roundtrip_report([1.0], "float16", scale=0), ValueError, "scale"),
    (lambda: L.quantize_blockwise(torch.ones(4), 0), ValueError, "block_size"),
    (lambda: L.quantize_blockwise(np.ones(4)), TypeError, "x must be"),
    (lambda: L.dequantize_blockwise(torch.zeros(4, dtype=torch.uint8), torch.ones(1), (5,), 4),
     ValueError, "shape"),
    (lambda: L.blockwise_state_bytes(-1), ValueError, "n_values"),
    (lambda: L.Adam8bit([torch.zeros(2, requires_grad=True)], lr=0), ValueError, "lr"),
    (lambda: L.optimizer_state_bytes("adam"), TypeError, "optimizer"),
    (lambda: L.train_digits("fp16"), ValueError, "state"),
])
def test_bad_inputs_raise_naming_the_parameter(call, exc, match):
    with pytest.raises(exc, match=match):
        call()
