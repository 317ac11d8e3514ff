"""What a convolution costs: FLOPs, bytes, arithmetic intensity, the roofline, Winograd.

Chapter 4 (``notebooks/conv_3_cuda``: the roofline and Winograd sections) and chapter 5
(``notebooks/brain_estimate``: FLOP counts). GPU peaks and bandwidths come from the
hardware catalogue (:mod:`course_utils.systems.hardware`, ``course_utils/data/gpus.csv``).
Units: FLOP (multiply and add counted separately), bytes, FLOP/s, bytes/s.

Used in: :doc:`/notebooks/conv_3_cuda`, :doc:`/notebooks/brain_estimate`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from types import MappingProxyType

import numpy as np

from ..core.checks import check_int, check_number
from .reference import _check_xw, conv_output_shape, output_length

__all__ = [
    "conv_flops",
    "conv_min_bytes",
    "arithmetic_intensity",
    "attainable_flops",
    "ROOFLINE_GPUS",
    "gpu_roofs",
    "GPU_TARGETS",
    "winograd_multiplies",
    "winograd_layer_multiplies",
    "winograd_f2x2_3x3",
]


def conv_flops(x_shape, w_shape, *, stride: int = 1, padding: int = 0) -> int:
    """Floating-point operations of a direct convolution: 2*N*K*C*R*S*P*Q (FLOP).

    One multiply-add counts as 2 FLOP. FFT and Winograd algorithms do fewer; the
    convention (used by cuDNN benchmarks and this course) is to credit every
    algorithm with the direct count, so GFLOP/s compare algorithms by speed.
    """
    n, k, p, q = conv_output_shape(x_shape, w_shape, stride=stride, padding=padding)
    _, c, r, s = w_shape
    return 2 * n * k * c * r * s * p * q


def conv_min_bytes(x_shape, w_shape, *, stride: int = 1, padding: int = 0,
                   itemsize: int = 4) -> int:
    """Least DRAM traffic: each tensor read or written once, b*(NCHW + KCRS + NKPQ) (bytes)."""
    itemsize = check_int("itemsize", itemsize, minimum=1)
    out = conv_output_shape(x_shape, w_shape, stride=stride, padding=padding)
    return itemsize * (math.prod(x_shape) + math.prod(w_shape) + math.prod(out))


def arithmetic_intensity(x_shape, w_shape, *, stride: int = 1, padding: int = 0,
                         itemsize: int = 4) -> float:
    """FLOP per byte of least DRAM traffic (FLOP/B): conv_flops / conv_min_bytes."""
    return (conv_flops(x_shape, w_shape, stride=stride, padding=padding)
            / conv_min_bytes(x_shape, w_shape, stride=stride, padding=padding,
                             itemsize=itemsize))


def attainable_flops(intensity: float, peak_flops: float, bandwidth: float) -> float:
    """Roofline bound (FLOP/s): ``min(peak_flops, intensity * bandwidth)``.

    Args:
        intensity: arithmetic intensity (FLOP/B).
        peak_flops: compute roof (FLOP/s).
        bandwidth: memory roof (B/s).

    Williams, Waterman and Patterson 2009, https://doi.org/10.1145/1498765.1498785
    """
    intensity = check_number("intensity", intensity, minimum=0.0, strict_minimum=True)
    peak_flops = check_number("peak_flops", peak_flops, minimum=0.0, strict_minimum=True)
    bandwidth = check_number("bandwidth", bandwidth, minimum=0.0, strict_minimum=True)
    return min(peak_flops, intensity * bandwidth)


#: GPUs whose rooflines the chapter draws: names in :mod:`course_utils.hardware`.
ROOFLINE_GPUS = ("GTX 680", "Tesla K40", "V100 SXM2", "T4", "A100 SXM 80GB", "H100 SXM5")


def gpu_roofs(names: tuple[str, ...] = ROOFLINE_GPUS) -> dict[str, dict]:
    """Datasheet roofs per GPU from the hardware catalogue (:mod:`course_utils.systems.hardware`,
    figures and sources in ``course_utils/data/gpus.csv``).

    Returns ``{name: {"year", "peak_flops" (FP32 FLOP/s, no tensor cores), "bandwidth"
    (B/s), "ridge_point" (FLOP/B)}}``.
    """
    from ..systems.hardware import gpu

    out = {}
    for name in names:
        g = gpu(name)
        out[name] = {"year": g.year, "peak_flops": g.fp32_flops, "bandwidth": g.memory_bandwidth,
                     "ridge_point": g.fp32_flops / g.memory_bandwidth}
    return out


#: The chapter's goals for its CUDA kernels on a GPU, as fractions, which
#: ``benchmarks/conv.py`` checks: the tiled kernel on a 4096 x 4096 image with a 5 x 5
#: filter reaches this share of the measured copy bandwidth (and is at least as fast as
#: torch); the layer kernel (batch 32, 64 -> 64 channels, 56 x 56, 3 x 3) reaches this
#: share of torch's (cuDNN's) fp32 rate. Targets this course set itself, not published
#: figures.
GPU_TARGETS: Mapping[str, float] = MappingProxyType({
    "tiled_fraction_of_copy_bandwidth": 0.7,
    "layer_fraction_of_torch": 0.3,
})


# --------------------------------------------------------------------------- Winograd
def winograd_multiplies(m: int, r: int) -> dict[str, float]:
    """Multiplies for one m x m output tile of an r x r filter, one channel pair.

    Direct: m^2 r^2. Winograd's minimal filtering F(m x m, r x r) (Lavin & Gray 2016,
    https://arxiv.org/abs/1509.09308): (m + r - 1)^2, the size of the transformed tile,
    since the element-wise product is the only step that multiplies data by filter.
    Returns ``{"direct", "winograd", "saving"}`` (saving = direct / winograd).
    """
    m = check_int("m", m, minimum=1)
    r = check_int("r", r, minimum=1)
    direct, wino = m * m * r * r, (m + r - 1) ** 2
    return {"direct": direct, "winograd": wino, "saving": direct / wino}


def winograd_layer_multiplies(x_shape, w_shape, *, m: int = 2, padding: int = 0) -> dict:
    """Element-wise multiplies of a stride-1 layer, direct vs Winograd F(m x m, r x r).

    Counts the data-times-filter multiplies only: direct N*K*C*P*Q*R*S; Winograd
    N*K*C*tiles*(m+r-1)^2 with ceil(P/m)*ceil(Q/m) tiles (edge tiles are computed whole).
    The transforms are additions and multiplications by constants, amortised over
    K (input), N*tiles (filters) and C (output), and are not counted.
    """
    m = check_int("m", m, minimum=1)
    n, k, p, q = conv_output_shape(x_shape, w_shape, padding=padding)
    _, c, r, s = w_shape
    if r != s:
        raise ValueError(f"Winograd counts here assume square filters, got R={r}, S={s}")
    tiles = math.ceil(p / m) * math.ceil(q / m)
    direct = n * k * c * p * q * r * s
    wino = n * k * c * tiles * winograd_multiplies(m, r)["winograd"]
    return {"direct": direct, "winograd": wino, "saving": direct / wino, "tiles": tiles}


# F(2x2, 3x3) transforms, Lavin & Gray 2016, section 4.1 (https://arxiv.org/abs/1509.09308).
_BT = np.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]], np.float32)
_G = np.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]], np.float32)
_AT = np.array([[1, 1, 1, 0], [0, 1, -1, -1]], np.float32)


def winograd_f2x2_3x3(x: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, int]:
    """Stride-1, unpadded 3x3 conv layer by Winograd F(2x2, 3x3), in NumPy.

    Each 4x4 input tile d (stepping by 2) and 3x3 filter g are transformed,
    ``V = B^T d B`` and ``U = G g G^T``; the only data-by-filter multiplies are
    ``M = sum_c U * V`` (16 per tile and channel pair), and ``Y = A^T M A`` gives the
    2x2 outputs. Returns ``(output, multiplies)``, output as :func:`conv2d` gives it.
    """
    x, w = _check_xw(x, w)
    n, c, h, wd = x.shape
    k, _, r, s = w.shape
    if (r, s) != (3, 3):
        raise ValueError(f"w must hold 3x3 filters for winograd_f2x2_3x3, got {r}x{s}")
    p, q = output_length(h, 3), output_length(wd, 3)
    tp, tq = math.ceil(p / 2), math.ceil(q / 2)
    xp = np.zeros((n, c, 2 * tp + 2, 2 * tq + 2), np.float32)  # whole tiles at the edge
    xp[:, :, :h, :wd] = x
    tiles = np.lib.stride_tricks.sliding_window_view(xp, (4, 4), axis=(2, 3))[:, :, ::2, ::2]
    v = np.einsum("ij,nctujl,lm->nctuim", _BT, tiles, _BT.T, optimize=True)  # (n,c,tp,tq,4,4)
    u = np.einsum("ij,kcjl,lm->kcim", _G, w, _G.T, optimize=True)  # (k,c,4,4)
    m = np.einsum("nctuab,kcab->nktuab", v, u, optimize=True)  # the element-wise stage
    y = np.einsum("ia,nktuab,bj->nktuij", _AT, m, _AT.T, optimize=True)  # (n,k,tp,tq,2,2)
    out = y.transpose(0, 1, 2, 4, 3, 5).reshape(n, k, 2 * tp, 2 * tq)[:, :, :p, :q]
    return np.ascontiguousarray(out, dtype=np.float32), n * k * c * tp * tq * 16
