"""Measure memory-copy bandwidth: host to host (the reader's first figure), and GPU copies.

Used by the setup page (``notebooks/setup``) and chapter 1 (``notebooks/mgpu_hardware``,
``notebooks/mgpu_measure``).

Method: copy a ``nbytes`` buffer into another, already allocated and touched, with
``numpy.copyto`` (a ``memcpy``). Repeat the copy until one timing run lasts at least
``min_seconds``, so the timer's resolution and Python's call overhead do not matter,
and keep the fastest of ``repeats`` runs (the least-disturbed one). Report
``nbytes / time``: bytes copied per second. The memory system moves more than that:
each byte is read once and written once (2x), and a write to a line not in cache
may first read it (write-allocate, up to 3x).

:func:`gpu_copy_bandwidth` times host-to-device and device-to-host copies (pageable or
pinned host memory) and device-to-device copies with CUDA events. It needs a CUDA GPU
and raises ``RuntimeError`` without one. :func:`measure_gpu_copies` runs every series
(pageable and pinned each way, device to device, and to a second GPU where there is
one) and :func:`copies_report` shows a committed measurement of them
(``course_utils/data/copies_gpu.json``, written by ``benchmarks/gpu_all.py``) beside this
machine's host copies, labelled with the GPU and the date.

Used in: :doc:`/notebooks/setup`, :doc:`/notebooks/mgpu_hardware`,
:doc:`/notebooks/mgpu_measure`.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from ..core.checks import check_choice, check_int, check_number
from ..core.measure import CopyMeasurement
from ..core.provenance import pending_note, result_label

__all__ = [
    "CopyMeasurement",
    "COPY_REPEATS",
    "COPY_MIN_RUN_SECONDS",
    "time_copy",
    "host_copy_bandwidth",
    "default_sizes",
    "GPU_COPY_DIRECTIONS",
    "gpu_copy_bandwidth",
    "COPY_SERIES",
    "measure_gpu_copies",
    "copies_report",
]

GPU_COPY_DIRECTIONS = ("h2d", "d2h", "d2d")
#: Host copies: timing runs per size (the fastest is kept) and the shortest run, seconds.
COPY_REPEATS = 5
COPY_MIN_RUN_SECONDS = 0.01
#: The GPU copy series: key -> (direction, pinned host memory, label).
COPY_SERIES = {
    "h2d_pageable": ("h2d", False, "host -> GPU, pageable"),
    "h2d_pinned": ("h2d", True, "host -> GPU, pinned"),
    "d2h_pageable": ("d2h", False, "GPU -> host, pageable"),
    "d2h_pinned": ("d2h", True, "GPU -> host, pinned"),
    "d2d": ("d2d", True, "GPU -> same GPU"),
}


def default_sizes() -> list[int]:
    """Buffer sizes in bytes from 4 KiB to 256 MiB, a factor of 4 apart."""
    return [4096 * 4**k for k in range(0, 9)]


def time_copy(nbytes: int, *, repeats: int = COPY_REPEATS,
              min_seconds: float = COPY_MIN_RUN_SECONDS) -> CopyMeasurement:
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
    sizes: list[int] | None = None, *, repeats: int = COPY_REPEATS,
    min_seconds: float = COPY_MIN_RUN_SECONDS,
) -> list[CopyMeasurement]:
    """Measure :func:`time_copy` for each size in ``sizes`` (bytes).

    ``sizes`` defaults to :func:`default_sizes`.
    """
    sizes = default_sizes() if sizes is None else list(sizes)
    if not sizes:
        raise ValueError("sizes must contain at least one size in bytes")
    for n in sizes:
        check_int("sizes[i]", n, minimum=1)
    return [time_copy(n, repeats=repeats, min_seconds=min_seconds) for n in sizes]


def gpu_copy_bandwidth(
    direction: str,
    sizes: list[int] | None = None,
    *,
    pinned: bool = True,
    device: int = 0,
    peer: int | None = None,
    repeats: int = 5,
    iterations: int = 10,
) -> list[CopyMeasurement]:
    """Time copies between host and GPU memory, or within/between GPUs, with CUDA events.

    Args:
        direction: ``"h2d"`` (host to device), ``"d2h"`` or ``"d2d"``.
        sizes: bytes per copy (default 4 KiB ... 256 MiB, as :func:`default_sizes`).
        pinned: page-locked host memory (``True``) or ordinary pageable memory.
        device: CUDA device index.
        peer: for ``"d2d"``, copy to this other GPU instead of within ``device``.
        repeats: timing runs per size (best kept); iterations: copies per run.

    Raises:
        RuntimeError: there is no CUDA GPU (``torch.cuda.is_available()`` is False).
    """
    check_choice("direction", direction, GPU_COPY_DIRECTIONS)
    device = check_int("device", device, minimum=0)
    repeats = check_int("repeats", repeats, minimum=1)
    iterations = check_int("iterations", iterations, minimum=1)
    sizes = default_sizes() if sizes is None else [check_int("sizes[i]", n, minimum=1)
                                                          for n in sizes]
    import torch

    if not torch.cuda.is_available():
        raise RuntimeError("gpu_copy_bandwidth needs a CUDA GPU: torch.cuda.is_available() is "
                           "False on this machine")
    count = torch.cuda.device_count()
    if device >= count or (peer is not None and not 0 <= peer < count):
        raise ValueError(f"device and peer must be CUDA device indices below {count}")
    dev = torch.device("cuda", device)
    dst_dev = dev if peer is None else torch.device("cuda", peer)
    out = []
    with torch.cuda.device(dev):  # events and copies on this device's stream
        for n in sizes:
            if direction == "h2d":
                src = torch.ones(n, dtype=torch.uint8, pin_memory=pinned)
                dst = torch.empty(n, dtype=torch.uint8, device=dev)
            elif direction == "d2h":
                src = torch.ones(n, dtype=torch.uint8, device=dev)
                dst = torch.empty(n, dtype=torch.uint8, pin_memory=pinned)
            else:
                src = torch.ones(n, dtype=torch.uint8, device=dev)
                dst = torch.empty(n, dtype=torch.uint8, device=dst_dev)
            non_blocking = pinned or direction == "d2d"
            dst.copy_(src, non_blocking=non_blocking)  # warm-up (and page-in)
            torch.cuda.synchronize(dev)
            best = float("inf")
            for _ in range(repeats):
                start = torch.cuda.Event(enable_timing=True)
                end = torch.cuda.Event(enable_timing=True)
                start.record()
                for _ in range(iterations):
                    dst.copy_(src, non_blocking=non_blocking)
                end.record()
                end.synchronize()
                best = min(best, start.elapsed_time(end) / 1e3 / iterations)  # ms -> s
            if int(dst[: min(n, 4096)].min()) != 1:
                raise RuntimeError("copy check failed")  # pragma: no cover
            out.append(CopyMeasurement(nbytes=n, seconds=best))
    torch.cuda.synchronize(dev)
    return out


def measure_gpu_copies(
    sizes: list[int] | None = None,
    *,
    peer: int | None = None,
    repeats: int = 5,
    iterations: int = 10,
    timer: Callable[..., list[CopyMeasurement]] | None = None,
) -> dict:
    """Every series of :data:`COPY_SERIES` over ``sizes`` (bytes), and GPU 0 -> ``peer``.

    Returns ``{"sizes": [...], "series": {key: {"label", "direction", "pinned",
    "seconds", "bytes_per_second"}}}`` (one value per size): the layout of
    ``copies_gpu.json``. ``timer`` times one series, with :func:`gpu_copy_bandwidth`'s
    arguments (default: that function; ``benchmarks/gpu_all.py --tiny`` passes a host
    stand-in on a machine without a GPU, to run every other line).
    """
    sizes = default_sizes() if sizes is None else [check_int("sizes[i]", n, minimum=1)
                                                          for n in sizes]
    if not sizes:
        raise ValueError("sizes must contain at least one size in bytes")
    if peer is not None:
        check_int("peer", peer, minimum=1)
    timer = gpu_copy_bandwidth if timer is None else timer
    if not callable(timer):
        raise TypeError(f"timer must be callable, got {type(timer).__name__}")
    plan = {k: (d, pinned, label, None) for k, (d, pinned, label) in COPY_SERIES.items()}
    if peer is not None:
        plan[f"d2d_peer{peer}"] = ("d2d", True, f"GPU 0 -> GPU {peer}", peer)
    series = {}
    for key, (direction, pinned, label, to) in plan.items():
        ms = timer(direction, sizes, pinned=pinned, peer=to, repeats=repeats,
                   iterations=iterations)
        series[key] = {"label": label, "direction": direction, "pinned": pinned,
                       "seconds": [m.seconds for m in ms],
                       "bytes_per_second": [m.bandwidth for m in ms]}
    return {"sizes": list(sizes), "series": series}


def copies_report(gpu: dict | None, host: list[CopyMeasurement] | None = None) -> tuple:
    """A GPU copy measurement (``copies_gpu.json``) as text and a figure beside ``host``.

    ``gpu``: a result of :func:`measure_gpu_copies` with a ``"machine"`` block
    (:func:`course_utils.core.provenance.load_results`), or ``None`` when none was
    committed: then the text is the "pending" line and the figure ``None``.
    ``host``: this machine's :func:`host_copy_bandwidth`, drawn for comparison.
    Returns ``(text, matplotlib figure or None)``; every GPU curve's label names the
    device and the date.
    """
    if gpu is None:
        return pending_note("copies_gpu"), None
    if not isinstance(gpu, dict) or not isinstance(gpu.get("series"), dict) or not gpu["series"]:
        raise TypeError("gpu must be a copies result (a dict with 'machine', 'sizes' and "
                        "'series') or None")
    if host is not None and not all(isinstance(m, CopyMeasurement) for m in host):
        raise TypeError("host must be a list of CopyMeasurement (host_copy_bandwidth) or None")
    import matplotlib.pyplot as plt

    label, sizes = result_label(gpu), gpu["sizes"]
    lines = [f"GPU copies measured on {result_label(gpu, detail=True)} (GB/s, 10^9 B/s)",
             f"{'copy':<24}" + "".join(f"{_size(n):>10}" for n in sizes)]
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    for s in gpu["series"].values():
        rates = np.asarray(s["bytes_per_second"], dtype=float)
        lines.append(f"{s['label']:<24}" + "".join(f"{r / 1e9:>10.3g}" for r in rates))
        ax.loglog(sizes, rates / 1e9, "o-", label=f"{s['label']} ({label})")
    if host:
        ax.loglog([m.nbytes for m in host], [m.gb_per_s for m in host], "k--",
                  label="host -> host, this machine (measured now)")
    ax.set(xlabel="bytes per copy", ylabel="GB/s (bytes copied per second)",
           title=f"Copies on {label}")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return "\n".join(lines), fig


def _size(n: int) -> str:
    return f"{n >> 20} MiB" if n >= 1 << 20 else f"{n >> 10} KiB" if n >= 1 << 10 else f"{n} B"
