"""Start a local multi-process torch.distributed job from Python (a notebook or a test).

``torchrun`` is the real launcher (see :mod:`course_utils.parallel.train_ddp`), but each
of its processes imports torch afresh, a few seconds on a 2-core machine.
:func:`run_local` instead starts the workers from a *fork server*: one clean,
single-threaded helper process that imports torch and the worker modules once and then
forks a worker for each rank in milliseconds. (Forking a Jupyter kernel directly is not
safe: the kernel's own threads may hold locks at the moment of the fork, and the child
can hang.) Each worker gets exactly the environment variables torchrun sets (``RANK``,
``WORLD_SIZE``, ``LOCAL_RANK``, ``LOCAL_WORLD_SIZE``, ``MASTER_ADDR``, ``MASTER_PORT``),
so the worker code cannot tell the difference. :func:`torchrun` runs the real launcher
in a subprocess.
"""

from __future__ import annotations

import faulthandler
import multiprocessing as mp
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from ..validate import check_choice, check_int, check_number

__all__ = ["free_port", "run_local", "torchrun", "train_worker"]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (for the rendezvous)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(
    rank: int,
    world: int,
    port: int,
    target: Callable,
    args: tuple,
    env: dict[str, str],
    log_file: str,
) -> None:
    # Everything the worker prints, Python or C++, goes to its log file: run_local
    # reports the tail on failure. On a timeout run_local sends SIGUSR1 and the worker
    # adds its Python stacks to the log.
    log = open(log_file, "w")  # noqa: SIM115 (lives as long as the worker)
    os.dup2(log.fileno(), 1)
    os.dup2(log.fileno(), 2)
    faulthandler.register(signal.SIGUSR1, file=log, all_threads=True)
    os.environ.update(env)
    os.environ.update(
        RANK=str(rank),
        WORLD_SIZE=str(world),
        LOCAL_RANK=str(rank),
        LOCAL_WORLD_SIZE=str(world),
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        OMP_NUM_THREADS="1",
    )
    import torch

    torch.set_num_threads(1)  # as torchrun does (OMP_NUM_THREADS=1)
    target(*args)


def train_worker(argv: Sequence[str]) -> None:
    """Worker body that runs :func:`course_utils.parallel.train_ddp.main` with ``argv``."""
    from .train_ddp import main

    main(list(argv))


def run_local(
    target: Callable,
    args: tuple = (),
    *,
    nprocs: int = 2,
    start_method: str = "forkserver",
    timeout: float = 120.0,
    env: dict[str, str] | None = None,
) -> None:
    """Run ``target(*args)`` in ``nprocs`` local processes that form one process group.

    ``target`` must be a module-level function (it is pickled to the workers); ``env``
    adds environment variables for the workers (e.g. ``TORCHELASTIC_RESTART_COUNT``).
    The workers' output goes to log files, not to the caller's console. Raises
    ``RuntimeError`` naming the ranks that failed or timed out, with the end of their logs.
    """
    nprocs = check_int("nprocs", nprocs, minimum=1, maximum=64)
    start_method = check_choice("start_method", start_method, ("fork", "spawn", "forkserver"))
    timeout = check_number("timeout", timeout, minimum=0, strict_minimum=True)
    ctx = mp.get_context(start_method)
    if start_method == "forkserver":
        ctx.set_forkserver_preload(["course_utils.parallel._preload"])
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="run_local_") as tmp:
        logs = [Path(tmp) / f"rank{r}.log" for r in range(nprocs)]
        procs = [
            ctx.Process(
                target=_worker,
                args=(r, nprocs, port, target, args, dict(env or {}), str(logs[r])),
                daemon=True,
            )
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
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--standalone",
        f"--nproc_per_node={nprocs}", f"--max-restarts={max_restarts}",
        "--monitor-interval=0.2", "-m", module, *module_args,
    ]  # fmt: skip
    return subprocess.run(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
