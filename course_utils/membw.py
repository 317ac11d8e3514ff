"""Measure host (CPU) memory-copy bandwidth: the reader's first measured figure.

Method: copy a ``nbytes`` buffer into another, already allocated and touched, with
``numpy.copyto`` (a ``memcpy``). Repeat the copy until one timing run lasts at least
``min_seconds``, so the timer's resolution and Python's call overhead do not matter,
and keep the fastest of ``repeats`` runs (the least-disturbed one). Report
``nbytes / time``: bytes copied per second. The memory system moves more than that:
each byte is read once and written once (2x), and a write to a line not in cache
may first read it (write-allocate, up to 3x).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from .validate import check_int, check_number

__all__ = ["CopyMeasurement", "time_copy", "host_copy_bandwidth", "default_sizes"]


@dataclass(frozen=True)
class CopyMeasurement:
    """One size: ``nbytes`` (bytes), ``seconds`` (best time for one copy)."""

    nbytes: int
    seconds: float

    @property
    def bandwidth(self) -> float:
        """Bytes copied per second (B/s)."""
        return self.nbytes / self.seconds

    @property
    def gb_per_s(self) -> float:
        """Bytes copied per second in GB/s (10^9 B/s)."""
        return self.bandwidth / 1e9


def default_sizes() -> list[int]:
    """Buffer sizes in bytes from 4 KiB to 256 MiB, a factor of 4 apart."""
    return [4096 * 4**k for k in range(0, 9)]


def time_copy(nbytes: int, *, repeats: int = 5, min_seconds: float = 0.01) -> CopyMeasurement:
    """Best time, in seconds, to copy ``nbytes`` bytes host-to-host."""
    nbytes = check_int("nbytes", nbytes, minimum=1)
    repeats = check_int("repeats", repeats, minimum=1)
    min_seconds = check_number("min_seconds", min_seconds, minimum=0.0)
    src = np.ones(nbytes, dtype=np.uint8)
    dst = np.zeros(nbytes, dtype=np.uint8)  # touched: no page faults in the timed loop
    np.copyto(dst, src)
    inner = 1
    while True:  # calibrate: how many copies make one run last min_seconds
        t0 = time.perf_counter()
        for _ in range(inner):
            np.copyto(dst, src)
        elapsed = time.perf_counter() - t0
        if elapsed >= min_seconds or inner >= 1 << 20:
            break
        inner *= 2
    best = elapsed / inner
    for _ in range(repeats - 1):
        t0 = time.perf_counter()
        for _ in range(inner):
            np.copyto(dst, src)
        best = min(best, (time.perf_counter() - t0) / inner)
    if not np.array_equal(dst[:: max(1, nbytes // 64)], src[:: max(1, nbytes // 64)]):
        raise RuntimeError("copy check failed")  # pragma: no cover
    return CopyMeasurement(nbytes=nbytes, seconds=best)


def host_copy_bandwidth(
    sizes: list[int] | None = None, *, repeats: int = 5, min_seconds: float = 0.01
) -> list[CopyMeasurement]:
    """Measure :func:`time_copy` for each size in ``sizes`` (bytes).

    ``sizes`` defaults to :func:`default_sizes`.
    """
    sizes = default_sizes() if sizes is None else list(sizes)
    if not sizes:
        raise ValueError("sizes must contain at least one size in bytes")
    return [time_copy(n, repeats=repeats, min_seconds=min_seconds) for n in sizes]
