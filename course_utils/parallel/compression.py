"""Gradient compression: the 8-bit data types of Dettmers (2016) and 1-bit quantization.

8-bit types (Dettmers, "8-Bit Approximations for Parallelism in Deep Learning", ICLR 2016,
https://arxiv.org/abs/1511.04561, section 3.1 and Fig. 1). Every type is one sign bit plus
a 7-bit code that indexes a table of 128 magnitudes in [0, 1]. A tensor is first divided
by its largest absolute value (the *scale*, sent along as one float32), each magnitude
is replaced by the code of the nearest table value (a binary search in the sorted table,
as in the paper's section 3.2) and decompression is a table look-up times the scale.

=================  ==================================================================
dynamic_tree       e leading zero bits = exponent 10^-e, then a 1 flag bit, then the
                   remaining 6-e bits bisect (0.1, 1): the split moves per number.
                   Code 0 is zero; the smallest exponent is 10^-6.
static_tree        a fixed 3-bit exponent (10^0 .. 10^-7) and a 4-bit bisection
                   tree over (0.1, 1); code 0 is zero.
linear             128 evenly spaced values k/127 (Vanhoucke et al. 2011).
mantissa_exponent  a 3-bit exponent and a 4-bit integer mantissa 0..15:
                   m * 10^(k-8); coarse, and mantissas above 10 at the top exponent
                   are never used once values are scaled into [0, 1].
=================  ==================================================================

The exact bit tables of the paper's code are not recovered (they were shipped as a data
file); these are built from the description above. ``rounding="stochastic"`` rounds to
one of the two neighbouring table values with probability proportional to closeness.

1-bit quantization with error feedback (Seide et al. 2014,
https://doi.org/10.21437/interspeech.2014-274): each value becomes one bit, its sign;
the two reconstruction values are the means of the non-negative and of the negative
entries; the quantization error is kept and added to the next gradient
(:class:`OneBitErrorFeedback`).

Functions accept NumPy arrays, and (except stochastic rounding) torch tensors too,
on any device: the same code runs inside a DDP communication hook on CPU or GPU.
:func:`time_quantisation` times one scheme's compression and decompression per value
on whichever device its input lives (NumPy: the CPU; a CUDA tensor: the GPU).

Used in: :doc:`/notebooks/dp_compression`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from typing import Any

import numpy as np

from ..core.checks import check_choice, check_int, check_number

__all__ = [
    "SCHEMES",
    "EIGHT_BIT_SCHEMES",
    "PAPER_TABLE_2",
    "code_table",
    "quantize_8bit",
    "dequantize_8bit",
    "onebit_quantize",
    "onebit_dequantize",
    "OneBitErrorFeedback",
    "compress_roundtrip",
    "mean_relative_error",
    "table_2",
    "PAPER_SECONDS_PER_VALUE",
    "time_quantisation",
]

EIGHT_BIT_SCHEMES = ("dynamic_tree", "static_tree", "linear", "mantissa_exponent")
SCHEMES = (*EIGHT_BIT_SCHEMES, "1bit")

#: The paper's GPU kernels on a GTX Titan: seconds per value to compress and to decompress
#: (section 3.2, https://arxiv.org/abs/1511.04561).
PAPER_SECONDS_PER_VALUE = {"compress": 1e-9, "decompress": 0.5e-9}

# Table 2 of the paper: mean relative error (%) of each 8-bit type on 25M samples.
# Keys: distribution -> scheme -> percent.
PAPER_TABLE_2 = {
    "U(0,1)": {
        "dynamic_tree": 1.39, "linear": 2.16, "mantissa_exponent": 7.22, "static_tree": 4.82,
    },
    "N(0,1)": {
        "dynamic_tree": 2.46, "linear": 6.47, "mantissa_exponent": 6.89, "static_tree": 6.3,
    },
    "N(0,10^2)": {
        "dynamic_tree": 2.49, "linear": 6.44, "mantissa_exponent": 7.19, "static_tree": 6.28,
    },
    "N(0,0.2^2)": {
        "dynamic_tree": 2.45, "linear": 6.15, "mantissa_exponent": 8.26, "static_tree": 6.58,
    },
}


def _tree_fraction(t: int, bits: int) -> float:
    """Midpoint of leaf ``t`` of a ``bits``-deep bisection tree over (0.1, 1)."""
    return 0.1 + 0.9 * (t + 0.5) / 2**bits


def _magnitude(scheme: str, code: int) -> float:
    """Magnitude in [0, 1] (or a little above for unused mantissa codes) of a 7-bit code."""
    if scheme == "linear":
        return code / 127
    if scheme == "dynamic_tree":
        if code == 0:
            return 0.0
        zeros = 7 - code.bit_length()  # leading zeros = exponent
        bits = 6 - zeros  # bits after the flag bit
        return 10.0**-zeros * _tree_fraction(code & ((1 << bits) - 1), bits)
    exponent_field, low = code >> 4, code & 15
    if scheme == "static_tree":
        return 0.0 if code == 0 else 10.0 ** -(7 - exponent_field) * _tree_fraction(low, 4)
    return low * 10.0 ** (exponent_field - 8)  # mantissa_exponent


@cache
def _tables(scheme: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(magnitude of each code, sorted distinct magnitudes, canonical code of each)."""
    values = np.array([_magnitude(scheme, c) for c in range(128)])
    distinct, first = np.unique(values, return_index=True)
    return values, distinct, first.astype(np.uint8)


