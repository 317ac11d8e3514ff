"""Tests for course_utils.parallel.compression: the 8-bit types and 1-bit quantization."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from course_utils.parallel import compression as C


@pytest.mark.parametrize("scheme", C.EIGHT_BIT_SCHEMES)
def test_tables_have_128_codes_in_unit_range(scheme):
    t = C.code_table(scheme)
    assert t.shape == (128,) and t[0] == 0.0
    assert np.all(t[t <= 1.0] >= 0)


def test_dynamic_tree_bit_layout():
    t = C.code_table("dynamic_tree")
    # 0b1xxxxxx: no leading zero -> exponent 10^0, 6 tree bits: 64 leaves over (0.1, 1)
    np.testing.assert_allclose(t[64:], 0.1 + 0.9 * (np.arange(64) + 0.5) / 64)
    # 0b01xxxxx: exponent 10^-1, 5 tree bits
    np.testing.assert_allclose(t[32:64], 0.1 * (0.1 + 0.9 * (np.arange(32) + 0.5) / 32))
    # 0b0000001: six leading zeros -> 10^-6, no tree bits left ("max exponent 10^-6")
    assert t[1] == pytest.approx(0.55e-6)
    assert len(np.unique(t)) == 128


def test_mantissa_exponent_is_coarse_and_wastes_codes():
    t = C.code_table("mantissa_exponent")
    assert len(np.unique(t)) < 128  # m * 10^-e repeats (e.g. 10 x 10^-2 = 1 x 10^-1)
    # above 0.15 only the tenths 0.2 .. 1.0 remain: steps of 10-50% ("coarse")
    assert set(np.round(t[(t > 0.15) & (t <= 1)], 12)) == {round(k / 10, 12) for k in range(2, 11)}


@given(
    x=arrays(np.float64, st.integers(1, 300), elements=st.floats(-1e3, 1e3, allow_subnormal=False)),
    scheme=st.sampled_from(C.EIGHT_BIT_SCHEMES),
)
def test_nearest_rounding_picks_the_closest_table_value(x, scheme):
    codes, scale = C.quantize_8bit(x, scheme)
    out = C.dequantize_8bit(codes, scale, scheme, dtype=np.float64)
    table = np.unique(C.code_table(scheme))
    mag = np.abs(x) / (scale if scale > 0 else 1.0)
    best = table[np.argmin(np.abs(table[None, :] - mag[:, None]), axis=1)] * scale
    np.testing.assert_allclose(np.abs(out), best, rtol=1e-12, atol=1e-300)
    assert np.all(np.sign(out[out != 0]) == np.sign(x[out != 0]))
    assert codes.dtype == np.uint8


def test_paper_example_and_max_value():
    x = np.array([0.2345678, -1.0])
    out = C.compress_roundtrip(x, "dynamic_tree")
    # the scale (max |x| = 1) maps to the top code 0.993; 0.2345678 to its nearest leaf
    assert out[1] == pytest.approx(-(1 - 0.9 / 128))
    assert abs(out[0] - 0.2345678) / 0.2345678 < 0.006


def test_table_2_nearest_rounding_beats_the_printed_errors():
    ours = C.table_2(100_000, seed=1)
    for dist, row in ours.items():
        for scheme, err in row.items():
            assert err < C.PAPER_TABLE_2[dist][scheme], (dist, scheme)
        # the paper's ranking: dynamic tree is the most accurate, mantissa/exponent the least
        assert row["dynamic_tree"] < min(row["linear"], row["static_tree"])
        assert row["mantissa_exponent"] == max(row.values())


def test_table_2_stochastic_rounding_matches_the_printed_errors():
    ours = C.table_2(200_000, seed=1, rounding="stochastic")
    for dist, row in ours.items():
        for scheme, err in row.items():
            paper = C.PAPER_TABLE_2[dist][scheme]
            tolerance = 0.08 if scheme in ("dynamic_tree", "linear") else 0.2
            assert abs(err - paper) / paper < tolerance, (dist, scheme, err, paper)


def test_onebit_two_values_and_group_means():
    rng = np.random.default_rng(0)
    x = rng.normal(size=1001).astype(np.float32)
    out = C.compress_roundtrip(x, "1bit")
    assert len(np.unique(out)) == 2
    assert out[x >= 0].mean() == pytest.approx(x[x >= 0].mean(), rel=1e-5)
    assert out[x < 0].mean() == pytest.approx(x[x < 0].mean(), rel=1e-5)


def test_onebit_error_feedback_loses_nothing_over_time():
    """With error feedback, what was sent over T steps equals what was fed in, up to one
    step's residual; without it the error grows with T."""
    rng = np.random.default_rng(0)
    fb = C.OneBitErrorFeedback()
    fed, sent, naive = np.zeros(500), np.zeros(500), np.zeros(500)
    for _ in range(200):
        g = rng.normal(0.01, 1.0, 500)  # a small steady signal in noise
        fed += g
        sent += fb.roundtrip(g, key="w")
        naive += C.compress_roundtrip(g, "1bit")
    np.testing.assert_allclose(sent + fb.residuals["w"], fed, atol=1e-9)
    assert np.abs(sent - fed).max() < np.abs(naive - fed).max() / 3


