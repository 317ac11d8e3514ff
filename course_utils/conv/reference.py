"""2-D convolution as deep learning uses it: the NumPy reference, sizes and costs.

Chapter 4 (``notebooks/conv_1_mixing``, ``conv_2_fourier``, ``conv_3_cuda``), and the
brain chapter's FLOP counts (``notebooks/brain_estimate``).
:func:`course_utils.conv.conv2d` computes what ``torch.nn.functional.conv2d``
computes, a batched 2-D **cross-correlation** (no kernel flip) with stride and zero padding::

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

The CUDA methods live in :mod:`course_utils.conv.kernels`,
:mod:`~course_utils.conv.fft_kernels` and :mod:`~course_utils.conv.device_conv`, which
import this module; this module never imports them, so importing it never starts
Numba (:func:`course_utils.conv.conv2d` imports them on first use). Also here: output
sizes and argument checks. FLOP and byte counts, the roofline and Winograd's multiply
counts are in :mod:`course_utils.conv.costs`.

Used in: :doc:`/notebooks/conv_1_mixing`, :doc:`/notebooks/conv_2_fourier`,
:doc:`/notebooks/conv_3_cuda`.
"""

from __future__ import annotations

import json
from importlib import resources

import numpy as np
import scipy.fft

from ..core.checks import check_array, check_choice, check_int

__all__ = [
    "METHODS",
    "REFERENCE_METHODS",
    "CUDA_METHODS",
    "reference_conv2d",
    "check_conv_args",
    "output_length",
    "padding_for",
    "conv_output_shape",
    "load_benchmark",
]

#: Methods that run as Numba CUDA kernels (real GPU or simulator).
CUDA_METHODS = ("naive", "tiled", "constant", "layer", "fft")
#: Methods computed with NumPy (:func:`reference_conv2d`).
REFERENCE_METHODS = ("reference", "reference_fft")
#: Every method :func:`course_utils.conv.conv2d` accepts.
METHODS = REFERENCE_METHODS + CUDA_METHODS


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


# --------------------------------------------------------------------------- reference
def check_conv_args(x: np.ndarray, w: np.ndarray, stride: int, padding: int,
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
    for name, a in (("x", x), ("w", w)):
        if not np.isfinite(a).all():
            raise ValueError(f"{name} must be finite: it holds {np.count_nonzero(~np.isfinite(a))} "
                             "NaN or infinite values")
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


def reference_conv2d(x: np.ndarray, w: np.ndarray, *, stride: int = 1, padding: int = 0,
                     method: str = "reference") -> np.ndarray:
    """The NumPy reference of :func:`course_utils.conv.conv2d` (direct or FFT).

    Args:
        x: input, float32 NumPy array of shape (N, C, H, W).
        w: filters, float32 NumPy array of shape (K, C, R, S).
        stride: step between output pixels, in input pixels (>= 1).
        padding: zeros added on each side of H and W (>= 0).
        method: ``"reference"`` (direct) or ``"reference_fft"``.

    Returns:
        float32 array of shape (N, K, P, Q), P = (H + 2*padding - R) // stride + 1.
    """
    method = check_choice("method", method, REFERENCE_METHODS)
    x, w, stride, padding, out_shape = check_conv_args(x, w, stride, padding)
    if method == "reference":
        return _reference_direct(x, w, stride, padding, out_shape)
    return _reference_fft(x, w, stride, padding, out_shape)


# --------------------------------------------------------------------------- results
def load_benchmark(name: str = "conv_benchmark_cpu.json") -> dict:
    """Committed benchmark results shipped in ``course_utils/data`` (see benchmarks/conv.py)."""
    if not isinstance(name, str) or "/" in name or not name.endswith(".json"):
        raise ValueError(f"name must be a .json file name in course_utils/data, got {name!r}")
    path = resources.files("course_utils") / "data" / name
    if not path.is_file():  # not bad input: the file may come later (a GPU run writes it)
        raise FileNotFoundError(f"no benchmark results {name!r} in course_utils/data")
    return json.loads(path.read_text())
