"""Data-parallel training of a small MLP on scikit-learn's digits with DistributedDataParallel.

The same module runs on a laptop, one GPU box or a cluster; only the launch differs::

    # one machine, 2 CPU processes, gloo
    python -m torch.distributed.run --standalone --nproc_per_node=2 \
        -m course_utils.parallel.train_ddp --out result.json
    # one machine with 8 GPUs, NCCL (picked automatically when each process has a GPU)
    torchrun --standalone --nproc_per_node=8 -m course_utils.parallel.train_ddp
    # force the CPU path on any machine (the notebook's bit-for-bit checks need it)
    torchrun --standalone --nproc_per_node=2 -m course_utils.parallel.train_ddp --backend gloo
    # 2 nodes x 8 GPUs (run on each node; NODE0 is the first node's address)
    torchrun --nnodes=2 --nproc_per_node=8 --rdzv_backend=c10d \
        --rdzv_endpoint=NODE0:29500 --rdzv_id=digits -m course_utils.parallel.train_ddp

Data parallelism as in the paper (section 2.1): every rank holds the whole model;
each global mini-batch (the same sequence on every rank, from ``seed``) is cut into
``world_size`` equal contiguous slices, one per rank; DDP averages the gradients, so
the update equals the single-process update on the whole global batch.

Fault tolerance: with ``--checkpoint`` the model, optimizer and step are saved every
``--checkpoint-every`` steps (atomically, by rank 0) and loaded on start. Launch with
``--max-restarts=1``: ``--fail-at-step S --fail-rank R`` kills rank R at the start of
step S on the first attempt (``TORCHELASTIC_RESTART_COUNT`` = 0); torchrun restarts all
ranks and they resume from the checkpoint.

Rank 0 writes a JSON summary (``--out``) and the final weights (``--weights``).

Checking a run's gradient against the one-process reference (:func:`compare_gradients`):
bit for bit only where both ran on the CPU with the same library; a GPU sums in another
order (cuBLAS against the CPU's BLAS), so there the check allows the rounding error of a
sum computed in a different order, scaled by the dtype's machine epsilon.

Used in: :doc:`/notebooks/dp_real_runs`, :doc:`/notebooks/dp_compression`.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from ..core.checks import check_int, check_number
from ..core.launchers import BACKENDS, init_distributed

__all__ = [
    "load_digits_split",
    "make_model",
    "global_batches",
    "local_slice",
    "full_batch_gradient",
    "GradientComparison",
    "compare_gradients",
    "train",
    "main",
    "train_worker",
]


def load_digits_split(
    test_fraction: float = 0.25, seed: int = 0, dtype: torch.dtype = torch.float64
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """scikit-learn's 8x8 digits (1,797 images), standardised: X_train, y_train, X_test, y_test."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    if not 0 < check_number("test_fraction", test_fraction) < 1:
        raise ValueError("test_fraction must be between 0 and 1 (exclusive), "
                         f"got {test_fraction:g}")
    check_int("seed", seed, minimum=0)
    X, y = load_digits(return_X_y=True)
    X_tr, X_te, y_tr, y_te = train_test_split(
        X, y, test_size=test_fraction, random_state=seed, stratify=y
    )
    mean, std = X_tr.mean(axis=0), X_tr.std(axis=0)
    std = np.where(std > 0, std, 1.0)  # a pixel constant in training: centre it, do not blow it up
    to_x = lambda a: torch.as_tensor((a - mean) / std, dtype=dtype)  # noqa: E731
    to_y = lambda a: torch.as_tensor(a, dtype=torch.long)  # noqa: E731
    return to_x(X_tr), to_y(y_tr), to_x(X_te), to_y(y_te)


