"""Ping-pong between two processes: the launchers, the worker, and the fitted result.

Chapter 1, ``notebooks/mgpu_measure`` ("Measuring the links"). :func:`mpi_pingpong`
and :func:`torch_pingpong` launch this module as a worker under ``mpiexec`` (mpi4py +
MPICH) or ``torchrun`` (gloo); run it by hand as one process per rank::

    mpiexec -n 2 python -m course_utils.systems.pingpong --engine mpi
    torchrun --standalone --nproc-per-node 2 -m course_utils.systems.pingpong --engine torch

Rank 0 sends a message of ``n`` bytes to rank 1, which sends it straight back; half the
round-trip time is the one-way time of an ``n``-byte message. For each size the
round trip is timed with the same loop as the all-reduce benchmark of the
data-parallelism chapter (warm-up, barrier, a repeat count calibrated so one run lasts
at least :data:`PINGPONG_MIN_RUN_SECONDS`, the slowest rank's time) and the fastest of ``repeats``
runs (:data:`PINGPONG_REPEATS`) is kept.
Rank 0 prints one result line (:func:`course_utils.core.measure.emit`) with the sizes
(bytes) and one-way times (seconds), which the launchers parse into a
:class:`PingPongResult`.

Used in: :doc:`/notebooks/mgpu_measure`.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ..core.alphabeta import AlphaBeta, fit_alpha_beta
from ..core.checks import check_int
from ..core.launchers import launch
from ..core.measure import CopyMeasurement, emit, time_calls

__all__ = [
    "PingPongResult",
    "PINGPONG_REPEATS",
    "PINGPONG_MIN_RUN_SECONDS",
    "default_pingpong_sizes",
    "mpi_pingpong",
    "torch_pingpong",
    "pingpong_times",
    "main",
]


#: Timing runs per message size (the fastest is kept) and the shortest run, seconds.
PINGPONG_REPEATS = 7
PINGPONG_MIN_RUN_SECONDS = 0.005


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
        """The alpha-beta model fitted to this curve (:func:`~course_utils.core.fit_alpha_beta`)."""
        return fit_alpha_beta(self.nbytes, self.seconds)


def default_pingpong_sizes() -> list[int]:
    """Message sizes from 1 byte to 4 MiB, a factor of 4 apart (bytes)."""
    return [4**k for k in range(12)]


def _pingpong(engine: str, sizes: list[int] | None, repeats: int, timeout: float) -> PingPongResult:
    sizes = default_pingpong_sizes() if sizes is None else list(sizes)
    if not sizes:
        raise ValueError("sizes must contain at least one message size in bytes")
    sizes = [check_int("sizes[i]", n, minimum=1) for n in sizes]
    repeats = check_int("repeats", repeats, minimum=1)
    (result,) = launch(engine, __name__, ["--engine", engine, "--repeats", str(repeats),
                                          "--sizes", *map(str, sizes)],
                       nprocs=2, timeout=timeout)
    return PingPongResult(
        engine="MPI (MPICH)" if engine == "mpi" else "torch.distributed (gloo)",
        nprocs=2,
        measurements=tuple(CopyMeasurement(n, t) for n, t in zip(result["nbytes"],
                                                                  result["seconds"], strict=True)),
    )


def mpi_pingpong(sizes: list[int] | None = None, *, repeats: int = PINGPONG_REPEATS,
                 timeout: float = 120.0) -> PingPongResult:
    """One-way message times between 2 MPI processes on this machine (mpi4py + MPICH).

    Args:
        sizes: message sizes in bytes (default :func:`default_pingpong_sizes`).
        repeats: timing runs per size; the fastest is kept.
        timeout: seconds before the run is killed.
    """
    return _pingpong("mpi", sizes, repeats, timeout)


def torch_pingpong(sizes: list[int] | None = None, *, repeats: int = PINGPONG_REPEATS,
                   timeout: float = 120.0) -> PingPongResult:
    """As :func:`mpi_pingpong`, with torch.distributed (gloo) processes started by torchrun."""
    return _pingpong("torch", sizes, repeats, timeout)


def pingpong_times(
    round_trip: Callable[[object], None],
    make_buffer: Callable[[int], object],
    barrier: Callable[[], None],
    slowest: Callable[[float], float],
    agree: Callable[[int], int],
    sizes: Sequence[int],
    *,
    repeats: int = 5,
    min_seconds: float = PINGPONG_MIN_RUN_SECONDS,
) -> list[float]:
    """One-way seconds per message size: half the fastest round-trip time (engine-neutral).

    ``round_trip(buf)`` sends ``buf`` to the peer and receives it back (rank 0) or the
    reverse (rank 1); the timing loop is :func:`course_utils.core.measure.time_calls`
    (barrier, calibrated repeat count agreed by all ranks, slowest rank's time, runs of
    all sizes interleaved). The fastest of ``repeats`` runs is kept: on a shared machine
    the slower runs measure the other programs, not the link.
    """
    sizes = [check_int("sizes[i]", n, minimum=1) for n in sizes]
    if not sizes:
        raise ValueError("sizes must hold at least one message size in bytes")
    repeats = check_int("repeats", repeats, minimum=1)
    warm = make_buffer(1)
    for _ in range(50):  # first messages set up connections and buffers
        round_trip(warm)
    buffers = [make_buffer(n) for n in sizes]
    calls = [lambda buf=buf: round_trip(buf) for buf in buffers]
    runs = time_calls(calls, barrier, slowest, agree, repeats=repeats, min_seconds=min_seconds)
    return [min(r) / 2 for r in runs]


def _time_mpi(sizes: list[int], repeats: int) -> list[float]:
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    rank = comm.Get_rank()
    peer = 1 - rank

    def round_trip(buf: np.ndarray) -> None:
        if rank == 0:
            comm.Send(buf, dest=peer)
            comm.Recv(buf, source=peer)
        else:
            comm.Recv(buf, source=peer)
            comm.Send(buf, dest=peer)

    return pingpong_times(round_trip, lambda n: np.zeros(n, dtype=np.uint8), comm.Barrier,
                          lambda t: comm.allreduce(t, op=MPI.MAX),
                          lambda k: comm.bcast(k, root=0), sizes, repeats=repeats)


def _time_torch(sizes: list[int], repeats: int) -> list[float]:
    import torch
    import torch.distributed as dist

    from ..core.launchers import init_distributed

    init_distributed("gloo")  # CPU tensors: this measures the host's loopback path
    rank = dist.get_rank()
    peer = 1 - rank

    def round_trip(buf: torch.Tensor) -> None:
        if rank == 0:
            dist.send(buf, dst=peer)
            dist.recv(buf, src=peer)
        else:
            dist.recv(buf, src=peer)
            dist.send(buf, dst=peer)

    def slowest(t: float) -> float:
        x = torch.tensor([t], dtype=torch.float64)
        dist.all_reduce(x, op=dist.ReduceOp.MAX)
        return float(x.item())

    def agree(k: int) -> int:
        x = torch.tensor([k], dtype=torch.int64)
        dist.broadcast(x, src=0)
        return int(x.item())

    try:
        return pingpong_times(round_trip, lambda n: torch.zeros(n, dtype=torch.uint8),
                              dist.barrier, slowest, agree, sizes, repeats=repeats)
    finally:
        dist.destroy_process_group()


def _rank_and_size(engine: str) -> tuple[int, int]:
    if engine == "mpi":
        from mpi4py import MPI

        return MPI.COMM_WORLD.Get_rank(), MPI.COMM_WORLD.Get_size()
    import os

    return int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])


def main(argv: list[str] | None = None) -> None:
    """Parse ``--engine``, ``--sizes`` and ``--repeats``, time, and print on rank 0."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", choices=("mpi", "torch"), required=True)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 1024, 1 << 20])
    parser.add_argument("--repeats", type=int, default=PINGPONG_REPEATS)
    args = parser.parse_args(argv)
    rank, size = _rank_and_size(args.engine)
    if size != 2:
        raise SystemExit(f"ping-pong needs exactly 2 processes, got {size}")
    timer = _time_mpi if args.engine == "mpi" else _time_torch
    seconds = timer(args.sizes, args.repeats)
    if rank == 0:
        emit({"engine": args.engine, "nbytes": args.sizes, "seconds": seconds})


if __name__ == "__main__":
    main()
