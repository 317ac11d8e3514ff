"""Numba CUDA kernels for 2-D convolution, steps 1-4 of five (step 5, FFT, is in
:mod:`course_utils.conv.fft_kernels`; the host driver in :mod:`course_utils.conv.device_conv`).

Chapter 4, ``notebooks/conv_3_cuda``. All compute ``torch.nn.functional.conv2d``
(cross-correlation); see :mod:`course_utils.conv.reference` for the definition and
:func:`course_utils.conv.conv2d` for the public entry point. The steps:

1. ``naive``: one thread per output pixel; every input and filter value comes from
   global memory (R*S loads of each per output).
2. ``tiled``: a block first copies the input tile its outputs need, *halo* included,
   into shared memory; each thread then slides a small register window down its column.
3. ``constant``: step 2 with the filter bank in constant memory
   (``cuda.const.array_like``), which a warp reads with one broadcast.
4. ``layer``: a whole multi-channel layer (N, C, H, W) x (K, C, R, S), stride and
   padding handled in the kernel, computed as an implicit GEMM (im2col on the fly).
5. ``fft``: FFT convolution with a radix-2 Cooley-Tukey FFT kernel in shared memory.

**How the single-channel kernels (1-3) serve a layer.** Each launch computes one 2-D
cross-correlation of one padded input plane x[n, c] with one filter plane w[k, c] into
out[n, k], adding to what is there when ``accumulate`` is true. The driver zero-pads x
once on the host, copies x and w to the device once, and launches N*K*C times (c
innermost, accumulate for c > 0), passing device *views* of the planes, so nothing is
copied between launches. That is faithful to the teaching kernels and slow for real
layers (N*K*C launches); step 4 is the kernel for layers.

**Constant memory and the simulator.** ``cuda.const.array_like(a)`` bakes the values of
a host array ``a``, a global or closure variable of the kernel, into the compiled module
as ``__constant__`` data. On a GPU the data is fixed at compile time, so
:func:`constant_kernel` compiles one kernel per filter bank (cached by its bytes) and
refuses banks over 64 KiB, the constant-memory size. Numba's CUDA simulator supports
``const.array_like`` (it returns the array itself), so the same code runs there.

Block shapes come in two sizes, :data:`GPU_TILE`/:data:`GPU_GEMM` (for speed on a GPU)
and :data:`SIM_TILE`/:data:`SIM_GEMM` (few threads, for the simulator, which runs each
CUDA thread as a Python thread); :func:`default_configs` picks by device. Both are the
same kernels; the tests run both.

Used in: :doc:`/notebooks/conv_3_cuda`.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ..core import device
from ..core.checks import check_array, check_int

__all__ = [
    "TileConfig",
    "GemmConfig",
    "GPU_TILE",
    "SIM_TILE",
    "GPU_GEMM",
    "SIM_GEMM",
    "CONST_MEMORY_BYTES",
    "SHARED_MEMORY_BYTES",
    "LaunchConfigs",
    "GPU_CONFIGS",
    "SIM_CONFIGS",
    "default_configs",
    "naive_kernel",
    "tiled_kernel",
    "constant_kernel",
    "layer_kernel",
]

cuda = device.cuda()  # selects GPU or simulator before numba.cuda is imported

# CUDA C++ Programming Guide, https://docs.nvidia.com/cuda/cuda-c-programming-guide/#features-and-technical-specifications
#: Constant memory per device (bytes), every compute capability.
CONST_MEMORY_BYTES = 64 * 1024
#: Static shared memory a block may use (bytes); more needs dynamic shared memory (opt-in).
SHARED_MEMORY_BYTES = 48 * 1024


@dataclass(frozen=True)
class TileConfig:
    """Block shape of the tiled kernels: ``threads_x`` x ``threads_y`` threads, each
    computing ``rows_per_thread`` outputs down one column. One block computes a
    (threads_y * rows_per_thread) x threads_x tile of outputs."""

    threads_x: int
    threads_y: int
    rows_per_thread: int

    def __post_init__(self) -> None:
        for name in ("threads_x", "threads_y", "rows_per_thread"):
            check_int(name, getattr(self, name), minimum=1)
        if self.threads_x * self.threads_y > 1024:
            raise ValueError("threads_x * threads_y must be <= 1024 (CUDA's threads per "
                             f"block), got {self.threads_x * self.threads_y}")

    @property
    def out_tile(self) -> tuple[int, int]:
        """Outputs per block (rows, columns)."""
        return self.threads_y * self.rows_per_thread, self.threads_x

    def in_tile(self, r: int, s: int, stride: int) -> tuple[int, int]:
        """Input tile per block including the halo (rows, columns)."""
        oh, ow = self.out_tile
        return (oh - 1) * stride + r, (ow - 1) * stride + s


@dataclass(frozen=True)
class GemmConfig:
    """Tiles of the implicit-GEMM layer kernel. A block computes ``pixels`` output
    pixels x ``channels`` output channels, stepping through the C*R*S reduction
    ``depth`` at a time; each thread holds ``pixels_per_thread`` x
    ``channels_per_thread`` accumulators in registers."""

    pixels: int
    channels: int
    depth: int
    pixels_per_thread: int
    channels_per_thread: int

    @property
    def threads(self) -> int:
        """Threads per block."""
        return (self.pixels // self.pixels_per_thread) * (self.channels // self.channels_per_thread)

    def __post_init__(self) -> None:
        for name in ("pixels", "channels", "depth", "pixels_per_thread", "channels_per_thread"):
            check_int(name, getattr(self, name), minimum=1)
        if self.pixels % self.pixels_per_thread or self.channels % self.channels_per_thread:
            raise ValueError("pixels and channels must be multiples of the per-thread counts")
        t = self.threads
        for name, size in (("pixels", self.pixels), ("channels", self.channels)):
            if t % size or (self.depth * size) % t:
                raise ValueError(f"threads ({t}) must be a multiple of {name} ({size}) "
                                 f"and divide depth*{name} ({self.depth * size})")


GPU_TILE = TileConfig(threads_x=32, threads_y=8, rows_per_thread=4)  # 32x32 outputs/block
SIM_TILE = TileConfig(threads_x=8, threads_y=4, rows_per_thread=2)  # 8x8 outputs/block
GPU_GEMM = GemmConfig(pixels=128, channels=64, depth=8, pixels_per_thread=8,
                      channels_per_thread=4)  # 256 threads, 32 accumulators each
SIM_GEMM = GemmConfig(pixels=16, channels=8, depth=4, pixels_per_thread=2,
                      channels_per_thread=2)  # 32 threads


@dataclass(frozen=True)
class LaunchConfigs:
    """Block shapes for every method: ``tile`` (steps 2-3), ``gemm`` (step 4),
    ``naive_block`` (step 1, threads x, y), ``fft_line_threads`` (most threads per FFT
    line), ``fft_block_threads`` (threads per FFT block; lines per block = this /
    threads per line) and ``pointwise_grid`` (most blocks, threads per block of the FFT
    method's grid-stride element-wise kernels).
    """

    tile: TileConfig
    gemm: GemmConfig
    naive_block: tuple[int, int]
    fft_line_threads: int
    fft_block_threads: int
    pointwise_grid: tuple[int, int]


#: Sizes for a GPU: blocks of 256 threads.
GPU_CONFIGS = LaunchConfigs(GPU_TILE, GPU_GEMM, (16, 16), 256, 256, (4096, 256))
#: Sizes for the simulator: few threads per block, each doing more of the work.
SIM_CONFIGS = LaunchConfigs(SIM_TILE, SIM_GEMM, (8, 8), 1, 16, (1, 16))


def default_configs() -> LaunchConfigs:
    """:data:`GPU_CONFIGS` on a GPU, :data:`SIM_CONFIGS` in the simulator."""
    return SIM_CONFIGS if device.device_info().simulated else GPU_CONFIGS


# --------------------------------------------------------------------------- step 1
@cuda.jit
def naive_kernel(x, w, out, stride, accumulate):
    """One thread per output pixel (x is pre-padded; += when accumulate):
    out[i, j] = sum over r, s of x[i*stride + r, j*stride + s] * w[r, s]."""
    col, row = cuda.grid(2)
    if row < out.shape[0] and col < out.shape[1]:
        acc = np.float32(0.0)
        for r in range(w.shape[0]):
            for s in range(w.shape[1]):
                acc += x[row * stride + r, col * stride + s] * w[r, s]
        if accumulate:
            acc += out[row, col]
        out[row, col] = acc


# --------------------------------------------------------------------------- steps 2, 3
@lru_cache(maxsize=64)
def _tile_functions(r_size: int, s_size: int, stride: int, cfg: TileConfig):
    """Device functions shared by the tiled and constant kernels, specialised on the
    filter size, stride and block shape (compile-time constants: shared-memory and
    register-array sizes must be, and constant loop bounds let the compiler unroll)."""
    tx_n, ty_n, rows = cfg.threads_x, cfg.threads_y, cfg.rows_per_thread
    out_h, out_w = cfg.out_tile
    in_h, in_w = cfg.in_tile(r_size, s_size, stride)
    window = (rows - 1) * stride + r_size  # input rows one thread reads per filter column
    n_threads = tx_n * ty_n

    @cuda.jit(device=True)
    def load_tile(x, tile):
        """All threads of the block copy its input tile, halo included, to shared memory."""
        row0 = cuda.blockIdx.y * out_h * stride
        col0 = cuda.blockIdx.x * out_w * stride
        tid = cuda.threadIdx.y * tx_n + cuda.threadIdx.x
        for e in range(tid, in_h * in_w, n_threads):
            i = e // in_w
            j = e - i * in_w
            if row0 + i < x.shape[0] and col0 + j < x.shape[1]:
                tile[i, j] = x[row0 + i, col0 + j]
            else:
                tile[i, j] = 0.0  # beyond the image: read by no valid output
        cuda.syncthreads()  # the tile is complete before anyone reads it

    @cuda.jit(device=True)
    def compute_tile(tile, f, out, accumulate):
        """Each thread: ``rows`` outputs down one column, from a register window."""
        ty, tx = cuda.threadIdx.y, cuda.threadIdx.x
        acc = cuda.local.array(rows, np.float32)
        win = cuda.local.array(window, np.float32)
        for i in range(rows):
            acc[i] = 0.0
        for s in range(s_size):
            for j in range(window):  # one shared-memory read per input value ...
                win[j] = tile[ty * rows * stride + j, tx * stride + s]
            for r in range(r_size):  # ... reused by up to r_size outputs
                fv = f[r, s]
                for i in range(rows):
                    acc[i] += win[i * stride + r] * fv
        col = cuda.blockIdx.x * out_w + tx
        for i in range(rows):
            row = cuda.blockIdx.y * out_h + ty * rows + i
            if row < out.shape[0] and col < out.shape[1]:
                v = acc[i]
                if accumulate:
                    v += out[row, col]
                out[row, col] = v

    return load_tile, compute_tile, (in_h, in_w)


@lru_cache(maxsize=64)
def tiled_kernel(r_size: int, s_size: int, stride: int, cfg: TileConfig):
    """Step 2: the shared-memory tiled kernel for R x S filters at this stride.

    Launch with grid (ceil(Q/out_w), ceil(P/out_h)) and block (threads_x, threads_y);
    arguments (x_plane, w_plane, out_plane, accumulate).
    """
    load_tile, compute_tile, tile_shape = _tile_functions(r_size, s_size, stride, cfg)
    _check_shared(tile_shape)

    @cuda.jit
    def tiled(x, w, out, accumulate):
        tile = cuda.shared.array(tile_shape, np.float32)
        load_tile(x, tile)
        compute_tile(tile, w, out, accumulate)

    return tiled


_CONST_CACHE: OrderedDict = OrderedDict()


def constant_kernel(w: np.ndarray, stride: int, cfg: TileConfig):
    """Step 3: the tiled kernel reading the filter bank ``w`` (K, C, R, S) from constant
    memory. Arguments (x_plane, out_plane, k, c, accumulate).

    The bank's values are compiled into the kernel, so each new bank compiles a new kernel
    (the last 8 are cached). Raises ValueError if w exceeds the 64 KiB of constant memory.
    """
    check_array("w", w, ndim=4)
    stride = check_int("stride", stride, minimum=1)
    if not isinstance(cfg, TileConfig):
        raise TypeError(f"cfg must be a TileConfig, got {type(cfg).__name__}")
    if w.nbytes > CONST_MEMORY_BYTES:
        raise ValueError(
            f"method='constant' keeps all filters in constant memory, at most "
            f"{CONST_MEMORY_BYTES} bytes; w has {w.nbytes} bytes (shape {w.shape}). "
            "Use method='tiled' or 'layer'."
        )
    key = (w.shape, hashlib.sha256(w.tobytes()).hexdigest(), stride, cfg)
    if key in _CONST_CACHE:
        _CONST_CACHE.move_to_end(key)
        return _CONST_CACHE[key]
    _, _, r_size, s_size = w.shape
    load_tile, compute_tile, tile_shape = _tile_functions(r_size, s_size, stride, cfg)
    _check_shared(tile_shape)
    bank = np.array(w, dtype=np.float32, copy=True)  # frozen: the kernel owns these values

    @cuda.jit
    def constant(x, out, k, c, accumulate):
        tile = cuda.shared.array(tile_shape, np.float32)
        filters = cuda.const.array_like(bank)  # __constant__ memory on a GPU
        load_tile(x, tile)
        compute_tile(tile, filters[k, c], out, accumulate)

    _CONST_CACHE[key] = constant
    if len(_CONST_CACHE) > 8:
        _CONST_CACHE.popitem(last=False)
    return constant


def _check_shared(tile_shape: tuple[int, int]) -> None:
    nbytes = 4 * tile_shape[0] * tile_shape[1]
    if nbytes > SHARED_MEMORY_BYTES:
        raise ValueError(
            f"the input tile {tile_shape[0]}x{tile_shape[1]} needs {nbytes} bytes of shared "
            f"memory, more than {SHARED_MEMORY_BYTES}; use a smaller kernel or stride, or "
            "method='layer' or 'fft'"
        )


# --------------------------------------------------------------------------- step 4
@lru_cache(maxsize=64)
def layer_kernel(r_size: int, s_size: int, stride: int, padding: int, cfg: GemmConfig):
    """Step 4: conv layer as an implicit GEMM, out (N*P*Q x K) = A (N*P*Q x C*R*S) @ B.

    A row of A is the receptive field of one output pixel (im2col), gathered from x on
    the fly, with zero padding by bounds checks; B = w reshaped to (C*R*S, K) on the host.
    Arguments (x (N,C,H,W), wt (C*R*S, K), out (N,K,P,Q)); grid
    (ceil(N*P*Q / pixels), ceil(K / channels)), block (threads,).
    """
    bm, bn, bk = cfg.pixels, cfg.channels, cfg.depth
    tm, tn, n_threads = cfg.pixels_per_thread, cfg.channels_per_thread, cfg.threads
    m_threads, n_threads_k = bm // tm, bn // tn
    rs = r_size * s_size
    a_rows_step, a_loads = n_threads // bm, bk * bm // n_threads
    b_rows_step, b_loads = n_threads // bn, bk * bn // n_threads

    @cuda.jit
    def layer(x, wt, out):
        n_img, _, h, wd = x.shape
        k_out, p_out, q_out = out.shape[1], out.shape[2], out.shape[3]
        pq = p_out * q_out
        m_total, d_total = n_img * pq, wt.shape[0]
        a_s = cuda.shared.array((bk, bm), np.float32)
        b_s = cuda.shared.array((bk, bn), np.float32)
        acc = cuda.local.array((tm, tn), np.float32)
        a_reg = cuda.local.array(tm, np.float32)
        b_reg = cuda.local.array(tn, np.float32)
        tid = cuda.threadIdx.x
        m0, k0 = cuda.blockIdx.x * bm, cuda.blockIdx.y * bn
        # This thread always loads the same pixel of A: decode it once.
        a_m = tid % bm
        m = m0 + a_m
        img = m // pq
        rem = m - img * pq
        i0 = (rem // q_out) * stride - padding
        j0 = (rem % q_out) * stride - padding
        for i in range(tm):
            for j in range(tn):
                acc[i, j] = 0.0
        for d0 in range(0, d_total, bk):
            for load in range(a_loads):  # A tile (depth x pixels): im2col gather
                dd = tid // bm + load * a_rows_step
                d = d0 + dd
                v = np.float32(0.0)
                if m < m_total and d < d_total:
                    c = d // rs
                    r = (d - c * rs) // s_size
                    s = d - c * rs - r * s_size
                    i, j = i0 + r, j0 + s
                    if 0 <= i < h and 0 <= j < wd:
                        v = x[img, c, i, j]
                a_s[dd, a_m] = v
            for load in range(b_loads):  # B tile (depth x channels), coalesced along K
                dd = tid // bn + load * b_rows_step
                kk = tid % bn
                v = np.float32(0.0)
                if d0 + dd < d_total and k0 + kk < k_out:
                    v = wt[d0 + dd, k0 + kk]
                b_s[dd, kk] = v
            cuda.syncthreads()
            for dd in range(bk):  # register-blocked outer products
                for i in range(tm):
                    a_reg[i] = a_s[dd, i * m_threads + tid % m_threads]
                for j in range(tn):
                    b_reg[j] = b_s[dd, j * n_threads_k + tid // m_threads]
                for i in range(tm):
                    for j in range(tn):
                        acc[i, j] += a_reg[i] * b_reg[j]
            cuda.syncthreads()
        for i in range(tm):
            mo = m0 + i * m_threads + tid % m_threads
            if mo < m_total:
                img_o = mo // pq
                rem_o = mo - img_o * pq
                p, q = rem_o // q_out, rem_o % q_out
                for j in range(tn):
                    ko = k0 + j * n_threads_k + tid // m_threads
                    if ko < k_out:
                        out[img_o, ko, p, q] = acc[i, j]

    return layer
