"""Data-parallel training three ways: MPI, torchrun (one process per GPU), one thread.

Dettmers (2014) names two ways to program several GPUs: one host thread that switches
between devices, or CUDA-aware MPI with one process per GPU, which he prefers. This
module writes the same training loop both ways, plus the torchrun version of the
one-process-per-GPU structure:

* :func:`train_mpi`: run under ``mpiexec -n P python -m course_utils.one_process_per_gpu
  --engine mpi``. Each process owns one GPU (or a CPU core here), one shard of the data,
  and sums the gradients with ``MPI_Allreduce``. The same program runs on a cluster:
  only the ``mpiexec`` host list changes.
* :func:`train_torch`: the same structure under ``torchrun``; the backend is NCCL when
  the process has a GPU, gloo otherwise.
* :func:`train_one_thread`: one Python thread, a list of devices, a loop over them.

The model is softmax regression on scikit-learn's digits (1,797 images, 64 features,
10 classes), full-batch gradient descent in float64, so all three give the weights of
:func:`train_reference` (one process, whole batch) up to floating-point summation order.

Used in: :doc:`/notebooks/mgpu_measure`.
"""

from __future__ import annotations

import argparse
import os

import numpy as np

from ..core.checks import check_array, check_int, check_number
from ..core.measure import emit

__all__ = ["load_data", "shard", "local_gradient", "train_reference", "train_mpi",
           "train_torch", "train_one_thread", "accuracy", "main"]

N_CLASSES = 10


def load_data() -> tuple[np.ndarray, np.ndarray]:
    """Digits features standardised (float64, shape (1797, 64)) and labels (int64)."""
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    x = (x - x.mean(axis=0)) / (x.std(axis=0) + 1e-8)
    return x.astype(np.float64), y.astype(np.int64)


def shard(n: int, rank: int, size: int) -> slice:
    """Rows this rank owns: every ``size``-th of ``n`` rows, starting at row ``rank``."""
    n = check_int("n", n, minimum=0)
    size = check_int("size", size, minimum=1)
    rank = check_int("rank", rank, minimum=0, maximum=size - 1)
    return slice(rank, n, size)


def local_gradient(w, x, y):
    """Sum over the rows of ``x`` of the softmax cross-entropy gradient w.r.t. ``w`` (torch).

    Sums, not means: ranks add their sums and divide once by the global batch size.
    """
    import torch

    logits = x @ w
    p = torch.softmax(logits, dim=1)
    p[torch.arange(len(y)), y] -= 1.0
    return x.T @ p


def accuracy(w: np.ndarray, x: np.ndarray, y: np.ndarray) -> float:
    """Fraction of rows of ``x`` whose arg-max class under weights ``w`` is ``y``."""
    w, x, y = (check_array(n, v) for n, v in (("w", w), ("x", x), ("y", y)))
    if w.ndim != 2 or x.ndim != 2 or x.shape[1] != w.shape[0]:
        raise ValueError(f"w must be (features, classes) matching x (n, features), got "
                         f"w {w.shape}, x {x.shape}")
    if y.shape != (x.shape[0],):
        raise ValueError(f"y must have one label per row of x, shape ({x.shape[0]},), "
                         f"got {y.shape}")
    return float(np.mean(np.argmax(x @ w, axis=1) == y))


def _tensors(device: str = "cpu"):
    import torch

    x, y = load_data()
    return torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)


def _check_steps(steps: int, lr: float) -> tuple[int, float]:
    return (check_int("steps", steps, minimum=1),
            check_number("lr", lr, minimum=0, strict_minimum=True))


def train_reference(steps: int = 50, lr: float = 0.5) -> np.ndarray:
    """One process, the whole batch: the weights every parallel version must reproduce."""
    steps, lr = _check_steps(steps, lr)
    import torch

    x, y = _tensors()
    w = torch.zeros(x.shape[1], N_CLASSES, dtype=torch.float64)
    for _ in range(steps):
        w -= lr * local_gradient(w, x, y) / len(y)
    return w.numpy()


