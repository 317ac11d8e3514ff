"""2-D convolution as deep learning uses it: reference, sizes, costs, and the dispatcher.

:func:`conv2d` computes what ``torch.nn.functional.conv2d`` computes, a batched 2-D
**cross-correlation** (no kernel flip) with stride and zero padding::

    out[n, k, p, q] = sum_{c, r, s} x[n, c, p*stride + r - padding, q*stride + s - padding]
                                    * w[k, c, r, s]

for ``x`` of shape (N, C, H, W) and ``w`` of shape (K, C, R, S), both float32, giving
(N, K, P, Q) with ``P = (H + 2 padding - R) // stride + 1`` (likewise Q).

``method`` picks the implementation; every one computes the same numbers (to float32
rounding), and ``tests/unit/test_conv.py`` checks each against torch:

==================  ===================================================================
``reference``       NumPy, direct: R*S matrix products ("shift and add"), float32
``reference_fft``   NumPy, FFT: correlation theorem with scipy.fft (real FFTs), float32
``naive``           CUDA step 1: one thread per output pixel, all reads from global memory
``tiled``           CUDA step 2: a block stages its input tile plus halo in shared memory
``constant``        CUDA step 3: step 2 with the filters in constant memory
``layer``           CUDA step 4: multi-channel conv layer as an implicit GEMM
``fft``             CUDA step 5: FFT convolution with a radix-2 FFT kernel
==================  ===================================================================

The CUDA methods live in :mod:`course_utils.conv_kernels` (imported on first use, so
importing this module never starts Numba). Also here: output sizes, FLOP and byte counts,
the roofline bound (GPU figures from :mod:`course_utils.hardware`), and Winograd's
multiply counts.
"""

from __future__ import annotations

import json
import math
from importlib import resources

import numpy as np
import scipy.fft

from .validate import check_array, check_choice, check_int, check_number

__all__ = [
    "METHODS",
    "CUDA_METHODS",
    "conv2d",
    "check_conv_args",
    "output_length",
    "padding_for",
    "mode_output_length",
    "conv_output_shape",
    "conv_flops",
    "conv_min_bytes",
    "arithmetic_intensity",
    "attainable_flops",
    "ROOFLINE_GPUS",
    "gpu_roofs",
    "winograd_multiplies",
    "winograd_layer_multiplies",
    "winograd_f2x2_3x3",
    "load_benchmark",
]

#: Methods that run as Numba CUDA kernels (real GPU or simulator).
CUDA_METHODS = ("naive", "tiled", "constant", "layer", "fft")
#: Every method :func:`conv2d` accepts.
METHODS = ("reference", "reference_fft") + CUDA_METHODS


# --------------------------------------------------------------------------- sizes
def output_length(n: int, k: int, *, stride: int = 1, padding: int = 0) -> int:
    """Output length along one axis: ``(n + 2*padding - k) // stride + 1`` (pixels).

    Raises ValueError when the kernel does not fit in the padded input.
    """
    n = check_int("n", n, minimum=1)
    k = check_int("k", k, minimum=1)
    stride = check_int("stride", stride, minimum=1)
    padding = check_int("padding", padding, minimum=0)
    if k > n + 2 * padding:
        raise ValueError(
            f"kernel size k={k} must be <= padded input size n + 2*padding = {n + 2 * padding}"
        )
    return (n + 2 * padding - k) // stride + 1


_MODES = ("valid", "same", "full")


def padding_for(mode: str, k: int) -> int:
    """Zero padding (pixels per side) that gives ``mode``'s output at stride 1.

    ``valid``: 0 (kernel stays inside the image); ``same``: (k-1)/2, output as large as
    the input, defined with symmetric padding only for odd k; ``full``: k-1, every
    position where kernel and image overlap by at least one pixel.
    """
    mode = check_choice("mode", mode, _MODES)
    k = check_int("k", k, minimum=1)
    if mode == "valid":
        return 0
    if mode == "full":
        return k - 1
    if k % 2 == 0:
        raise ValueError(f"'same' with symmetric padding needs an odd kernel size k, got {k}")
    return (k - 1) // 2


def mode_output_length(n: int, k: int, mode: str) -> int:
    """Output length for ``mode`` in (valid, same, full): n-k+1, n, n+k-1 (pixels)."""
    return output_length(n, k, padding=padding_for(mode, k))