@pytest.mark.parametrize("scheme", C.SCHEMES)
def test_torch_and_numpy_agree(scheme):
    x = torch.randn(777, generator=torch.Generator().manual_seed(0))
    np.testing.assert_allclose(
        C.compress_roundtrip(x, scheme).numpy(), C.compress_roundtrip(x.numpy(), scheme), rtol=1e-6
    )


def test_message_sizes():
    x = np.linspace(-1, 1, 1000, dtype=np.float32)
    codes, _ = C.quantize_8bit(x)
    packed, _, _ = C.onebit_quantize(x)
    assert codes.nbytes == 1000 and packed.nbytes == 125


def test_zeros_survive():
    for scheme in C.SCHEMES:
        np.testing.assert_array_equal(C.compress_roundtrip(np.zeros(5), scheme), np.zeros(5))


@pytest.mark.parametrize(
    "call, exc, match",
    [
        (lambda: C.compress_roundtrip(np.ones(3), "4bit"), ValueError, "scheme must be one of"),
        (lambda: C.compress_roundtrip(np.ones(3, dtype=int), "linear"), TypeError, "floating"),
        (lambda: C.compress_roundtrip([1.0, 2.0], "linear"), TypeError, "numpy.ndarray"),
        (lambda: C.compress_roundtrip(np.array([np.nan]), "linear"), ValueError, "finite"),
        (lambda: C.quantize_8bit(np.ones(3), rounding="up"), ValueError, "rounding must be"),
        (
            lambda: C.quantize_8bit(torch.ones(3), rounding="stochastic"),
            TypeError,
            "stochastic",
        ),
        (lambda: C.table_2(10), ValueError, "samples must be >= 100"),
        (lambda: C.mean_relative_error(np.zeros(3), np.zeros(3)), ValueError, "non-zero"),
    ],
)
def test_bad_input_raises_clear_errors(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


@pytest.mark.parametrize("scheme", C.SCHEMES)
def test_time_quantisation_numpy_and_torch(scheme):
    x = np.random.default_rng(0).normal(size=4096).astype(np.float32)
    for data in (x, torch.from_numpy(x)):
        compress, decompress = C.time_quantisation(data, scheme, repeats=2)
        # per value: above zero, below a millisecond (a broken division would be far off)
        assert 0 < compress < 1e-3 and 0 < decompress < 1e-3


def test_paper_speeds_are_the_papers():
    assert C.PAPER_SECONDS_PER_VALUE == {"compress": 1e-9, "decompress": 0.5e-9}


@pytest.mark.parametrize("x, kwargs, exc, match", [
    (np.ones(4, np.float32), {"scheme": "2bit"}, ValueError, "scheme must be one of"),
    (np.ones(4, np.float32), {"scheme": "linear", "repeats": 0}, ValueError,
     "repeats must be >= 1"),
    (np.ones(4, np.int32), {"scheme": "linear"}, TypeError, "x must be a floating-point"),
    (np.ones(0, np.float32), {"scheme": "linear"}, ValueError, "x must hold at least one"),
    ([1.0, 2.0], {"scheme": "1bit"}, TypeError, "x must be a numpy.ndarray or torch.Tensor"),
])
def test_time_quantisation_rejects_bad_input(x, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        C.time_quantisation(x, **kwargs)
