"""The host side of the convolution kernels: copy in once, launch, copy out.

Chapter 4, ``notebooks/conv_3_cuda``. :class:`DeviceConv` holds one convolution problem
on the device for any of the five CUDA methods (:data:`course_utils.conv.CUDA_METHODS`),
so a benchmark can time the kernels alone; :func:`run` does one method end to end and is
what :func:`course_utils.conv.conv2d` calls for a CUDA method.

Used in: :doc:`/notebooks/conv_3_cuda`.
"""

from __future__ import annotations

import contextlib
import math
import sys

import numpy as np

from ..core import device
from ..core.checks import check_choice, check_number
from .fft_kernels import crop_kernel, embed_kernel, fft_kernel, fft_length, spectral_mac_kernel
from .kernels import (
    LaunchConfigs,
    constant_kernel,
    default_configs,
    layer_kernel,
    naive_kernel,
    tiled_kernel,
)
from .reference import CUDA_METHODS, check_conv_args

__all__ = ["DeviceConv", "run", "simulator_speedup"]

cuda = device.cuda()  # selects GPU or simulator before numba.cuda is imported


@contextlib.contextmanager
def simulator_speedup(interval: float = 1e-4):
    """In the simulator, switch Python threads every ``interval`` seconds (default 0.1 ms).

    The simulator runs each CUDA thread as a Python thread and a manager thread that
    busy-polls for ``syncthreads``; with Python's default 5 ms switch interval every
    barrier costs milliseconds. A short interval makes sync-heavy kernels (tiled, FFT)
    several times faster. Restored on exit; does nothing on a GPU.
    """
    interval = check_number("interval", interval, minimum=0, strict_minimum=True)
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
            self._pointwise(embed_kernel, dst.size // 2, src, dst, offset)
            self._fft2(dst, inverse=False)
        self._pointwise(spectral_mac_kernel, self.yf.size // 2, self.xf, self.wf, self.yf,
                        self.x_shape[1], k)
        self._fft2(self.yf, inverse=True)
        self._pointwise(crop_kernel, n * k * p * q, self.yf, self.out, self.stride)


def run(method: str, x: np.ndarray, w: np.ndarray, *, stride: int = 1, padding: int = 0,
        configs: LaunchConfigs | None = None) -> np.ndarray:
    """Run one CUDA method end to end (copy in, launch, copy out); see :class:`DeviceConv`."""
    conv = DeviceConv(method, x, w, stride=stride, padding=padding, configs=configs)
    conv.run()
    return conv.result()