def make_model(hidden: int = 32, seed: int = 0, dtype: torch.dtype = torch.float64) -> nn.Module:
    """64 -> hidden -> 10 MLP with ReLU, initialised from ``seed`` (identical on every rank)."""
    hidden = check_int("hidden", hidden, minimum=1)
    gen = torch.Generator().manual_seed(check_int("seed", seed))
    model = nn.Sequential(nn.Linear(64, hidden), nn.ReLU(), nn.Linear(hidden, 10)).to(dtype)
    with torch.no_grad():
        for p in model.parameters():
            bound = 1.0 / np.sqrt(p.shape[-1] if p.ndim > 1 else hidden)
            p.copy_(torch.rand(p.shape, generator=gen, dtype=dtype) * 2 * bound - bound)
    return model


def global_batches(n_examples: int, batch_size: int, epoch: int, seed: int = 0) -> list[np.ndarray]:
    """Index arrays of the global mini-batches of one epoch (a shuffle from ``seed``, ``epoch``).

    The last incomplete batch is dropped, so every batch splits evenly.
    """
    n_examples = check_int("n_examples", n_examples, minimum=0)
    batch_size = check_int("batch_size", batch_size, minimum=1)
    order = np.random.default_rng([check_int("seed", seed, minimum=0),
                                   check_int("epoch", epoch, minimum=0)]).permutation(n_examples)
    n_batches = n_examples // batch_size
    return [order[i * batch_size : (i + 1) * batch_size] for i in range(n_batches)]


def local_slice(batch: np.ndarray, rank: int, world_size: int) -> np.ndarray:
    """Rank ``rank``'s contiguous share of a global batch (its length must divide evenly)."""
    world_size = check_int("world_size", world_size, minimum=1)
    rank = check_int("rank", rank, minimum=0, maximum=world_size - 1)
    if len(batch) % world_size:
        raise ValueError(f"global batch {len(batch)} must be divisible by world_size {world_size}")
    k = len(batch) // world_size
    return batch[rank * k : (rank + 1) * k]


def full_batch_gradient(model: nn.Module, X: torch.Tensor, y: torch.Tensor) -> list[torch.Tensor]:
    """Gradient of the mean cross-entropy over all of ``X`` in one process (the reference)."""
    if X.ndim != 2 or y.ndim != 1 or len(X) != len(y):
        raise ValueError(f"X and y must be (n, features) and (n,), got {tuple(X.shape)}, "
                         f"{tuple(y.shape)}")
    model.zero_grad()
    nn.functional.cross_entropy(model(X), y).backward()
    return [p.grad.detach().clone() for p in model.parameters()]


@dataclass(frozen=True)
class GradientComparison:
    """Result of :func:`compare_gradients`.

    ``branch``: ``"exact"`` (bit for bit, ``torch.equal``) or ``"tolerance"``
    (``torch.testing.assert_close``); ``max_abs_diff``: largest ``|got - reference|`` over
    all tensors; ``rtol``, ``atol``: the limits used (0 for "exact"; ``atol`` is the
    largest of the per-tensor values).
    """

    branch: str
    max_abs_diff: float
    rtol: float
    atol: float

    def __str__(self) -> str:
        if self.branch == "exact":
            return "identical in every bit (torch.equal)"
        return (f"max |difference| {self.max_abs_diff:.1e} within rtol {self.rtol:.1e}, "
                f"atol {self.atol:.1e} (summation-order tolerance)")


