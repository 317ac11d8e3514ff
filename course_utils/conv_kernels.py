"""Numba CUDA kernels for 2-D convolution: five teaching steps, one shared host driver.

All compute ``torch.nn.functional.conv2d`` (cross-correlation); see
:mod:`course_utils.conv` for the definition and :func:`course_utils.conv.conv2d` for the
public entry point. The steps:

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
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import sys
from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from . import device
from .conv import CUDA_METHODS, check_conv_args
from .validate import check_choice, check_int

__all__ = [
    "TileConfig",
    "GemmConfig",
    "GPU_TILE",
    "SIM_TILE",
    "GPU_GEMM",
    "SIM_GEMM",
    "CONST_MEMORY_BYTES",
    "SHARED_MEMORY_BYTES",
    "MAX_FFT_LENGTH",
    "LaunchConfigs",
    "GPU_CONFIGS",
    "SIM_CONFIGS",
    "default_configs",
    "naive_kernel",
    "tiled_kernel",
    "constant_kernel",
    "layer_kernel",
    "fft_kernel",
    "fft_length",
    "DeviceConv",
    "run",
    "simulator_speedup",
]

cuda = device.cuda()  # selects GPU or simulator before numba.cuda is imported

#: Constant memory per device (bytes), every CUDA GPU since compute capability 1.0.
CONST_MEMORY_BYTES = 64 * 1024
#: Static shared memory a block may use (bytes).
SHARED_MEMORY_BYTES = 48 * 1024
#: Longest FFT the shared-memory FFT kernel handles (two float32 arrays of this length).
MAX_FFT_LENGTH = 4096


@dataclass(frozen=True)
class TileConfig:
    """Block shape of the tiled kernels: ``threads_x`` x ``threads_y`` threads, each
    computing ``rows_per_thread`` outputs down one column. One block computes a
    (threads_y * rows_per_thread) x threads_x tile of outputs."""

    threads_x: int
    threads_y: int
    rows_per_thread: int

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


# --------------------------------------------------------------------------- step 5
def fft_length(n: int) -> int:
    """Smallest power of two >= max(n, 2): the radix-2 FFT's length (elements)."""
    n = check_int("n", n, minimum=1)
    length = max(2, 1 << (n - 1).bit_length())
    if length > MAX_FFT_LENGTH:
        raise ValueError(f"method='fft' handles padded sizes up to {MAX_FFT_LENGTH}, got {n}")
    return length


@cuda.jit(device=True)
def _bit_reverse(j, bits):
    rev = 0
    for _ in range(bits):
        rev = (rev << 1) | (j & 1)
        j >>= 1
    return rev


