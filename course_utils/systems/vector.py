"""First Numba CUDA kernels: a 1-D vector add and a 2-D grid (used by the setup chapter).

Each function takes NumPy arrays, launches a kernel on whatever
:func:`course_utils.device.select_device` chose (a real GPU or the simulator) and
returns a NumPy array. The NumPy expression each kernel must match is given in its
docstring; ``tests/unit/test_vector.py`` checks them against it.

Used in: :doc:`/notebooks/setup`.
"""

from __future__ import annotations

import math

import numpy as np

from ..core import device
from ..core.checks import check_array, check_int, check_number

__all__ = ["vector_add", "saxpy_2d", "block_map_2d", "launch_config_1d", "launch_config_2d"]

cuda = device.cuda()  # selects GPU or simulator before numba.cuda is imported


@cuda.jit
def _vector_add_kernel(a, b, out):
    i = cuda.grid(1)  # = blockIdx.x * blockDim.x + threadIdx.x
    if i < out.size:  # the last block may run past the end of the array
        out[i] = a[i] + b[i]


@cuda.jit
def _saxpy_2d_kernel(alpha, x, y, out):
    col, row = cuda.grid(2)  # cuda.grid(2) returns (x, y): x runs along columns
    if row < out.shape[0] and col < out.shape[1]:
        out[row, col] = alpha * x[row, col] + y[row, col]


@cuda.jit
def _block_map_kernel(out):
    col, row = cuda.grid(2)
    if row < out.shape[0] and col < out.shape[1]:
        out[row, col] = cuda.blockIdx.y * cuda.gridDim.x + cuda.blockIdx.x


def launch_config_1d(n: int, threads_per_block: int = 256) -> tuple[int, int]:
    """Blocks and threads per block so that ``blocks * threads >= n`` (ceil division)."""
    n = check_int("n", n, minimum=1)
    threads_per_block = check_int("threads_per_block", threads_per_block, minimum=1, maximum=1024)
    return math.ceil(n / threads_per_block), threads_per_block


def launch_config_2d(
    shape: tuple[int, int], block: tuple[int, int] = (16, 16)
) -> tuple[tuple[int, int], tuple[int, int]]:
    """Grid and block for a (rows, cols) array; CUDA's x runs along columns.

    Returns ``((blocks_x, blocks_y), (threads_x, threads_y))``.
    """
    if len(shape) != 2:
        raise ValueError(f"shape must be (rows, cols), got {shape!r}")
    rows = check_int("shape[0]", shape[0], minimum=1)
    cols = check_int("shape[1]", shape[1], minimum=1)
    tx = check_int("block[0]", block[0], minimum=1, maximum=1024)
    ty = check_int("block[1]", block[1], minimum=1, maximum=1024)
    if tx * ty > 1024:
        raise ValueError(f"block must have at most 1024 threads, got {tx}*{ty}={tx * ty}")
    return (math.ceil(cols / tx), math.ceil(rows / ty)), (tx, ty)


def _same_float_arrays(names: tuple[str, str], a: object, b: object, ndim: int) -> None:
    check_array(names[0], a, ndim=ndim)
    check_array(names[1], b, ndim=ndim)
    if a.shape != b.shape:
        raise ValueError(f"{names[0]} and {names[1]} must have the same shape, got "
                         f"{a.shape} and {b.shape}")
    for name, arr in zip(names, (a, b), strict=False):
        if arr.dtype not in (np.float32, np.float64):
            raise TypeError(f"{name} must be float32 or float64, got {arr.dtype}")
    if a.dtype != b.dtype:
        raise TypeError(f"{names[0]} and {names[1]} must share a dtype, got {a.dtype}, {b.dtype}")


def vector_add(a: np.ndarray, b: np.ndarray, *, threads_per_block: int = 256) -> np.ndarray:
    """``a + b`` for 1-D float arrays, one CUDA thread per element."""
    _same_float_arrays(("a", "b"), a, b, ndim=1)
    out = np.empty_like(a)
    blocks, threads = launch_config_1d(a.size, threads_per_block)
    _vector_add_kernel[blocks, threads](np.ascontiguousarray(a), np.ascontiguousarray(b), out)
    return out


def saxpy_2d(
    alpha: float, x: np.ndarray, y: np.ndarray, *, block: tuple[int, int] = (16, 16)
) -> np.ndarray:
    """``alpha * x + y`` for 2-D float arrays, on a 2-D grid of 2-D blocks."""
    alpha = check_number("alpha", alpha)
    _same_float_arrays(("x", "y"), x, y, ndim=2)
    out = np.empty_like(x)
    grid, blk = launch_config_2d(x.shape, block)
    _saxpy_2d_kernel[grid, blk](
        x.dtype.type(alpha), np.ascontiguousarray(x), np.ascontiguousarray(y), out
    )
    return out


def block_map_2d(shape: tuple[int, int], *, block: tuple[int, int] = (16, 16)) -> np.ndarray:
    """For each element of a (rows, cols) array, the linear index of the block that owns it.

    NumPy equivalent: ``(r // block[1]) * blocks_x + (c // block[0])``.
    """
    grid, blk = launch_config_2d(shape, block)
    out = np.full(shape, -1, dtype=np.int32)
    _block_map_kernel[grid, blk](out)
    return out