def train_mpi(steps: int = 50, lr: float = 0.5) -> np.ndarray:
    """One process per GPU with MPI; call under ``mpiexec``. Returns the final weights."""
    steps, lr = _check_steps(steps, lr)
    import torch
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    rank, size = comm.Get_rank(), comm.Get_size()
    # One process per GPU: with GPUs this process would take device rank % gpus_per_node
    # and, with CUDA-aware MPI, hand GPU buffers straight to Allreduce.
    x, y = _tensors()
    mine = shard(len(y), rank, size)
    x, y, n_total = x[mine], y[mine], len(y)
    w = torch.zeros(x.shape[1], N_CLASSES, dtype=torch.float64)
    for _ in range(steps):
        g = local_gradient(w, x, y)
        comm.Allreduce(MPI.IN_PLACE, g.numpy(), op=MPI.SUM)  # sum over all processes
        w -= lr * g / n_total
    return w.numpy()


def train_torch(steps: int = 50, lr: float = 0.5) -> np.ndarray:
    """The same structure with torch.distributed; call under ``torchrun``."""
    steps, lr = _check_steps(steps, lr)
    import torch
    import torch.distributed as dist

    from ..core.launchers import init_distributed

    _backend, device = init_distributed()  # NCCL and cuda:LOCAL_RANK with GPUs, else gloo
    try:
        rank, size = dist.get_rank(), dist.get_world_size()
        x, y = _tensors(device)
        n_total = len(y)
        mine = shard(n_total, rank, size)
        x, y = x[mine], y[mine]
        w = torch.zeros(x.shape[1], N_CLASSES, dtype=torch.float64, device=device)
        for _ in range(steps):
            g = local_gradient(w, x, y)
            dist.all_reduce(g)  # sum over all processes
            w -= lr * g / n_total
        return w.cpu().numpy()
    finally:
        dist.destroy_process_group()


def train_one_thread(devices: list[str], steps: int = 50, lr: float = 0.5) -> np.ndarray:
    """One host thread drives every device in ``devices`` (e.g. ``["cuda:0", "cuda:1"]``).

    Each step the thread launches each device's gradient in turn (on GPUs these run
    concurrently, since launches return at once), gathers the gradients on the first
    device, updates there and copies the weights back to the others.
    """
    import torch

    steps, lr = _check_steps(steps, lr)
    if not devices:
        raise ValueError("devices must name at least one device, e.g. ['cpu'] or ['cuda:0']")
    x, y = _tensors()
    n_total = len(y)
    parts = [(x[shard(n_total, k, len(devices))].to(d), y[shard(n_total, k, len(devices))].to(d))
             for k, d in enumerate(devices)]
    w = torch.zeros(x.shape[1], N_CLASSES, dtype=torch.float64, device=devices[0])
    for _ in range(steps):
        replicas = [w.to(d) for d in devices]
        grads = [local_gradient(r, xs, ys) for r, (xs, ys) in zip(replicas, parts, strict=True)]
        g = sum(gr.to(devices[0]) for gr in grads)
        w -= lr * g / n_total
    return w.cpu().numpy()


def main(argv: list[str] | None = None) -> None:
    """Train with ``--engine mpi`` or ``--engine torch``; rank 0 prints the result line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", choices=("mpi", "torch"), required=True)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--lr", type=float, default=0.5)
    args = parser.parse_args(argv)
    if args.engine == "mpi":
        from mpi4py import MPI

        rank, size = MPI.COMM_WORLD.Get_rank(), MPI.COMM_WORLD.Get_size()
        w = train_mpi(args.steps, args.lr)
    else:
        rank, size = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
        w = train_torch(args.steps, args.lr)
    if rank == 0:
        x, y = load_data()
        emit({"engine": args.engine, "processes": size, "weights": w.tolist(),
              "accuracy": accuracy(w, x, y)})


if __name__ == "__main__":
    main()
