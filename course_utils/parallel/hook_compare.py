"""PowerSGD against the course's 8-bit and 1-bit hooks: one DDP run each, bytes counted.

PowerSGD (Vogels et al. 2019, https://arxiv.org/abs/1905.13727) sends a low-rank
approximation of each gradient matrix: for an ``n x m`` matrix ``M`` and rank ``r`` it
all-reduces ``P = M Q`` (``n x r``), orthogonalises it, then all-reduces
``Q = M^T P`` (``m x r``): ``(n + m) r`` values instead of ``n m``. PyTorch ships it as
a DDP communication hook (``torch.distributed.algorithms.ddp_comm_hooks.powerSGD_hook``):
vectors, and matrices it would shrink by less than ``min_compression_rate``, are
all-reduced uncompressed, the lost part of each gradient is fed back into the next
(error feedback), and the first ``start_powerSGD_iter`` steps are plain all-reduces.

:func:`hook_worker` trains the digits MLP of :mod:`course_utils.parallel.train_ddp`
(float32) once per scheme, from the same seed and on the same batches: ``"fp32"``
(plain all-reduce, :mod:`course_utils.parallel.comm_hooks`), ``"dynamic_tree"``
(the 8-bit paper's type), ``"1bit"`` (Seide et al. 2014, with error feedback) and
``"powersgd"``; :func:`~course_utils.parallel.comm_count.count_collectives` records each
step's collectives. :func:`~course_utils.parallel.comm_count.powersgd_bytes` and
:func:`~course_utils.parallel.comm_count.scatter_gather_bytes` are the byte models the
counts must equal.

Runs unchanged under ``torchrun --standalone --nproc_per_node=2 -m
course_utils.parallel.hook_compare``.

Used in: :doc:`/notebooks/modern_sharded_runs`.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence

import torch
import torch.distributed as dist
from torch import nn

from ..core.checks import check_choice, check_int
from ..core.launchers import BACKENDS, init_distributed
from ..core.measure import emit
from .comm_count import count_collectives, total_bytes, wire_bytes
from .comm_hooks import HookState, compressed_allreduce_hook
from .train_ddp import global_batches, load_digits_split, local_slice, make_model

__all__ = ["COMPARED", "hook_worker", "main"]

#: The schemes :func:`hook_worker` runs, in order.
COMPARED = ("fp32", "dynamic_tree", "1bit", "powersgd")


def _check_config(scheme: str, epochs: int, hidden: int, seed: int, psgd_rank: int,
                  start_iter: int) -> None:
    check_choice("scheme", scheme, COMPARED)
    check_int("epochs", epochs, minimum=1, maximum=20)
    check_int("hidden", hidden, minimum=1)
    check_int("seed", seed, minimum=0)
    check_int("psgd_rank", psgd_rank, minimum=1)
    check_int("start_iter", start_iter, minimum=2)


def _setup(scheme: str, device: torch.device, hidden: int, seed: int, psgd_rank: int,
           start_iter: int) -> dict:
    """One scheme's model, DDP wrapper (with its hook), optimizer and result lists."""
    from torch.distributed.algorithms.ddp_comm_hooks import powerSGD_hook as psgd

    model = make_model(hidden, seed, torch.float32).to(device)
    ddp = nn.parallel.DistributedDataParallel(
        model, device_ids=[device.index] if device.type == "cuda" else None)
    if scheme == "powersgd":
        ddp.register_comm_hook(psgd.PowerSGDState(
            process_group=None, matrix_approximation_rank=psgd_rank,
            start_powerSGD_iter=start_iter, use_error_feedback=True, warm_start=True,
            random_seed=seed), psgd.powerSGD_hook)
    else:
        ddp.register_comm_hook(HookState(scheme=scheme), compressed_allreduce_hook)
    return {"model": model, "ddp": ddp,
            "opt": torch.optim.SGD(ddp.parameters(), lr=0.1, momentum=0.9),
            "out": {"scheme": scheme, "losses": [], "bytes": [], "wire": [], "seconds": []}}