def code_table(scheme: str) -> np.ndarray:
    """The 128 magnitudes (index = 7-bit code) of an 8-bit ``scheme``; a copy."""
    check_choice("scheme", scheme, EIGHT_BIT_SCHEMES)
    return _tables(scheme)[0].copy()


def _is_torch(x: Any) -> bool:
    return type(x).__module__.startswith("torch")


def _like(x: Any, values: np.ndarray, *, dtype: Any = None) -> Any:
    """``values`` as an array of the same library (and device) as ``x``."""
    if _is_torch(x):
        import torch

        return torch.as_tensor(values, dtype=dtype or x.dtype, device=x.device)
    return np.asarray(values, dtype=dtype or x.dtype)


def _torch_uint8() -> Any:
    import torch

    return torch.uint8


def _check_values(name: str, x: Any) -> None:
    if _is_torch(x):
        if not x.is_floating_point():
            raise TypeError(f"{name} must be a floating-point tensor, got {x.dtype}")
        finite = bool(x.isfinite().all())
    elif isinstance(x, np.ndarray):
        if not np.issubdtype(x.dtype, np.floating):
            raise TypeError(f"{name} must be a floating-point array, got {x.dtype}")
        finite = bool(np.isfinite(x).all())
    else:
        raise TypeError(f"{name} must be a numpy.ndarray or torch.Tensor, got {type(x).__name__}")
    if not finite:
        raise ValueError(f"{name} must contain only finite values")


def quantize_8bit(
    x: Any, scheme: str = "dynamic_tree", *, rounding: str = "nearest", rng: Any = None
) -> tuple[Any, float]:
    """Compress ``x`` to uint8 codes (same shape) and a float ``scale`` (max of ``|x|``).

    Bit 7 of each code is the sign, bits 0-6 index :func:`code_table`. ``rounding`` is
    "nearest" or "stochastic" (NumPy input only; ``rng`` a ``numpy.random.Generator``).
    """
    check_choice("scheme", scheme, EIGHT_BIT_SCHEMES)
    check_choice("rounding", rounding, ("nearest", "stochastic"))
    _check_values("x", x)
    _, distinct, canonical = _tables(scheme)
    torch_input = _is_torch(x)
    size = x.numel() if torch_input else x.size
    scale = float(abs(x).max()) if size else 0.0
    mag = abs(x) / (scale if scale > 0 else 1.0)
    table = _like(x, distinct)
    last = len(distinct) - 1
    if torch_input:
        import torch

        hi = torch.searchsorted(table, mag).clamp(1, last)
    else:
        hi = np.clip(np.searchsorted(table, mag), 1, last)
    lo = hi - 1
    gap_lo, gap_hi = mag - table[lo], table[hi] - mag
    if rounding == "nearest":
        take_hi = gap_hi < gap_lo
    elif torch_input:
        raise TypeError("rounding='stochastic' needs a numpy.ndarray x")
    else:
        rng = rng if rng is not None else np.random.default_rng(0)
        take_hi = rng.random(mag.shape) < gap_lo / (gap_lo + gap_hi)
    index = hi * take_hi + lo * ~take_hi
    codes = _like(x, canonical, dtype=canonical.dtype if not torch_input else _torch_uint8())[index]
    sign = _like(x, np.array([0, 128], dtype=np.uint8), dtype=codes.dtype)[(x < 0) * 1]
    return codes | sign, scale