def conv_output_shape(
    x_shape: tuple[int, int, int, int],
    w_shape: tuple[int, int, int, int],
    *,
    stride: int = 1,
    padding: int = 0,
) -> tuple[int, int, int, int]:
    """(N, K, P, Q) for input (N, C, H, W) and filters (K, C, R, S)."""
    n, c, h, w = _shape4("x_shape", x_shape)
    k, c2, r, s = _shape4("w_shape", w_shape)
    if c != c2:
        raise ValueError(f"x has C={c} channels but w expects C={c2} (w_shape[1])")
    return (n, k, output_length(h, r, stride=stride, padding=padding),
            output_length(w, s, stride=stride, padding=padding))


def _shape4(name: str, shape: object) -> tuple[int, int, int, int]:
    if not isinstance(shape, tuple | list) or len(shape) != 4:
        raise ValueError(f"{name} must be a 4-tuple of positive ints, got {shape!r}")
    return tuple(check_int(f"{name}[{i}]", v, minimum=1) for i, v in enumerate(shape))


# --------------------------------------------------------------------------- costs
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
    """Datasheet roofs per GPU from the hardware catalogue (:mod:`course_utils.hardware`,
    figures and sources in ``course_utils/data/gpus.csv``).

    Returns ``{name: {"year", "peak_flops" (FP32 FLOP/s, no tensor cores), "bandwidth"
    (B/s), "ridge_point" (FLOP/B)}}``.
    """
    from .hardware import gpu

    out = {}
    for name in names:
        g = gpu(name)
        out[name] = {"year": g.year, "peak_flops": g.fp32_flops, "bandwidth": g.memory_bandwidth,
                     "ridge_point": g.fp32_flops / g.memory_bandwidth}
    return out


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
        raise ValueError(f"winograd_f2x2_3x3 needs 3x3 filters, got {r}x{s}")
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


# --------------------------------------------------------------------------- reference
def check_conv_args(x: object, w: object, stride: object, padding: object,
                    ) -> tuple[np.ndarray, np.ndarray, int, int, tuple[int, int, int, int]]:
    """Validate :func:`conv2d`'s arguments; return contiguous x, w, stride, padding, out shape.

    Raises TypeError for a non-array or a dtype other than float32, ValueError for a
    wrong number of dimensions, mismatched channels, an empty array, a stride below 1,
    negative padding, or a kernel larger than the padded input.
    """
    x, w = _check_xw(x, w)
    stride = check_int("stride", stride, minimum=1)
    padding = check_int("padding", padding, minimum=0)
    n, c, h, wd = x.shape
    k, _, r, s = w.shape
    if r > h + 2 * padding or s > wd + 2 * padding:
        raise ValueError(
            f"w's kernel {r}x{s} must fit in the padded input "
            f"{h + 2 * padding}x{wd + 2 * padding} (x is {h}x{wd}, padding={padding})"
        )
    out_shape = conv_output_shape(x.shape, w.shape, stride=stride, padding=padding)
    return x, w, stride, padding, out_shape


def _check_xw(x: object, w: object) -> tuple[np.ndarray, np.ndarray]:
    check_array("x", x, ndim=4, dtype=np.float32)
    check_array("w", w, ndim=4, dtype=np.float32)
    if 0 in x.shape:
        raise ValueError(f"x must have no empty dimension, got shape {x.shape} (N, C, H, W)")
    if 0 in w.shape:
        raise ValueError(f"w must have no empty dimension, got shape {w.shape} (K, C, R, S)")
    if x.shape[1] != w.shape[1]:
        raise ValueError(f"x has C={x.shape[1]} channels (axis 1) but w has C={w.shape[1]}")
    return np.ascontiguousarray(x), np.ascontiguousarray(w)


def _pad(x: np.ndarray, padding: int) -> np.ndarray:
    if padding == 0:
        return x
    return np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))