def _step(run: dict, x: torch.Tensor, y: torch.Tensor, world: int) -> None:
    out, opt = run["out"], run["opt"]
    t0 = time.perf_counter()
    with count_collectives() as log:
        opt.zero_grad()
        loss = nn.functional.cross_entropy(run["ddp"](x), y)
        loss.backward()
    opt.step()
    out["seconds"].append(time.perf_counter() - t0)
    out["bytes"].append(total_bytes(log))
    out["wire"].append(sum(wire_bytes(r, world) for r in log))
    out["losses"].append(float(loss.detach()))


def hook_worker(rank: int, world_size: int, schemes: Sequence[str] = COMPARED,
                epochs: int = 3, hidden: int = 32, seed: int = 0, psgd_rank: int = 1,
                start_iter: int = 2) -> list[dict]:
    """One rank of the comparison (for :func:`~course_utils.core.launchers.run_local`
    with a process group): for each of ``schemes``, ``epochs`` epochs of DDP SGD
    (global batch 64, lr 0.1, momentum 0.9) from ``seed``, one model per scheme, their
    steps interleaved (so that a burst of load on the machine slows each alike). PowerSGD uses rank
    ``psgd_rank`` after ``start_iter`` (>= 2) plain steps.

    Returns one dict per scheme: ``losses`` (this rank's, per step), ``bytes`` (per step,
    full-tensor bytes of all collectives), ``wire`` (per step, bytes this rank sends,
    :func:`~course_utils.parallel.comm_count.wire_bytes`), ``seconds`` (per step:
    forward, backward with the hook, update), ``test_accuracy``, ``train_loss`` (whole
    training set), ``shapes``.
    """
    schemes = list(schemes)
    if not schemes:
        raise ValueError(f"schemes must name at least one of {COMPARED}")
    for s in schemes:
        _check_config(s, epochs, hidden, seed, psgd_rank, start_iter)
    device = torch.device("cuda", torch.cuda.current_device()) \
        if dist.get_backend() == "nccl" else torch.device("cpu")
    X, y, X_te, y_te = (t.to(device) for t in load_digits_split(seed=seed, dtype=torch.float32))
    runs = [_setup(s, device, hidden, seed, psgd_rank, start_iter) for s in schemes]
    for e in range(epochs):
        for batch in global_batches(len(X), 64, e, seed):
            idx = torch.as_tensor(local_slice(batch, rank, world_size), device=device)
            for run in runs:  # interleaved: a burst of load slows every scheme alike
                _step(run, X[idx], y[idx], world_size)
    results = []
    for run in runs:
        model, out = run["model"], run["out"]
        with torch.no_grad():
            out["test_accuracy"] = float((model(X_te).argmax(1) == y_te).double().mean())
            out["train_loss"] = float(nn.functional.cross_entropy(model(X), y))
        out["shapes"] = [tuple(p.shape) for p in model.parameters()]
        results.append(out)
    del runs
    dist.barrier()
    return results


def main(argv: Sequence[str] | None = None) -> list[dict]:
    """``torchrun ... -m course_utils.parallel.hook_compare``: rank 0 prints, per scheme,
    the bytes of the last step, test accuracy and the median step time."""
    p = argparse.ArgumentParser(description="PowerSGD vs 8-bit vs 1-bit DDP hooks")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--hidden", type=int, default=32)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--psgd-rank", type=int, default=1)
    p.add_argument("--backend", choices=BACKENDS, default="auto")
    p.add_argument("--out", default=None, help="rank 0 writes the JSON summary here")
    a = p.parse_args(argv)
    init_distributed(a.backend)
    rank, world = dist.get_rank(), dist.get_world_size()
    runs = hook_worker(rank, world, COMPARED, a.epochs, a.hidden, a.seed, a.psgd_rank)
    dist.destroy_process_group()
    summary = [{"scheme": r["scheme"], "bytes_last_step": r["bytes"][-1],
                "test_accuracy": r["test_accuracy"], "train_loss": r["train_loss"],
                "median_step_s": sorted(r["seconds"])[len(r["seconds"]) // 2]} for r in runs]
    if rank == 0:
        if a.out:
            with open(a.out, "w") as f:
                json.dump(summary, f)
        for line in summary:
            emit(line)
    return summary


if __name__ == "__main__":
    main()
