"""Step 5 of the convolution kernels: FFT convolution with a radix-2 FFT kernel.

Chapter 4, ``notebooks/conv_3_cuda`` ("Step 5: FFT convolution"). A radix-2
Cooley-Tukey FFT in shared memory transforms lines of a plane; the host driver
(:class:`course_utils.conv.device_conv.DeviceConv`) runs it along both axes, multiplies
the spectra (summing over channels) and transforms back. Same definition and checks as
steps 1-4 (:mod:`course_utils.conv.kernels`).

Used in: :doc:`/notebooks/conv_3_cuda`.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from ..core import device
from ..core.checks import check_int

__all__ = [
    "MAX_FFT_LENGTH",
    "fft_length",
    "fft_kernel",
    "embed_kernel",
    "spectral_mac_kernel",
    "crop_kernel",
]

cuda = device.cuda()  # selects GPU or simulator before numba.cuda is imported

#: Longest FFT the shared-memory FFT kernel handles (two float32 arrays of this length).
MAX_FFT_LENGTH = 4096


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
def embed_kernel(src, dst, offset):
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
def spectral_mac_kernel(xf, wf, yf, channels, k_out):
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
def crop_kernel(yf, out, stride):
    """out[n, k, p, q] = Re yf[n*K + k, p*stride, q*stride]."""
    k_out, rows, cols = out.shape[1], out.shape[2], out.shape[3]
    for idx in range(cuda.grid(1), out.shape[0] * k_out * rows * cols, cuda.gridsize(1)):
        nk = idx // (rows * cols)
        p = (idx // cols) % rows
        q = idx % cols
        out[nk // k_out, nk % k_out, p, q] = yf[nk, p * stride, q * stride, 0]
