"""Start multi-process jobs: forked workers from Python, or the real launchers.

Two ways, one module:

* :func:`run_local` runs a Python function in ``nprocs`` local processes that see
  exactly the environment variables ``torchrun`` sets (``RANK``, ``WORLD_SIZE``,
  ``LOCAL_RANK``, ``LOCAL_WORLD_SIZE``, ``MASTER_ADDR``, ``MASTER_PORT``), so the worker
  code cannot tell the difference, and returns what each rank returned. The workers
  are forked from a *fork server*: one clean, single-threaded helper process that
  imports torch and the worker's module once, then forks a worker per rank in
  milliseconds (``torchrun`` starts each process afresh, seconds on a 2-core machine;
  forking a Jupyter kernel directly is unsafe, as its threads may hold locks).
* :func:`launch` runs ``python -m module`` under the real launcher, ``mpiexec``
  (:func:`mpiexec`) or ``torchrun`` (:func:`torchrun`), and returns the JSON results
  its rank 0 printed with :func:`course_utils.core.measure.emit`.

:func:`init_distributed` is how every torch.distributed worker in the course joins its
process group; :func:`choose_backend` is its one decision: NCCL with one GPU per local
process, gloo on the CPU otherwise. NCCL never gets more local processes than GPUs: on a
1-GPU machine (Colab) a 2-process run falls back to gloo, and a 1-process run uses NCCL on
``cuda:0``; asking for ``"nccl"`` with too few GPUs raises before any group is made.

:func:`mpiexec_path` looks for MPICH's launcher where ``pip install mpich`` put it
(read from the wheel's own file list, so a system Python as on Colab, whose scripts go
to ``/usr/local/bin``, finds it too), and :func:`mpiexec` tells mpi4py where that
wheel's ``libmpi`` is.

Used by chapter 1 (``mgpu_measure``: ping-pong, one process per GPU), chapter 2
(``dp_real_runs``, ``dp_communication``, ``dp_compression``) and chapter 3
(``mp_split_layers``).

Used in: :doc:`/notebooks/mgpu_measure`, :doc:`/notebooks/dp_real_runs`,
:doc:`/notebooks/dp_communication`, :doc:`/notebooks/dp_compression`,
:doc:`/notebooks/mp_split_layers`.
"""

from __future__ import annotations

import faulthandler
import importlib.metadata
import json
import multiprocessing as mp
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .checks import check_choice, check_int, check_number
from .measure import MARKER

__all__ = [
    "free_port",
    "choose_backend",
    "init_distributed",
    "run_local",
    "torchrun",
    "mpiexec",
    "mpiexec_path",
    "launch",
]

ENGINES = ("mpi", "torch")
#: Accepted ``backend`` values: "auto" lets :func:`choose_backend` decide.
BACKENDS = ("auto", "gloo", "nccl")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (for the rendezvous)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def choose_backend(backend: str = "auto", local_world_size: int = 1) -> str:
    """The process-group backend for one of ``local_world_size`` processes on this machine.

    ``"auto"``: ``"nccl"`` when PyTorch has NCCL and sees at least one CUDA GPU per local
    process (``torch.cuda.device_count() >= local_world_size``), else ``"gloo"`` (CPU).
    With 1 GPU and 2 processes that is gloo: two NCCL ranks on one GPU are not allowed.
    ``"gloo"`` is always possible; ``"nccl"`` is checked against the same rule.

    Raises:
        ValueError: ``backend`` is not one of "auto", "gloo", "nccl", ``local_world_size``
            is not a whole number >= 1, or "nccl" was asked for without one GPU per
            local process.
    """
    check_choice("backend", backend, BACKENDS)
    local_world_size = check_int("local_world_size", local_world_size, minimum=1)
    if backend == "gloo":
        return "gloo"
    import torch
    import torch.distributed as dist

    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    nccl_possible = gpus >= local_world_size and dist.is_nccl_available()
    if backend == "nccl" and not nccl_possible:
        raise ValueError(
            f"backend 'nccl' needs a CUDA GPU for each of the {local_world_size} local "
            f"processes and a PyTorch built with NCCL; this machine has {gpus} GPU(s), "
            f"NCCL {'available' if dist.is_nccl_available() else 'not available'}. "
            "Use backend='gloo' or 'auto', or run at most one process per GPU")
    return "nccl" if nccl_possible else "gloo"