def compare_gradients(
    got: Sequence[torch.Tensor],
    reference: Sequence[torch.Tensor],
    *,
    exact: bool | str = "auto",
    device: str | torch.device = "cpu",
    n_terms: int = 64,
) -> GradientComparison:
    """Check gradients ``got`` against ``reference`` (one tensor per parameter, same order).

    ``exact``: ``True`` compares bit for bit; ``False`` with a tolerance; ``"auto"``
    bit for bit only when ``device`` (where ``got`` was computed) is the CPU. The
    tolerance: a sum of ``n_terms`` numbers added in another order differs by at most
    about ``n_terms * eps * sum(|terms|)`` (eps: the dtype's machine epsilon, 2.2e-16 for
    float64, 1.2e-7 for float32), so ``rtol = n_terms * eps`` and, per tensor,
    ``atol = rtol * max|reference|``. ``n_terms``: the longest sum behind one entry
    (for the digits MLP, a 64-example batch and 64 inputs).

    Returns the :class:`GradientComparison`; raises ``AssertionError`` when they differ
    beyond the branch's limit (``TypeError``/``ValueError`` for mismatched inputs).
    """
    if isinstance(exact, str) and exact != "auto":
        raise ValueError(f"exact must be True, False or 'auto', got {exact!r}")
    if exact == "auto":
        exact = torch.device(device).type == "cpu"
    elif not isinstance(exact, bool):
        raise TypeError(f"exact must be True, False or 'auto', got {exact!r}")
    n_terms = check_int("n_terms", n_terms, minimum=1)
    got, reference = list(got), list(reference)
    if len(got) != len(reference) or not got:
        raise ValueError(f"got and reference must hold the same number (>= 1) of tensors, "
                         f"got {len(got)} and {len(reference)}")
    worst, atol_max, rtol = 0.0, 0.0, 0.0
    for i, (a, b) in enumerate(zip(got, reference, strict=True)):
        a, b = a.detach().cpu(), b.detach().cpu()
        if a.shape != b.shape or a.dtype != b.dtype or not b.is_floating_point():
            raise TypeError(f"got[{i}] must match reference[{i}] in shape and floating dtype, "
                            f"got {tuple(a.shape)} {a.dtype} and {tuple(b.shape)} {b.dtype}")
        diff = float((a - b).abs().max()) if a.numel() else 0.0
        worst = max(worst, diff)
        if exact:
            if not torch.equal(a, b):
                raise AssertionError(f"tensor {i} is not identical bit for bit: max |difference| "
                                     f"{diff:.3e}")
            continue
        rtol = n_terms * torch.finfo(b.dtype).eps
        atol = rtol * float(b.abs().max()) if b.numel() else 0.0
        atol_max = max(atol_max, atol)
        torch.testing.assert_close(a, b, rtol=rtol, atol=atol,
                                   msg=lambda m, i=i: f"tensor {i}: {m}")
    return GradientComparison("exact" if exact else "tolerance", worst, rtol, atol_max)


def _save_checkpoint(path: str, model: nn.Module, opt: torch.optim.Optimizer, step: int) -> None:
    tmp = f"{path}.tmp"
    torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "step": step}, tmp)
    os.replace(tmp, path)  # atomic: a crash never leaves half a checkpoint