def _reference_direct(x, w, stride, padding, out_shape) -> np.ndarray:
    """Direct convolution as "shift and add": for each kernel offset (r, s), the strided
    input view times the filter slice w[:, :, r, s], accumulated over the R*S offsets.

    With channels last (NHWC) the view is (N, P, Q, C) with C contiguous, and the
    product with w[:, :, r, s].T (C, K) is a batch of matrix products (BLAS). When C*K
    is small (single-channel filtering) each (k, c) pair is instead one scaled add over
    the whole image, which avoids millions of tiny matrix products.
    """
    xp = _pad(x, padding)
    n, k, p, q = out_shape
    c, r_size, s_size = w.shape[1:]

    def window(r, s):  # rows r + stride*i (i < P), columns s + stride*j (j < Q)
        return (slice(r, r + stride * (p - 1) + 1, stride),
                slice(s, s + stride * (q - 1) + 1, stride))

    if c * k <= 8:
        acc = np.zeros((n, k, p, q), np.float32)
        for r in range(r_size):
            for s in range(s_size):
                rows, cols = window(r, s)
                for kk in range(k):
                    for cc in range(c):
                        acc[:, kk] += w[kk, cc, r, s] * xp[:, cc, rows, cols]
        return acc
    xh = np.ascontiguousarray(xp.transpose(0, 2, 3, 1))  # (N, H', W', C)
    acc = np.zeros((n, p, q, k), np.float32)
    for r in range(r_size):
        for s in range(s_size):
            rows, cols = window(r, s)
            acc += xh[:, rows, cols, :] @ w[:, :, r, s].T  # (N, P, Q, C) @ (C, K)
    return np.ascontiguousarray(acc.transpose(0, 3, 1, 2))


def _reference_fft(x, w, stride, padding, out_shape) -> np.ndarray:
    """FFT convolution: out = IFFT(sum_c FFT(x) * conj(FFT(w))), cropped and strided.

    A DFT of length L gives *circular* correlation. The valid outputs p = 0..H'-R read
    only x[p .. p+R-1], so with L >= H' (padded height) no valid output wraps around:
    L = next fast length >= H' suffices (likewise W').
    """
    xp = _pad(x, padding)
    hp, wp = xp.shape[2:]
    lh, lw = scipy.fft.next_fast_len(hp, real=True), scipy.fft.next_fast_len(wp, real=True)
    xf = scipy.fft.rfft2(xp, s=(lh, lw), workers=-1)  # (N, C, lh, lw//2+1), complex64
    wf = scipy.fft.rfft2(w, s=(lh, lw), workers=-1)  # (K, C, lh, lw//2+1)
    # sum over c at every frequency: a batch of (N x C) @ (C x K) complex matrix products
    # (contiguous copies first: NumPy's matmul is several times faster on them)
    yf = (np.ascontiguousarray(xf.transpose(2, 3, 0, 1))  # (lh, lw//2+1, N, C)
          @ np.ascontiguousarray(np.conj(wf).transpose(2, 3, 1, 0)))  # (lh, lw//2+1, C, K)
    y = scipy.fft.irfft2(np.ascontiguousarray(yf.transpose(2, 3, 0, 1)), s=(lh, lw),
                         workers=-1)
    _, _, p, q = out_shape
    out = y[:, :, : stride * (p - 1) + 1 : stride, : stride * (q - 1) + 1 : stride]
    return np.ascontiguousarray(out, dtype=np.float32)


def conv2d(x: np.ndarray, w: np.ndarray, *, stride: int = 1, padding: int = 0,
           method: str = "reference") -> np.ndarray:
    """Batched 2-D cross-correlation with torch.nn.functional.conv2d's semantics.

    Args:
        x: input, float32 NumPy array of shape (N, C, H, W).
        w: filters, float32 NumPy array of shape (K, C, R, S).
        stride: step between output pixels, in input pixels (>= 1).
        padding: zeros added on each side of H and W (>= 0).
        method: one of :data:`METHODS` (see the module docstring).

    Returns:
        float32 array of shape (N, K, P, Q), P = (H + 2*padding - R) // stride + 1.
    """
    method = check_choice("method", method, METHODS)
    x, w, stride, padding, out_shape = check_conv_args(x, w, stride, padding)
    if method == "reference":
        return _reference_direct(x, w, stride, padding, out_shape)
    if method == "reference_fft":
        return _reference_fft(x, w, stride, padding, out_shape)
    from . import conv_kernels  # imports numba.cuda (after device selection)

    return conv_kernels.run(method, x, w, stride=stride, padding=padding)


# --------------------------------------------------------------------------- results
def load_benchmark(name: str = "conv_benchmark_cpu.json") -> dict:
    """Committed benchmark results shipped in ``course_utils/data`` (see benchmarks/conv.py)."""
    if not isinstance(name, str) or "/" in name or not name.endswith(".json"):
        raise ValueError(f"name must be a .json file name in course_utils/data, got {name!r}")
    path = resources.files("course_utils") / "data" / name
    if not path.is_file():
        raise FileNotFoundError(f"no benchmark results {name!r} in course_utils/data")
    return json.loads(path.read_text())