def init_distributed(backend: str | None = "auto") -> tuple[str, Any]:
    """Initialise the default process group from torchrun's environment variables.

    ``backend``: "auto" (or ``None``), "gloo" or "nccl", decided by
    :func:`choose_backend` for this machine's ``LOCAL_WORLD_SIZE``: NCCL puts process
    ``LOCAL_RANK`` on ``cuda:LOCAL_RANK``, gloo on the CPU. Without torchrun's variables it
    starts a 1-process group. Returns ``(backend, device)`` (a ``torch.device``).
    """
    import torch
    import torch.distributed as dist

    backend = check_choice("backend", "auto" if backend is None else backend, BACKENDS)
    if "RANK" not in os.environ:  # plain `python -m ...`: a world of one
        os.environ.update(RANK="0", WORLD_SIZE="1", LOCAL_RANK="0", LOCAL_WORLD_SIZE="1")
        os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
        os.environ.setdefault("MASTER_PORT", str(29400 + os.getpid() % 1000))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    backend = choose_backend(backend, int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
    device = torch.device("cpu")
    if backend == "nccl":
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
        store, _, _ = next(dist.rendezvous("env://", rank, world))
        # After a restart the rendezvous store may still hold the dead attempt's keys:
        # give every attempt its own key prefix.
        attempt = os.environ.get("TORCHELASTIC_RESTART_COUNT", "0")
        store = dist.PrefixStore(f"course_utils/attempt{attempt}/", store)
        dist.init_process_group(backend=backend, store=store, rank=rank, world_size=world)
    return backend, device


def _worker(rank: int, world: int, port: int, target: Callable, args: tuple,
            process_group: str | None, env: dict[str, str], log_file: str,
            result_file: str) -> None:
    # Everything the worker prints, Python or C++, goes to its log file: run_local
    # reports the tail on failure. On a timeout run_local sends SIGUSR1 and the worker
    # adds its Python stacks to the log.
    log = open(log_file, "w")  # noqa: SIM115 (lives as long as the worker)
    os.dup2(log.fileno(), 1)
    os.dup2(log.fileno(), 2)
    faulthandler.register(signal.SIGUSR1, file=log, all_threads=True)
    os.environ.update(env)
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank),
                      LOCAL_WORLD_SIZE=str(world), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port), OMP_NUM_THREADS="1")
    import torch

    torch.set_num_threads(1)  # as torchrun does (OMP_NUM_THREADS=1)
    if process_group is None:
        result = target(*args)
    else:
        import torch.distributed as dist

        init_distributed(process_group)
        try:
            result = target(dist.get_rank(), dist.get_world_size(), *args)
        finally:
            dist.destroy_process_group()
    torch.save(result, result_file)


def _preload(target: Callable, args: tuple) -> list[str]:
    """Modules the fork server imports once: torch, and the modules of the functions run."""
    mods = ["torch", "torch.distributed", "torch._dynamo"]  # DDP alone pulls in dynamo
    for fn in (target, *args):
        name = getattr(fn, "__module__", None) if callable(fn) else None
        if name and name != "__main__" and name not in mods:
            mods.append(name)
    return mods


