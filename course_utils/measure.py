"""Measure this machine's links: ping-pong over MPI and torch.distributed, GPU copies.

Every measurement returns :class:`course_utils.membw.CopyMeasurement` objects (bytes,
seconds), the same type the host memory-copy benchmark returns, so one plot and one
fit serve all of them.

* :func:`mpi_pingpong` launches ``mpiexec -n 2 python -m course_utils.pingpong`` (the
  ``mpiexec`` next to this Python: MPICH from PyPI installs it there).
* :func:`torch_pingpong` launches the same worker with ``torchrun`` and the gloo backend.
* :func:`fit_alpha_beta` fits the alpha-beta model ``t = alpha + beta * n`` to
  (size, time) pairs.
* :func:`measure_until` repeats a measurement whose check failed, so that a second
  of disturbance on a shared machine does not count as a wrong model.
* :func:`gpu_copy_bandwidth` times host-to-device and device-to-host copies (pageable
  or pinned host memory) and device-to-device copies with CUDA events. It needs a
  CUDA GPU and raises ``RuntimeError`` without one.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np

from .membw import CopyMeasurement
from .parallel.costs import fit_relative_least_squares, message_time
from .parallel.launch import torchrun
from .validate import check_choice, check_int, check_number, check_series

__all__ = [
    "PingPongResult",
    "AlphaBeta",
    "default_pingpong_sizes",
    "mpiexec_path",
    "launch",
    "mpi_pingpong",
    "torch_pingpong",
    "fit_alpha_beta",
    "gpu_copy_bandwidth",
    "measure_until",
    "GPU_COPY_DIRECTIONS",
    "MARKER",
    "emit",
]

GPU_COPY_DIRECTIONS = ("h2d", "d2h", "d2d")

T = TypeVar("T")

#: Prefix of the result line that rank 0 of a launched worker prints (then JSON).
MARKER = "COURSE_UTILS_JSON "


def emit(result: dict) -> None:
    """Print ``result`` as the one line :func:`launch` looks for (call it on rank 0 only)."""
    print(MARKER + json.dumps(result), flush=True)


def measure_until(
    measure: Callable[[], T], accept: Callable[[T], bool], *, attempts: int = 3
) -> tuple[T, int]:
    """Call ``measure()`` until ``accept(result)`` holds, at most ``attempts`` times.

    Returns the last result and how many measurements it took. On a machine shared
    with other work, a burst of someone else's load can spoil every repeat of one
    short timing run; a fresh run a moment later usually is not spoiled. The caller
    still checks the returned result, so a disagreement that persists through every
    attempt is reported as what it is: the model does not fit this machine.
    """
    attempts = check_int("attempts", attempts, minimum=1)
    if not callable(measure) or not callable(accept):
        raise TypeError("measure and accept must be callables")
    result, tries = measure(), 1
    while not accept(result) and tries < attempts:
        result, tries = measure(), tries + 1
    return result, tries


@dataclass(frozen=True)
class AlphaBeta:
    """The alpha-beta model of one message: ``alpha`` seconds plus ``beta`` seconds per byte."""

    alpha: float
    beta: float

    @property
    def bandwidth(self) -> float:
        """Asymptotic bandwidth 1 / beta in bytes/s."""
        return 1.0 / self.beta

    def predict(self, nbytes: object) -> float | np.ndarray:
        """Model time in seconds for messages of ``nbytes`` bytes."""
        return message_time(nbytes, self.bandwidth, self.alpha)


@dataclass(frozen=True)
class PingPongResult:
    """One ping-pong curve: ``measurements[i].seconds`` is the one-way time of a message."""

    engine: str
    nprocs: int
    measurements: tuple[CopyMeasurement, ...]

    @property
    def nbytes(self) -> np.ndarray:
        """Message sizes in bytes."""
        return np.array([m.nbytes for m in self.measurements])

    @property
    def seconds(self) -> np.ndarray:
        """One-way times in seconds."""
        return np.array([m.seconds for m in self.measurements])

    def fit(self) -> AlphaBeta:
        """:func:`fit_alpha_beta` on this curve."""
        return fit_alpha_beta(self.nbytes, self.seconds)


def default_pingpong_sizes() -> list[int]:
    """Message sizes from 1 byte to 4 MiB, a factor of 4 apart (bytes)."""
    return [4**k for k in range(12)]


def mpiexec_path() -> Path:
    """The ``mpiexec`` beside ``sys.executable`` (a virtual environment's), else on PATH."""
    beside = Path(sys.executable).parent / "mpiexec"
    if beside.exists():
        return beside
    found = shutil.which("mpiexec")
    if found is None:
        raise RuntimeError(
            "no mpiexec found next to this Python or on PATH; install MPICH from PyPI: "
            "pip install mpich mpi4py")
    return Path(found)


def launch(engine: str, module: str, args: list[str], *, nprocs: int = 2,
           timeout: float = 120.0) -> list[dict]:
    """Run ``python -m module args`` as ``nprocs`` processes; return rank 0's JSON lines.

    Args:
        engine: ``"mpi"`` (``mpiexec -n nprocs``) or ``"torch"`` (``torchrun --standalone``,
            through :func:`course_utils.parallel.launch.torchrun`).
        module: a module whose rank 0 prints its result with :func:`emit`.
        args: extra command-line arguments for the module.
        nprocs: number of processes (>= 1).
        timeout: seconds before the run is killed.

    Raises:
        RuntimeError: the run failed, timed out, or printed no result line.
    """
    check_choice("engine", engine, ("mpi", "torch"))
    nprocs = check_int("nprocs", nprocs, minimum=1)
    timeout = check_number("timeout", timeout, minimum=0, strict_minimum=True)
    try:
        if engine == "mpi":
            cmd = [str(mpiexec_path()), "-n", str(nprocs), sys.executable, "-m", module, *args]
            env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
            proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  text=True, timeout=timeout, env=env)
        else:
            proc = torchrun(list(args), nprocs=nprocs, timeout=timeout, module=module)
    except subprocess.TimeoutExpired as exc:
        raise RuntimeError(f"{exc.cmd} did not finish in {timeout} s") from exc
    lines = [ln[len(MARKER):] for ln in proc.stdout.splitlines() if ln.startswith(MARKER)]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(
            f"{' '.join(map(str, proc.args))} failed (exit {proc.returncode}):\n"
            f"{proc.stdout[-3000:]}")
    return [json.loads(ln) for ln in lines]