def dequantize_8bit(
    codes: Any, scale: float, scheme: str = "dynamic_tree", dtype: Any = None
) -> Any:
    """Inverse of :func:`quantize_8bit`: values ``±table[code & 127] * scale``."""
    check_choice("scheme", scheme, EIGHT_BIT_SCHEMES)
    scale = check_number("scale", scale, minimum=0)
    values = _tables(scheme)[0]
    signed = np.concatenate([values, -values]) * scale  # code 128+c is -table[c]
    if _is_torch(codes):
        import torch

        lut = torch.as_tensor(signed, dtype=dtype or torch.float32, device=codes.device)
        return lut[codes.long()]
    return signed.astype(dtype or np.float32)[codes]


def _pack_bits(bits: Any) -> Any:
    """Pack a flat 0/1 uint8 array, big-endian within each byte (like ``np.packbits``)."""
    n = bits.shape[0]
    pad = (-n) % 8
    if _is_torch(bits):
        import torch

        bits = torch.cat([bits, bits.new_zeros(pad)]).view(-1, 8)
        weights = torch.tensor([128, 64, 32, 16, 8, 4, 2, 1], dtype=torch.uint8, device=bits.device)
        return (bits * weights).sum(dim=1, dtype=torch.uint8)
    return np.packbits(bits)


def _unpack_bits(packed: Any, n: int) -> Any:
    if _is_torch(packed):
        import torch

        shifts = torch.arange(7, -1, -1, dtype=torch.uint8, device=packed.device)
        return ((packed[:, None] >> shifts) & 1).reshape(-1)[:n]
    return np.unpackbits(packed)[:n]


def onebit_quantize(x: Any) -> tuple[Any, float, float]:
    """1-bit quantization of flat ``x``: (packed sign bits, mean of x >= 0, mean of x < 0)."""
    _check_values("x", x)
    flat = x.reshape(-1)
    positive = flat >= 0
    n_pos = int(positive.sum())
    n_neg = flat.shape[0] - n_pos
    pos_mean = float((flat * positive).sum()) / n_pos if n_pos else 0.0
    neg_mean = float((flat * ~positive).sum()) / n_neg if n_neg else 0.0
    bits = positive.to(_torch_uint8()) if _is_torch(x) else positive.astype(np.uint8)
    return _pack_bits(bits), pos_mean, neg_mean


def onebit_dequantize(packed: Any, pos_mean: float, neg_mean: float, n: int) -> Any:
    """Inverse of :func:`onebit_quantize` for ``n`` values: ``pos_mean`` or ``neg_mean`` each."""
    n = check_int("n", n, minimum=0)
    pos_mean, neg_mean = check_number("pos_mean", pos_mean), check_number("neg_mean", neg_mean)
    bits = _unpack_bits(packed, n)
    return bits * (pos_mean - neg_mean) + neg_mean


@dataclass
class OneBitErrorFeedback:
    """1-bit quantization that carries each tensor's quantization error to its next call.

    ``residuals[key]`` holds what was lost last time for the tensor called ``key``; it
    is added before quantizing (Seide et al. 2014). Works on NumPy arrays and tensors.
    """

    residuals: dict[Any, Any] = field(default_factory=dict)

    def roundtrip(self, x: Any, key: Any = 0) -> Any:
        """What the receiver reconstructs from this call's 1-bit message for ``x``."""
        _check_values("x", x)
        flat = x.reshape(-1)
        residual = self.residuals.get(key)
        if residual is not None and residual.shape == flat.shape:
            flat = flat + residual
        packed, pos_mean, neg_mean = onebit_quantize(flat)
        sent = onebit_dequantize(packed, pos_mean, neg_mean, flat.shape[0])
        sent = sent.to(flat.dtype) if _is_torch(flat) else sent.astype(flat.dtype)
        self.residuals[key] = flat - sent
        return sent.reshape(x.shape)