def run_local(
    target: Callable,
    args: tuple = (),
    *,
    nprocs: int = 2,
    process_group: str | None = None,
    timeout: float = 120.0,
    env: dict[str, str] | None = None,
    start_method: str = "forkserver",
) -> list:
    """Run ``target`` in ``nprocs`` local processes; return each rank's return value.

    Args:
        target: a module-level function (it is pickled to the workers).
        args: its arguments.
        nprocs: number of processes (1 ... 64).
        process_group: ``None``: call ``target(*args)`` (it joins a group itself, as
            under torchrun). ``"gloo"``, ``"nccl"`` or ``"auto"``
            (:func:`choose_backend`): join that process group first, call
            ``target(rank, world_size, *args)``, leave the group after.
        timeout: seconds before the workers are killed (> 0).
        env: extra environment variables for the workers.
        start_method: ``"forkserver"`` (default), ``"fork"`` or ``"spawn"``.

    Returns:
        The ranks' return values in rank order (anything ``torch.save`` can store).

    Raises:
        RuntimeError: naming the ranks that failed or timed out, with the end of their
            logs (the workers' output goes to log files, not to the caller's console).
    """
    if not callable(target):
        raise TypeError(f"target must be callable, got {type(target).__name__}")
    if not isinstance(args, tuple):
        raise TypeError(f"args must be a tuple, got {type(args).__name__}")
    nprocs = check_int("nprocs", nprocs, minimum=1, maximum=64)
    if process_group is not None:
        check_choice("process_group", process_group, BACKENDS)
    timeout = check_number("timeout", timeout, minimum=0, strict_minimum=True)
    start_method = check_choice("start_method", start_method, ("fork", "spawn", "forkserver"))
    ctx = mp.get_context(start_method)
    if start_method == "forkserver":
        ctx.set_forkserver_preload(_preload(target, args))
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="run_local_") as tmp:
        logs = [Path(tmp) / f"rank{r}.log" for r in range(nprocs)]
        results = [Path(tmp) / f"rank{r}.pt" for r in range(nprocs)]
        procs = [
            ctx.Process(target=_worker,
                        args=(r, nprocs, port, target, args, process_group, dict(env or {}),
                              str(logs[r]), str(results[r])),
                        daemon=True)
            for r in range(nprocs)
        ]
        for p in procs:
            p.start()
        deadline = time.monotonic() + timeout
        for p in procs:
            p.join(max(0.0, deadline - time.monotonic()))
        failed = []
        for rank, p in enumerate(procs):
            if p.is_alive():
                os.kill(p.pid, signal.SIGUSR1)  # ask for its stack first
                time.sleep(0.5)
                p.kill()
                p.join()
                failed.append(f"rank {rank} timed out after {timeout:g} s")
            elif p.exitcode != 0:
                failed.append(f"rank {rank} exited with code {p.exitcode}")
            else:
                continue
            failed[-1] += ". Its log ends:\n" + logs[rank].read_text(errors="replace")[-1500:]
        if failed:
            raise RuntimeError("local distributed run failed: " + "\n".join(failed))
        import torch

        return [torch.load(f, weights_only=False) for f in results]


def torchrun(
    module_args: Sequence[str],
    *,
    nprocs: int = 2,
    max_restarts: int = 0,
    timeout: float = 300.0,
    module: str = "course_utils.parallel.train_ddp",
) -> subprocess.CompletedProcess:
    """Run ``torchrun --standalone --nproc_per_node=nprocs -m module *module_args``.

    Returns the completed process (``returncode``, ``stdout`` with stderr merged).
    """
    nprocs = check_int("nprocs", nprocs, minimum=1, maximum=64)
    max_restarts = check_int("max_restarts", max_restarts, minimum=0)
    timeout = check_number("timeout", timeout, minimum=0, strict_minimum=True)
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--standalone",
        f"--nproc_per_node={nprocs}", f"--max-restarts={max_restarts}",
        "--monitor-interval=0.2", "-m", module, *module_args,
    ]  # fmt: skip
    return subprocess.run(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )


def _mpich_wheel() -> tuple[Path | None, Path | None]:
    """``(mpiexec, libmpi)`` of the installed ``mpich`` wheel, from its own file list.

    pip puts the wheel's ``bin/`` and ``lib/`` under the install scheme's prefix: the
    virtual environment, or ``/usr/local`` for a system Python such as Colab's (whose
    ``sys.executable`` is ``/usr/bin/python3``). ``(None, None)`` without the wheel.
    """
    try:
        files = importlib.metadata.distribution("mpich").files or []
    except importlib.metadata.PackageNotFoundError:
        return None, None
    exe = lib = None
    for f in files:
        if f.parts[-2:] == ("bin", "mpiexec"):
            exe = Path(os.path.normpath(f.locate()))
        elif f.name == "libmpi.so.12" or (lib is None and f.name == "libmpi.so"):
            lib = Path(os.path.normpath(f.locate()))
    return (exe if exe and exe.exists() else None), (lib if lib and lib.exists() else None)


