"""Time all-reduces (torch.distributed gloo/NCCL, and MPI) and dense-layer throughput.

Chapter 2, ``notebooks/dp_communication`` (measured all-reduce and the alpha-beta fit,
the batch-size efficiency curve).

Method (same for both engines): for each message size, a few warm-up calls, then
``repeats`` timed samples. A sample is a barrier followed by one all-reduce (or, with
``min_seconds`` > 0, by as many back-to-back all-reduces as last about that long); its
time is the **slowest rank's** elapsed time per call. Samples of different sizes are
interleaved. Both the **median** and the **minimum** over samples are reported: on a
machine shared with other work, single-call samples and the minimum (a call no other
process interrupted) give the steadiest figure; a loop of many calls almost always
contains an interruption. Sizes are bytes of float32 data.

Run it under a launcher; every rank must call it with the same arguments::

    python -m torch.distributed.run --nproc_per_node=2 -m course_utils.parallel.timing \
        --engine torch --out times.json
    mpiexec -n 2 python -m course_utils.parallel.timing --engine mpi --out times.json

Rank 0 prints (:func:`course_utils.core.measure.emit`) and, with ``--out``, writes
``{"engine", "backend", "world_size", "nbytes", "seconds", "min_seconds", "low_seconds",
"all_seconds"}``
as JSON (seconds per all-reduce: medians, minima, 10th percentiles, every run).

Used in: :doc:`/notebooks/dp_communication`.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import timeit
from collections.abc import Callable, Sequence

import numpy as np

from ..core.checks import check_choice, check_int, check_number
from ..core.launchers import ENGINES, init_distributed, launch, run_local
from ..core.measure import emit, low_quantile, measure_until, time_calls
from .costs import leave_one_out_errors

__all__ = [
    "default_sizes",
    "torch_allreduce_times",
    "mpi_allreduce_times",
    "MATMUL_PRECISIONS",
    "matmul_throughput",
    "measure_allreduce",
    "measure_allreduce_model",
    "main",
]


#: Precisions of :func:`matmul_throughput`: float32, float32 on TF32 tensor cores, bfloat16.
MATMUL_PRECISIONS = ("fp32", "tf32", "bf16")


def default_sizes() -> list[int]:
    """Message sizes in bytes: 4 KiB to 4 MiB, a factor of 4 apart (float32 data)."""
    return [4096 * 4**k for k in range(6)]


def _summarise(runs: list[list[float]]) -> dict[str, list]:
    return {
        "seconds": [float(np.median(r)) for r in runs],
        "min_seconds": [float(np.min(r)) for r in runs],
        "low_seconds": [low_quantile(r) for r in runs],
        "all_seconds": runs,
    }


def _check_timing_args(sizes: Sequence[int], repeats: int, min_seconds: float) -> list[int]:
    sizes = [check_int("sizes[i]", n, minimum=4) for n in sizes]
    if not sizes:
        raise ValueError("sizes must hold at least one message size in bytes")
    check_int("repeats", repeats, minimum=1)
    check_number("min_seconds", min_seconds, minimum=0)
    return sizes


def torch_allreduce_times(
    sizes: Sequence[int], *, repeats: int = 50, min_seconds: float = 0.0
) -> dict[str, list]:
    """All-reduce times of float32 tensors of ``sizes`` bytes with ``torch.distributed``.

    Needs an initialised default process group (tensors live on the GPU for NCCL).
    Returns ``{"seconds": medians, "min_seconds": minima, "low_seconds": 10th
    percentiles, "all_seconds": every run}``.
    """
    import torch
    import torch.distributed as dist

    sizes = _check_timing_args(sizes, repeats, min_seconds)
    device = torch.device("cpu")
    if dist.get_backend() == "nccl":
        device = torch.device("cuda", torch.cuda.current_device())

    def slowest(t: float) -> float:
        x = torch.tensor([t], dtype=torch.float64, device=device)
        dist.all_reduce(x, op=dist.ReduceOp.MAX)
        return float(x.item())

    def agree(k: int) -> int:
        x = torch.tensor([k], dtype=torch.int64, device=device)
        dist.broadcast(x, src=0)
        return int(x.item())

    def make_call(nbytes: int) -> Callable[[], None]:
        buf = torch.ones(max(1, nbytes // 4), dtype=torch.float32, device=device)

        def call() -> None:
            dist.all_reduce(buf)
            if device.type == "cuda":
                torch.cuda.synchronize(device)

        return call

    calls = [make_call(n) for n in sizes]
    runs = time_calls(
        calls, dist.barrier, slowest, agree, repeats=repeats, min_seconds=min_seconds
    )
    return _summarise(runs)


def mpi_allreduce_times(
    sizes: Sequence[int], *, repeats: int = 50, min_seconds: float = 0.0
) -> dict[str, list]:
    """``MPI_Allreduce`` times (mpi4py, float32 NumPy buffers) of ``sizes`` bytes; as above."""
    sizes = _check_timing_args(sizes, repeats, min_seconds)
    from mpi4py import MPI

    comm = MPI.COMM_WORLD

    def make_call(nbytes: int) -> Callable[[], None]:
        send = np.ones(max(1, nbytes // 4), dtype=np.float32)
        recv = np.empty_like(send)
        return lambda: comm.Allreduce(send, recv, op=MPI.SUM)

    runs = time_calls(
        [make_call(n) for n in sizes],
        comm.Barrier,
        lambda t: comm.allreduce(t, op=MPI.MAX),
        lambda k: comm.bcast(k, root=0),
        repeats=repeats,
        min_seconds=min_seconds,
    )
    return _summarise(runs)


def matmul_throughput(
    batch_sizes: Sequence[int],
    features: int = 1024,
    *,
    device: str = "cpu",
    repeats: int = 5,
    min_seconds: float = 0.02,
    precision: str = "fp32",
) -> list[float]:
    """Measured FLOP/s of a dense layer's product (batch x features) @ (features x features).

    One product is ``2 * batch * features**2`` FLOPs. For each batch size a run
    repeats the product for about ``min_seconds`` (at least once); the best of
    ``repeats`` runs counts. ``device`` is "cpu" or "cuda" (synchronised before the
    clock stops). ``precision`` (:data:`MATMUL_PRECISIONS`): "fp32" (float32, full
    precision), "tf32" (float32 data, TF32 tensor cores where the GPU has them; on a CPU
    the same as fp32) or "bf16" (bfloat16 data).
    """
    import torch

    features = check_int("features", features, minimum=1)
    repeats = check_int("repeats", repeats, minimum=1)
    check_choice("precision", precision, MATMUL_PRECISIONS)
    if not batch_sizes:
        raise ValueError("batch_sizes must hold at least one batch size")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"device must be 'cpu' or 'cuda[:N]', got {device!r}") from exc
    if dev.type not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'cpu' or 'cuda[:N]', got {device!r}")
    batch_sizes = [check_int("batch_sizes[i]", b, minimum=1) for b in batch_sizes]
    sync = (lambda: torch.cuda.synchronize(dev)) if dev.type == "cuda" else (lambda: None)
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    gen = torch.Generator().manual_seed(0)
    w = torch.randn(features, features, generator=gen).to(dev, dtype)
    saved = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("high" if precision == "tf32" else "highest")
    try:
        return [_matmul_rate(torch, x_rows=b, w=w, gen=gen, sync=sync, repeats=repeats,
                             min_seconds=min_seconds) for b in batch_sizes]
    finally:
        torch.set_float32_matmul_precision(saved)


def _matmul_rate(torch, *, x_rows: int, w, gen, sync, repeats: int, min_seconds: float) -> float:
    """FLOP/s of ``x @ w`` for one batch size (``x_rows`` rows), as described above."""
    features = w.shape[0]
    x = torch.randn(x_rows, features, generator=gen).to(w.device, w.dtype)

    def products(k: int = 1) -> None:
        for _ in range(k):
            torch.mm(x, w)
        sync()

    one = timeit.Timer(products).timeit(number=1)  # also the warm-up
    k = max(1, math.ceil(min_seconds / max(one, 1e-9)))
    best = min(timeit.Timer(lambda: products(k)).repeat(repeats, 1)) / k
    return 2.0 * x_rows * features * features / best


def measure_allreduce(
    engine: str,
    nprocs: int,
    sizes: Sequence[int] | None = None,
    *,
    repeats: int = 50,
    timeout: float = 300.0,
    backend: str = "gloo",
) -> dict:
    """Launch ``nprocs`` local processes that time all-reduces; return rank 0's result.

    ``engine="torch"``: forked workers with torch.distributed, via
    :func:`course_utils.core.launchers.run_local`, on ``backend`` (``"gloo"`` by default,
    so that a machine with GPUs measures the same TCP path as one without; ``"auto"``
    or ``"nccl"`` to time NCCL on GPUs). ``engine="mpi"``: ``mpiexec -n
    nprocs`` running this module with mpi4py (:func:`course_utils.core.launchers.launch`).
    """
    check_choice("engine", engine, ENGINES)
    nprocs = check_int("nprocs", nprocs, minimum=1, maximum=64)
    sizes = list(default_sizes() if sizes is None else sizes)
    if not sizes:
        raise ValueError("sizes must contain at least one message size in bytes")
    sizes = [check_int("sizes[i]", n, minimum=4) for n in sizes]
    repeats = check_int("repeats", repeats, minimum=1)
    check_choice("backend", backend, ("auto", "gloo", "nccl"))
    argv = [f"--engine={engine}", f"--repeats={repeats}", f"--backend={backend}", "--sizes",
            *map(str, sizes)]
    if engine == "torch":
        return run_local(main, (argv,), nprocs=nprocs, timeout=timeout)[0]
    (result,) = launch("mpi", __name__, argv, nprocs=nprocs, timeout=timeout)
    return result


def measure_allreduce_model(
    nprocs: int = 2,
    sizes: Sequence[int] | None = None,
    *,
    engine: str = "torch",
    repeats: int = 100,
    attempts: int = 3,
    tolerance: float = 0.25,
    first: dict | None = None,
) -> tuple[dict, np.ndarray, int]:
    """Time all-reduces until the alpha-beta model predicts every size within ``tolerance``.

    Each size is predicted from a fit to the other sizes
    (:func:`course_utils.parallel.costs.leave_one_out_errors`) using ``low_seconds``, the
    10th percentile of every sample so far. When a prediction misses, ``repeats`` more
    samples per size are taken and pooled with the earlier ones (``attempts`` series at
    most, :func:`course_utils.core.measure.measure_until`), so one burst of someone
    else's load cannot fail the model. ``first`` reuses a :func:`measure_allreduce`
    result as the first series. Returns (pooled result, relative errors, series used);
    the caller checks the errors (with :func:`course_utils.core.measure.check_timing`).
    """
    tolerance = check_number("tolerance", tolerance, minimum=0, strict_minimum=True)
    attempts = check_int("attempts", attempts, minimum=1)
    if first is None:
        first = measure_allreduce(engine, nprocs, sizes, repeats=repeats)
    elif not isinstance(first, dict) or "all_seconds" not in first:
        raise TypeError("first must be a result of measure_allreduce (a dict with all_seconds)")
    state = {"result": first, "series": 0}

    def next_errors() -> np.ndarray:
        result = state["result"]
        if state["series"] > 0:  # a miss: pool the earlier samples with fresh ones
            new = measure_allreduce(result["engine"], result["world_size"], result["nbytes"],
                                    repeats=repeats)
            runs = [a + b for a, b in zip(result["all_seconds"], new["all_seconds"],
                                          strict=True)]
            result = state["result"] = result | _summarise(runs)
        state["series"] += 1
        return leave_one_out_errors(result["nbytes"], result["world_size"],
                                    result["low_seconds"])

    errors, used = measure_until(next_errors, lambda e: bool(np.abs(e).max() < tolerance),
                                 attempts=attempts)
    return state["result"], errors, used


def main(argv: Sequence[str] | None = None) -> dict:
    """Command-line entry point (see the module docstring). Returns rank 0's result."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", choices=("torch", "mpi"), default="torch")
    parser.add_argument("--sizes", type=int, nargs="+", default=default_sizes())
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--min-seconds", type=float, default=0.0)
    parser.add_argument("--backend", choices=("auto", "gloo", "nccl"), default="auto",
                        help="torch engine: process-group backend (auto: NCCL with a GPU "
                             "per process, else gloo)")
    parser.add_argument("--out", default=None, help="JSON file written by rank 0")
    args = parser.parse_args(argv)
    if min(args.sizes) < 4 or args.repeats < 1:
        parser.error("--sizes must be >= 4 bytes and --repeats >= 1")

    if args.engine == "mpi":
        from mpi4py import MPI

        rank, world, backend = MPI.COMM_WORLD.Get_rank(), MPI.COMM_WORLD.Get_size(), "mpi"
        times = mpi_allreduce_times(args.sizes, repeats=args.repeats, min_seconds=args.min_seconds)
    else:
        import torch.distributed as dist

        backend, _device = init_distributed(args.backend)
        rank, world = dist.get_rank(), dist.get_world_size()
        times = torch_allreduce_times(
            args.sizes, repeats=args.repeats, min_seconds=args.min_seconds
        )
        dist.destroy_process_group()
    result = {
        "engine": args.engine,
        "backend": backend,
        "world_size": world,
        "nbytes": list(args.sizes),
        **times,
        "host_cpus": os.cpu_count(),
    }
    if rank == 0:
        emit(result)
        if args.out:
            with open(args.out, "w") as f:
                json.dump(result, f)
    return result


if __name__ == "__main__":
    main()