def compress_roundtrip(x: Any, scheme: str, *, rounding: str = "nearest", rng: Any = None) -> Any:
    """Compress and decompress ``x`` with ``scheme`` (one of :data:`SCHEMES`); same shape/dtype.

    "1bit" is the stateless one-shot version (no error feedback: see
    :class:`OneBitErrorFeedback`).
    """
    check_choice("scheme", scheme, SCHEMES)
    _check_values("x", x)
    if scheme == "1bit":
        packed, pos_mean, neg_mean = onebit_quantize(x)
        out = onebit_dequantize(packed, pos_mean, neg_mean, int(np.prod(x.shape)))
    else:
        codes, scale = quantize_8bit(x, scheme, rounding=rounding, rng=rng)
        out = dequantize_8bit(codes, scale, scheme)
    out = out.reshape(x.shape)
    return out.to(x.dtype) if _is_torch(x) else out.astype(x.dtype)


def mean_relative_error(x: np.ndarray, approx: np.ndarray) -> float:
    """Mean of ``|approx - x| / |x|`` over the non-zero entries of ``x`` (a fraction, not %)."""
    x = np.asarray(x, dtype=np.float64)
    approx = np.asarray(approx, dtype=np.float64)
    if x.shape != approx.shape:
        raise ValueError(f"x and approx must have the same shape, got {x.shape} and {approx.shape}")
    nz = x != 0
    if not nz.any():
        raise ValueError("x must have at least one non-zero entry")
    return float(np.mean(np.abs(approx[nz] - x[nz]) / np.abs(x[nz])))


def table_2(
    samples: int = 1_000_000, *, seed: int = 0, rounding: str = "nearest"
) -> dict[str, dict[str, float]]:
    """Recompute the paper's Table 2: mean relative error (%) per distribution and 8-bit type.

    ``samples`` per distribution (the paper used 25 million), drawn with ``seed``.
    """
    samples = check_int("samples", samples, minimum=100)
    rng = np.random.default_rng(seed)
    rounding_rng = np.random.default_rng([seed, 1])  # independent of the samples
    draws = {
        "U(0,1)": rng.uniform(0.0, 1.0, samples),
        "N(0,1)": rng.normal(0.0, 1.0, samples),
        "N(0,10^2)": rng.normal(0.0, 10.0, samples),
        "N(0,0.2^2)": rng.normal(0.0, 0.2, samples),
    }
    out: dict[str, dict[str, float]] = {}
    for name, x in draws.items():
        out[name] = {
            scheme: 100
            * mean_relative_error(
                x, compress_roundtrip(x, scheme, rounding=rounding, rng=rounding_rng)
            )
            for scheme in EIGHT_BIT_SCHEMES
        }
    return out


def time_quantisation(x: Any, scheme: str, *, repeats: int = 5) -> tuple[float, float]:
    """Seconds per value to compress ``x`` with ``scheme`` and to decompress it: the best of
    ``repeats`` timed calls each (after one warm-up call).

    ``x``: a float NumPy array (timed on the CPU) or torch tensor (on its device; CUDA
    work is synchronised before the clock stops). ``scheme``: one of :data:`SCHEMES`
    ("1bit": :func:`onebit_quantize` and :func:`onebit_dequantize`).
    """
    import time

    check_choice("scheme", scheme, SCHEMES)
    repeats = check_int("repeats", repeats, minimum=1)
    _check_values("x", x)
    n = int(np.prod(x.shape))
    if n == 0:
        raise ValueError("x must hold at least one value")
    cuda = _is_torch(x) and x.device.type == "cuda"

    def sync() -> None:
        if cuda:
            import torch

            torch.cuda.synchronize(x.device)

    if scheme == "1bit":
        compress = lambda: onebit_quantize(x)  # noqa: E731
        decompress = lambda c: onebit_dequantize(*c, n)  # noqa: E731
    else:
        compress = lambda: quantize_8bit(x, scheme)  # noqa: E731
        decompress = lambda c: dequantize_8bit(*c, scheme)  # noqa: E731
    best = [float("inf"), float("inf")]
    for i in range(repeats + 1):  # round 0 warms up (allocations, kernel caches): not kept
        sync()
        t0 = time.perf_counter()
        coded = compress()
        sync()
        t1 = time.perf_counter()
        decompress(coded)
        sync()
        t2 = time.perf_counter()
        if i:
            best = [min(best[0], t1 - t0), min(best[1], t2 - t1)]
    return best[0] / n, best[1] / n