def mpiexec_path() -> Path:
    """MPICH's ``mpiexec``: the ``mpich`` wheel's, else beside ``sys.executable``, else on PATH.

    The wheel's comes first: mpi4py's wheel loads that MPICH, and a different launcher
    (say Open MPI's) would start processes that each think they are alone.

    Raises:
        RuntimeError: there is none; the message says how to install MPICH from PyPI.
    """
    wheel_exe, _ = _mpich_wheel()
    if wheel_exe is not None:
        return wheel_exe
    beside = Path(sys.executable).parent / "mpiexec"
    if beside.exists():
        return beside
    found = shutil.which("mpiexec")
    if found is None:
        raise RuntimeError(
            "no mpiexec found (no mpich wheel, none next to this Python, none on PATH); "
            "install MPICH and mpi4py from PyPI: pip install 'course-utils[mpi]' "
            "(or: pip install mpich mpi4py)")
    return Path(found)


def _mpi_env(exe: Path) -> dict[str, str]:
    """The workers' environment: one thread each, unbuffered output, and, when ``exe`` is
    the mpich wheel's launcher, ``MPI4PY_LIBMPI`` naming the wheel's ``libmpi`` (mpi4py
    does not search ``/usr/local/lib`` by itself, where pip puts it for a system Python)."""
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    wheel_exe, wheel_lib = _mpich_wheel()
    if wheel_lib is not None and wheel_exe == exe:
        env.setdefault("MPI4PY_LIBMPI", str(wheel_lib))
    return env


def mpiexec(module_args: Sequence[str], *, module: str, nprocs: int = 2,
            timeout: float = 300.0) -> subprocess.CompletedProcess:
    """Run ``mpiexec -n nprocs python -m module *module_args`` (stderr merged into stdout)."""
    nprocs = check_int("nprocs", nprocs, minimum=1, maximum=64)
    timeout = check_number("timeout", timeout, minimum=0, strict_minimum=True)
    exe = mpiexec_path()
    cmd = [str(exe), "-n", str(nprocs), sys.executable, "-m", module, *module_args]
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=timeout, env=_mpi_env(exe))


def launch(engine: str, module: str, args: Sequence[str], *, nprocs: int = 2,
           timeout: float = 120.0) -> list[dict]:
    """Run ``python -m module args`` as ``nprocs`` processes; return rank 0's JSON results.

    Args:
        engine: ``"mpi"`` (:func:`mpiexec`) or ``"torch"`` (:func:`torchrun`).
        module: a module whose rank 0 prints its result with
            :func:`course_utils.core.measure.emit`.
        args: extra command-line arguments for the module.
        nprocs: number of processes (1 ... 64).
        timeout: seconds before the run is killed (> 0).

    Raises:
        RuntimeError: the run failed, timed out, or printed no result line.
    """
    check_choice("engine", engine, ENGINES)
    if not isinstance(module, str) or not module:
        raise TypeError(f"module must be a module name (str), got {module!r}")
    timeout = check_number("timeout", timeout, minimum=0, strict_minimum=True)
    try:
        if engine == "mpi":
            proc = mpiexec(list(args), module=module, nprocs=nprocs, timeout=timeout)
        else:
            proc = torchrun(list(args), nprocs=nprocs, timeout=timeout, module=module)
    except subprocess.TimeoutExpired as exc:
        raise RuntimeError(f"{exc.cmd} did not finish in {timeout:g} s") from exc
    lines = [ln[len(MARKER):] for ln in proc.stdout.splitlines() if ln.startswith(MARKER)]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(
            f"{' '.join(map(str, proc.args))} failed (exit {proc.returncode}):\n"
            f"{proc.stdout[-3000:]}")
    return [json.loads(ln) for ln in lines]