def train(args: argparse.Namespace) -> dict:
    """Run the training described by ``args`` (see :func:`main`); returns rank 0's summary."""
    backend, device = init_distributed(args.backend)
    rank, world = dist.get_rank(), dist.get_world_size()
    dtype = getattr(torch, args.dtype)
    X_tr, y_tr, X_te, y_te = load_digits_split(seed=args.seed, dtype=dtype)
    X_tr, y_tr, X_te, y_te = (t.to(device) for t in (X_tr, y_tr, X_te, y_te))
    model = make_model(args.hidden, args.seed, dtype).to(device)
    ddp = nn.parallel.DistributedDataParallel(
        model, device_ids=[device.index] if device.type == "cuda" else None
    )
    hook_state = None
    if args.compression != "none":
        from .comm_hooks import HookState, compressed_allreduce_hook

        hook_state = HookState(scheme=args.compression)
        ddp.register_comm_hook(hook_state, compressed_allreduce_hook)
    opt = torch.optim.SGD(ddp.parameters(), lr=args.lr, momentum=args.momentum)

    start_step, restarts = 0, int(os.environ.get("TORCHELASTIC_RESTART_COUNT", "0"))
    if args.checkpoint and os.path.exists(args.checkpoint):
        ckpt = torch.load(args.checkpoint, map_location=device, weights_only=True)
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        start_step = ckpt["step"]
    schedule = [
        b
        for e in range(args.epochs)
        for b in global_batches(len(X_tr), args.batch_size, e, args.seed)
    ]
    losses, t0 = [], time.perf_counter()
    for step in range(start_step, len(schedule)):
        if step == args.fail_at_step and rank == args.fail_rank and restarts == 0:
            print(f"rank {rank}: simulated crash at the start of step {step}", flush=True)
            os._exit(13)  # dies like a lost machine: no cleanup, no goodbye
        idx = torch.as_tensor(local_slice(schedule[step], rank, world), device=device)
        opt.zero_grad()
        loss = nn.functional.cross_entropy(ddp(X_tr[idx]), y_tr[idx])
        loss.backward()  # DDP all-reduces and averages the gradients here
        if step == 0 and args.grad_out and rank == 0:
            torch.save([p.grad.detach().cpu() for p in model.parameters()], args.grad_out)
        opt.step()
        losses.append(float(loss.detach()))
        if args.checkpoint and (step + 1) % args.checkpoint_every == 0:
            if rank == 0:
                _save_checkpoint(args.checkpoint, model, opt, step + 1)
            dist.barrier()
    seconds = time.perf_counter() - t0
    with torch.no_grad():
        accuracy = float((model(X_te).argmax(dim=1) == y_te).double().mean())
    summary = {
        "backend": backend,
        "device": str(device),
        "world_size": world,
        "restart_count": restarts,
        "start_step": start_step,
        "steps_total": len(schedule),
        "steps_run": len(schedule) - start_step,
        "test_accuracy": accuracy,
        "final_local_loss": losses[-1] if losses else None,
        "train_seconds": seconds,
        "compression": args.compression,
        "n_parameters": sum(p.numel() for p in model.parameters()),
        "payload_bytes_per_rank": hook_state.payload_bytes if hook_state else None,
        "wire_bytes_per_rank": hook_state.wire_bytes(world) if hook_state else None,
    }
    if rank == 0:
        if args.weights:
            torch.save({k: v.cpu() for k, v in model.state_dict().items()}, args.weights)
        if args.out:
            with open(args.out, "w") as f:
                json.dump(summary, f)
    # Tear down in step on every rank: first DDP (its reducer holds the process group),
    # then the group. Left to the garbage collector at return, teardown hung now and then
    # (2 runs in 36 with 4 processes on 2 cores); in this order it has not.
    del ddp, opt
    dist.barrier()
    dist.destroy_process_group()
    return summary


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line options (all have defaults; see ``--help``)."""
    from .comm_hooks import HOOK_SCHEMES

    p = argparse.ArgumentParser(description="DDP training on scikit-learn digits")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=64, help="global batch (all ranks)")
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--momentum", type=float, default=0.9)
    p.add_argument("--hidden", type=int, default=32)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--dtype", choices=("float64", "float32"), default="float64")
    p.add_argument("--backend", choices=BACKENDS, default="auto",
                   help="auto: NCCL with a GPU per local process, else gloo (CPU)")
    p.add_argument("--compression", choices=("none", *HOOK_SCHEMES), default="none")
    p.add_argument("--checkpoint", default=None, help="checkpoint file (resumed if present)")
    p.add_argument("--checkpoint-every", type=int, default=1)
    p.add_argument("--fail-at-step", type=int, default=-1)
    p.add_argument("--fail-rank", type=int, default=1)
    p.add_argument("--grad-out", default=None, help="rank 0 saves step 0's averaged gradient")
    p.add_argument("--weights", default=None, help="rank 0 saves the final state_dict")
    p.add_argument("--out", default=None, help="rank 0 writes a JSON summary")
    args = p.parse_args(argv)
    for name in ("epochs", "batch_size", "hidden", "checkpoint_every"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1")
    if args.lr <= 0:
        p.error("--lr must be > 0")
    return args


def main(argv: Sequence[str] | None = None) -> dict:
    """Entry point for ``python -m course_utils.parallel.train_ddp`` (under torchrun or not)."""
    return train(parse_args(argv))


def train_worker(argv: Sequence[str]) -> None:
    """Run :func:`main` with ``argv``: the worker body for
    :func:`course_utils.core.launchers.run_local` (which forks it as torchrun would start it)."""
    main(list(argv))


if __name__ == "__main__":
    main()