def _pingpong(engine: str, sizes: list[int] | None, repeats: int, timeout: float) -> PingPongResult:
    sizes = default_pingpong_sizes() if sizes is None else list(sizes)
    if not sizes:
        raise ValueError("sizes must contain at least one message size in bytes")
    sizes = [check_int("sizes[i]", n, minimum=1) for n in sizes]
    repeats = check_int("repeats", repeats, minimum=1)
    (result,) = launch(engine, "course_utils.pingpong",
                       ["--engine", engine, "--repeats", str(repeats),
                        "--sizes", *map(str, sizes)], nprocs=2, timeout=timeout)
    return PingPongResult(
        engine="MPI (MPICH)" if engine == "mpi" else "torch.distributed (gloo)",
        nprocs=2,
        measurements=tuple(CopyMeasurement(n, t) for n, t in zip(result["nbytes"],
                                                                  result["seconds"], strict=True)),
    )


def mpi_pingpong(sizes: list[int] | None = None, *, repeats: int = 7,
                 timeout: float = 120.0) -> PingPongResult:
    """One-way message times between 2 MPI processes on this machine (mpi4py + MPICH).

    Args:
        sizes: message sizes in bytes (default :func:`default_pingpong_sizes`).
        repeats: timing runs per size; the fastest is kept.
        timeout: seconds before the run is killed.
    """
    return _pingpong("mpi", sizes, repeats, timeout)


def torch_pingpong(sizes: list[int] | None = None, *, repeats: int = 7,
                   timeout: float = 120.0) -> PingPongResult:
    """As :func:`mpi_pingpong`, with torch.distributed (gloo) processes started by torchrun."""
    return _pingpong("torch", sizes, repeats, timeout)


def fit_alpha_beta(nbytes: object, seconds: object) -> AlphaBeta:
    """Fit ``t = alpha + beta * n`` with alpha, beta >= 0, minimising relative error.

    Relative (not absolute) residuals let the small messages, which fix alpha, count as
    much as the large ones, which fix beta.

    Args:
        nbytes: message sizes in bytes (at least two different sizes).
        seconds: measured times in seconds (> 0), same length.
    """
    n, t = check_series("nbytes", nbytes, "seconds", seconds, x_word="sizes", x_minimum=0)
    alpha, beta = fit_relative_least_squares(np.ones_like(n), n, t)  # one message per time
    return AlphaBeta(alpha=alpha, beta=beta)


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
        sizes: bytes per copy (default 4 KiB ... 256 MiB, as :func:`membw.default_sizes`).
        pinned: page-locked host memory (``True``) or ordinary pageable memory.
        device: CUDA device index.
        peer: for ``"d2d"``, copy to this other GPU instead of within ``device``.
        repeats: timing runs per size (best kept); iterations: copies per run.

    Raises:
        RuntimeError: there is no CUDA GPU (``torch.cuda.is_available()`` is False).
    """
    from . import membw

    check_choice("direction", direction, GPU_COPY_DIRECTIONS)
    device = check_int("device", device, minimum=0)
    repeats = check_int("repeats", repeats, minimum=1)
    iterations = check_int("iterations", iterations, minimum=1)
    sizes = membw.default_sizes() if sizes is None else [check_int("sizes[i]", n, minimum=1)
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