@lru_cache(maxsize=32)
def fft_kernel(n: int, line_threads: int = 256, block_threads: int = 256):
    """Radix-2 decimation-in-time FFT of length ``n`` along axis 1 or 2 of a (B, H, W, 2)
    float32 array (last axis: real, imaginary), in place.

    One block transforms ``lines`` lines held in shared memory: load in bit-reversed
    order, then log2(n) butterfly stages separated by ``syncthreads``. Arguments
    (a, axis, inverse); block (threads, lines), grid (ceil(number of lines / lines),).
    ``threads = min(n/2, line_threads)`` threads share a line's n/2 butterflies per stage;
    ``lines = max(1, block_threads // threads)``. Returns (kernel, threads, lines).
    """
    if n < 2 or n & (n - 1) or n > MAX_FFT_LENGTH:
        raise ValueError(f"n must be a power of two in [2, {MAX_FFT_LENGTH}], got {n}")
    bits = n.bit_length() - 1
    half_n = n // 2
    threads = min(half_n, line_threads)
    lines = max(1, block_threads // threads)

    @cuda.jit
    def fft(a, axis, inverse):
        re = cuda.shared.array((lines, n), np.float32)
        im = cuda.shared.array((lines, n), np.float32)
        t, ly = cuda.threadIdx.x, cuda.threadIdx.y
        other = a.shape[1] if axis == 2 else a.shape[2]  # lines per plane
        line = cuda.blockIdx.x * lines + ly
        b = line // other
        fixed = line - b * other
        active = b < a.shape[0]
        for j in range(t, n, threads):
            jr = _bit_reverse(j, bits)
            vr = np.float32(0.0)
            vi = np.float32(0.0)
            if active:
                if axis == 2:
                    vr, vi = a[b, fixed, j, 0], a[b, fixed, j, 1]
                else:
                    vr, vi = a[b, j, fixed, 0], a[b, j, fixed, 1]
            re[ly, jr] = vr
            im[ly, jr] = vi
        cuda.syncthreads()
        sign = np.float32(1.0) if inverse else np.float32(-1.0)
        half = 1
        for _ in range(bits):
            for u in range(t, half_n, threads):
                pos = u % half
                i0 = (u // half) * 2 * half + pos
                i1 = i0 + half
                angle = sign * np.float32(math.pi) * np.float32(pos) / np.float32(half)
                wr, wi = math.cos(angle), math.sin(angle)
                xr = re[ly, i1] * wr - im[ly, i1] * wi
                xi = re[ly, i1] * wi + im[ly, i1] * wr
                ur, ui = re[ly, i0], im[ly, i0]
                re[ly, i0], im[ly, i0] = ur + xr, ui + xi
                re[ly, i1], im[ly, i1] = ur - xr, ui - xi
            cuda.syncthreads()
            half *= 2
        scale = np.float32(1.0 / n) if inverse else np.float32(1.0)
        if active:
            for j in range(t, n, threads):
                if axis == 2:
                    a[b, fixed, j, 0], a[b, fixed, j, 1] = re[ly, j] * scale, im[ly, j] * scale
                else:
                    a[b, j, fixed, 0], a[b, j, fixed, 1] = re[ly, j] * scale, im[ly, j] * scale

    return fft, threads, lines


# The FFT method's other kernels are element-wise. They use a *grid-stride loop*: thread
# t handles elements t, t + T, t + 2T, ... (T = threads in the grid), so any grid size
# covers any array; a GPU launches enough blocks to fill the device, the simulator few.
@cuda.jit
def _embed_kernel(src, dst, offset):
    """dst[b, i, j] = (src[b, i - offset, j - offset], 0), zero outside src: pad + complex."""
    planes, rows, cols = dst.shape[0], dst.shape[1], dst.shape[2]
    for idx in range(cuda.grid(1), planes * rows * cols, cuda.gridsize(1)):
        b = idx // (rows * cols)
        i = (idx // cols) % rows
        j = idx % cols
        si, sj = i - offset, j - offset
        v = np.float32(0.0)
        if 0 <= si < src.shape[1] and 0 <= sj < src.shape[2]:
            v = src[b, si, sj]
        dst[b, i, j, 0] = v
        dst[b, i, j, 1] = 0.0


@cuda.jit
def _spectral_mac_kernel(xf, wf, yf, channels, k_out):
    """yf[n*K + k, u, v] = sum_c xf[n*C + c, u, v] * conj(wf[k*C + c, u, v])."""
    planes, rows, cols = yf.shape[0], yf.shape[1], yf.shape[2]
    for idx in range(cuda.grid(1), planes * rows * cols, cuda.gridsize(1)):
        nk = idx // (rows * cols)
        u = (idx // cols) % rows
        v = idx % cols
        n, k = nk // k_out, nk % k_out
        sr = np.float32(0.0)
        si = np.float32(0.0)
        for c in range(channels):
            ar, ai = xf[n * channels + c, u, v, 0], xf[n * channels + c, u, v, 1]
            br, bi = wf[k * channels + c, u, v, 0], wf[k * channels + c, u, v, 1]
            sr += ar * br + ai * bi  # (ar + i ai)(br - i bi)
            si += ai * br - ar * bi
        yf[nk, u, v, 0] = sr
        yf[nk, u, v, 1] = si


@cuda.jit
def _crop_kernel(yf, out, stride):
    """out[n, k, p, q] = Re yf[n*K + k, p*stride, q*stride]."""
    k_out, rows, cols = out.shape[1], out.shape[2], out.shape[3]
    for idx in range(cuda.grid(1), out.shape[0] * k_out * rows * cols, cuda.gridsize(1)):
        nk = idx // (rows * cols)
        p = (idx // cols) % rows
        q = idx % cols
        out[nk // k_out, nk % k_out, p, q] = yf[nk, p * stride, q * stride, 0]


# --------------------------------------------------------------------------- driver
@contextlib.contextmanager
def simulator_speedup(interval: float = 1e-4):
    """In the simulator, switch Python threads every ``interval`` seconds (default 0.1 ms).

    The simulator runs each CUDA thread as a Python thread and a manager thread that
    busy-polls for ``syncthreads``; with Python's default 5 ms switch interval every
    barrier costs milliseconds. A short interval makes sync-heavy kernels (tiled, FFT)
    several times faster. Restored on exit; does nothing on a GPU.
    """
    if not device.device_info().simulated:
        yield
        return
    old = sys.getswitchinterval()
    sys.setswitchinterval(min(old, interval))
    try:
        yield
    finally:
        sys.setswitchinterval(old)


def _grid(extent: tuple[int, ...], block: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(math.ceil(e / b) for e, b in zip(extent, block, strict=True))


class DeviceConv:
    """One convolution problem on the device: inputs copied once, outputs allocated.

    ``run()`` launches the method's kernels only (what a benchmark times, after
    ``cuda.synchronize()``); ``result()`` copies the output back. :func:`run` does both.
    """

    def __init__(self, method: str, x: np.ndarray, w: np.ndarray, *, stride: int = 1,
                 padding: int = 0, configs: LaunchConfigs | None = None) -> None:
        self.method = check_choice("method", method, CUDA_METHODS)
        x, w, stride, padding, out_shape = check_conv_args(x, w, stride, padding)
        self.cfg = configs or default_configs()
        if not isinstance(self.cfg, LaunchConfigs):
            raise TypeError(f"configs must be a LaunchConfigs, got {type(configs).__name__}")
        self.stride, self.padding, self.out_shape = stride, padding, out_shape
        self.x_shape, self.w_shape = x.shape, w.shape
        self.out = cuda.device_array(out_shape, np.float32)
        n, c, h, wd = x.shape
        k, _, r, s = w.shape
        if method in ("naive", "tiled", "constant"):
            xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
            self.x = cuda.to_device(np.ascontiguousarray(xp))
            self.w = cuda.to_device(w)
            if method == "tiled":
                self.kernel = tiled_kernel(r, s, stride, self.cfg.tile)
            elif method == "constant":
                self.kernel = constant_kernel(w, stride, self.cfg.tile)
        elif method == "layer":
            self.x = cuda.to_device(x)
            self.w = cuda.to_device(np.ascontiguousarray(w.reshape(k, c * r * s).T))
            self.kernel = layer_kernel(r, s, stride, padding, self.cfg.gemm)
        else:  # fft
            lh, lw = fft_length(h + 2 * padding), fft_length(wd + 2 * padding)
            self.x = cuda.to_device(x.reshape(n * c, h, wd))
            self.w = cuda.to_device(w.reshape(k * c, r, s))
            self.xf = cuda.device_array((n * c, lh, lw, 2), np.float32)
            self.wf = cuda.device_array((k * c, lh, lw, 2), np.float32)
            self.yf = cuda.device_array((n * k, lh, lw, 2), np.float32)

    def run(self) -> None:
        """Launch the kernels (asynchronous on a GPU)."""
        with simulator_speedup():
            getattr(self, f"_run_{self.method}")()

    def result(self) -> np.ndarray:
        """The output (N, K, P, Q) as a float32 NumPy array (waits for the kernels)."""
        return self.out.copy_to_host()

    def _planes(self, launch) -> None:
        n_img, k_out, _, _ = self.out_shape
        for n in range(n_img):
            for k in range(k_out):
                for c in range(self.x_shape[1]):
                    launch(n, k, c, c > 0)

    def _run_naive(self) -> None:
        p, q = self.out_shape[2:]
        grid = _grid((q, p), self.cfg.naive_block)
        self._planes(lambda n, k, c, acc: naive_kernel[grid, self.cfg.naive_block](
            self.x[n, c], self.w[k, c], self.out[n, k], self.stride, acc))

    def _tile_launch(self) -> tuple[tuple[int, int], tuple[int, int]]:
        oh, ow = self.cfg.tile.out_tile
        p, q = self.out_shape[2:]
        tile = self.cfg.tile
        return (math.ceil(q / ow), math.ceil(p / oh)), (tile.threads_x, tile.threads_y)

    def _run_tiled(self) -> None:
        grid, block = self._tile_launch()
        self._planes(lambda n, k, c, acc: self.kernel[grid, block](
            self.x[n, c], self.w[k, c], self.out[n, k], acc))

    def _run_constant(self) -> None:
        grid, block = self._tile_launch()
        self._planes(lambda n, k, c, acc: self.kernel[grid, block](
            self.x[n, c], self.out[n, k], k, c, acc))

    def _run_layer(self) -> None:
        n, k, p, q = self.out_shape
        grid = (math.ceil(n * p * q / self.cfg.gemm.pixels), math.ceil(k / self.cfg.gemm.channels))
        self.kernel[grid, (self.cfg.gemm.threads,)](self.x, self.w, self.out)

    def _fft2(self, a, inverse: bool) -> None:
        planes, lh, lw, _ = a.shape
        for axis, length, lines_per_plane in ((2, lw, lh), (1, lh, lw)):
            kernel, threads, lines = fft_kernel(length, self.cfg.fft_line_threads,
                                                self.cfg.fft_block_threads)
            grid = (math.ceil(planes * lines_per_plane / lines),)
            kernel[grid, (threads, lines)](a, axis, inverse)

    def _pointwise(self, kernel, elements: int, *args) -> None:
        max_blocks, threads = self.cfg.pointwise_grid
        kernel[min(max_blocks, math.ceil(elements / threads)), threads](*args)

    def _run_fft(self) -> None:
        n, k, p, q = self.out_shape
        for src, dst, offset in ((self.x, self.xf, self.padding), (self.w, self.wf, 0)):
            self._pointwise(_embed_kernel, dst.size // 2, src, dst, offset)
            self._fft2(dst, inverse=False)
        self._pointwise(_spectral_mac_kernel, self.yf.size // 2, self.xf, self.wf, self.yf,
                        self.x_shape[1], k)
        self._fft2(self.yf, inverse=True)
        self._pointwise(_crop_kernel, n * k * p * q, self.yf, self.out, self.stride)


def run(method: str, x: np.ndarray, w: np.ndarray, *, stride: int = 1, padding: int = 0,
        configs: LaunchConfigs | None = None) -> np.ndarray:
    """Run one CUDA method end to end (copy in, launch, copy out); see :class:`DeviceConv`."""
    conv = DeviceConv(method, x, w, stride=stride, padding=padding, configs=configs)
    conv.run()
    return conv.result()
