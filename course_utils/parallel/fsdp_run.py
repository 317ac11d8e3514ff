"""Fully sharded data parallelism (FSDP2, ``torch.distributed.fsdp.fully_shard``) for real.

ZeRO stage 3 (Rajbhandari et al. 2020, https://arxiv.org/abs/1910.02054), as PyTorch
implements it (Zhao et al. 2023, https://arxiv.org/abs/2304.11277): each of ``p`` ranks
keeps ``1/p`` of every parameter, gradient and optimizer state. A layer's full weights
exist only while it computes: an **all-gather** before its forward, another before its
backward, and a **reduce-scatter** that leaves each rank the average of its shard of
the gradient. Per step that is three collectives of the whole model (``Psi`` bytes each)
where DDP does one all-reduce: each rank sends ``3(p-1)/p Psi`` bytes against
``2(p-1)/p Psi``, 1.5x the traffic for ``1/p`` of the memory.

:func:`fsdp_worker` trains the digits MLP of :mod:`course_utils.parallel.train_ddp`
with every ``nn.Linear`` wrapped by ``fully_shard``, and the same model with DDP, on the
same batches; :func:`count_collectives` records what each step hands to
``torch.distributed``. :func:`unsharded_reference` does the same steps in one process;
:func:`compare_to_reference` checks outputs, gradients and weights with the
summation-order tolerance of :func:`~course_utils.parallel.train_ddp.compare_gradients`,
and :func:`~course_utils.parallel.comm_count.fsdp_traffic` is the byte model the counts
must equal.

Runs unchanged under ``torchrun --standalone --nproc_per_node=2 -m
course_utils.parallel.fsdp_run`` (gloo on CPUs, NCCL with a GPU per process).

Used in: :doc:`/notebooks/modern_sharded_runs`.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence

import torch
import torch.distributed as dist
from torch import nn

from ..core.checks import check_int, check_number
from ..core.launchers import BACKENDS, init_distributed
from ..core.measure import emit
from .comm_count import count_collectives, fsdp_traffic, total_bytes, wire_bytes
from .train_ddp import (
    GradientComparison,
    compare_gradients,
    global_batches,
    load_digits_split,
    local_slice,
    make_model,
)

__all__ = ["fsdp_worker", "unsharded_reference", "compare_to_reference", "main"]

KINDS = ("all_reduce", "all_gather", "reduce_scatter")


def _check_config(hidden: int, steps: int, batch_size: int, lr: float, seed: int) -> None:
    check_int("hidden", hidden, minimum=1)
    check_int("steps", steps, minimum=1, maximum=21)  # one epoch of 64-example batches
    check_int("batch_size", batch_size, minimum=1, maximum=1347)
    check_number("lr", lr, minimum=0, strict_minimum=True)
    check_int("seed", seed, minimum=0)


def _step_bytes(log) -> dict[str, int]:
    return {k: total_bytes(log, k) for k in KINDS}


def _train(model: nn.Module, params, X, y, schedule, rank: int, world: int, lr: float,
           full_grad) -> dict:
    """The training loop shared by FSDP, DDP and the reference (``world`` = 1)."""
    opt = torch.optim.SGD(params, lr=lr, momentum=0.9)
    out = {"losses": [], "bytes": [], "wire": []}
    for step, batch in enumerate(schedule):
        idx = torch.as_tensor(local_slice(batch, rank, world), device=X.device)
        with count_collectives() as log:
            logits = model(X[idx])
            loss = nn.functional.cross_entropy(logits, y[idx])
            loss.backward()
        out["bytes"].append(_step_bytes(log))
        out["wire"].append(sum(wire_bytes(r, world) for r in log))
        out["losses"].append(float(loss.detach()))
        if step == 0:  # outside the count: gathering the sharded gradient is for checking
            out["logits"] = logits.detach().cpu()
            out["grads"] = [full_grad(p).detach().cpu() for p in model.parameters()]
        opt.step()
        opt.zero_grad()
    out["optimizer"] = opt
    return out


def _run(rank: int, world: int, device: torch.device, hidden: int, steps: int,
         batch_size: int, lr: float, seed: int, per_layer: bool = True) -> dict:
    from torch.distributed.algorithms.ddp_comm_hooks.default_hooks import allreduce_hook
    from torch.distributed.fsdp import fully_shard

    X, y, _, _ = load_digits_split(seed=seed)
    X, y = X.to(device), y.to(device)
    schedule = global_batches(len(X), batch_size, 0, seed)[:steps]

    model = make_model(hidden, seed).to(device)
    if per_layer:
        for layer in model:
            if isinstance(layer, nn.Linear):
                fully_shard(layer)  # its own all-gather / reduce-scatter, resharded after forward
    fully_shard(model)  # the root: kept gathered from its forward to its backward
    run = _train(model, model.parameters(), X, y, schedule, rank, world, lr,
                 lambda p: p.grad.full_tensor())
    shard_numel = sum(p.to_local().numel() for p in model.parameters())
    momentum_numel = sum(s["momentum_buffer"].to_local().numel()
                         for s in run.pop("optimizer").state.values())
    fsdp = {**run, "params": [p.full_tensor().detach().cpu() for p in model.parameters()],
            "shard_numel": shard_numel, "momentum_numel": momentum_numel}

    ddp_model = make_model(hidden, seed).to(device)
    ddp = nn.parallel.DistributedDataParallel(
        ddp_model, device_ids=[device.index] if device.type == "cuda" else None)
    ddp.register_comm_hook(None, allreduce_hook)  # DDP's all-reduce, in Python: counted
    run = _train(ddp, ddp.parameters(), X, y, schedule, rank, world, lr, lambda p: p.grad)
    del run["optimizer"], ddp
    ddp_result = {**run, "params": [p.detach().cpu() for p in ddp_model.parameters()]}
    n_params = sum(p.numel() for p in ddp_model.parameters())
    return {"rank": rank, "world_size": world, "fsdp": fsdp, "ddp": ddp_result,
            "n_params": n_params, "device": str(device),
            "shapes": [tuple(p.shape) for p in ddp_model.parameters()]}


def fsdp_worker(rank: int, world_size: int, hidden: int = 32, steps: int = 5,
                batch_size: int = 64, lr: float = 0.1, seed: int = 0,
                per_layer: bool = True) -> dict:
    """One rank of the FSDP-and-DDP run (for :func:`~course_utils.core.launchers.run_local`
    with ``process_group="gloo"``): ``steps`` SGD steps (momentum 0.9) of the float64
    digits MLP 64-``hidden``-10 on global batches of ``batch_size``, each rank taking its
    contiguous slice. ``per_layer``: wrap each ``nn.Linear`` with ``fully_shard`` (then
    the root); ``False`` wraps only the root, which FSDP2 does not reshard after forward
    (``reshard_after_forward=None``), so the backward all-gather disappears.

    Returns this rank's results: for ``"fsdp"`` and ``"ddp"``, the ``losses`` (local),
    step 0's ``logits`` (this rank's slice) and full ``grads``, the final full ``params``
    per-step ``bytes`` by collective kind and ``wire`` (bytes this rank sends,
    :func:`~course_utils.parallel.comm_count.wire_bytes`); for FSDP also ``shard_numel`` and
    ``momentum_numel`` (elements this rank stores).
    """
    _check_config(hidden, steps, batch_size, lr, seed)
    if not isinstance(per_layer, bool):
        raise TypeError(f"per_layer must be a bool, got {type(per_layer).__name__}")
    device = torch.device("cuda", torch.cuda.current_device()) \
        if dist.get_backend() == "nccl" else torch.device("cpu")
    return _run(rank, world_size, device, hidden, steps, batch_size, lr, seed, per_layer)


def unsharded_reference(hidden: int = 32, steps: int = 5, batch_size: int = 64,
                        lr: float = 0.1, seed: int = 0) -> dict:
    """The same steps in one process on whole batches: ``losses``, step 0's ``logits``
    and ``grads``, final ``params`` (CPU, float64)."""
    _check_config(hidden, steps, batch_size, lr, seed)
    X, y, _, _ = load_digits_split(seed=seed)
    schedule = global_batches(len(X), batch_size, 0, seed)[:steps]
    model = make_model(hidden, seed)
    run = _train(model, model.parameters(), X, y, schedule, 0, 1, lr, lambda p: p.grad)
    del run["optimizer"], run["bytes"], run["wire"]
    return {**run, "params": [p.detach().clone() for p in model.parameters()]}


def compare_to_reference(results: Sequence[dict], reference: dict, which: str = "fsdp",
                         *, n_terms: int = 64) -> dict[str, GradientComparison]:
    """Check one run (``which``: "fsdp" or "ddp") of :func:`fsdp_worker` against
    :func:`unsharded_reference`: ``"outputs"`` (the ranks' logits, stacked in rank order),
    ``"gradients"`` (step 0) and ``"weights"`` (after the last step), each with
    ``compare_gradients(exact=False, n_terms=n_terms)``: ``rtol = n_terms * eps``.

    Raises ``AssertionError`` when one differs beyond its tolerance.
    """
    check_int("n_terms", n_terms, minimum=1)
    if which not in ("fsdp", "ddp"):
        raise ValueError(f"which must be one of ('fsdp', 'ddp'), got {which!r}")
    if not results or any(which not in r for r in results):
        raise ValueError("results must be the list of fsdp_worker results, one per rank")
    runs = [r[which] for r in sorted(results, key=lambda r: r["rank"])]
    logits = torch.cat([r["logits"] for r in runs])
    kw = {"exact": False, "n_terms": n_terms}
    return {
        "outputs": compare_gradients([logits], [reference["logits"]], **kw),
        "gradients": compare_gradients(runs[0]["grads"], reference["grads"], **kw),
        "weights": compare_gradients(runs[0]["params"], reference["params"], **kw),
    }


def main(argv: Sequence[str] | None = None) -> dict:
    """``torchrun ... -m course_utils.parallel.fsdp_run``: rank 0 checks the run against
    the one-process reference and prints the bytes per step next to :func:`fsdp_traffic`."""
    p = argparse.ArgumentParser(description="FSDP2 vs DDP vs one process on digits")
    p.add_argument("--hidden", type=int, default=32)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--backend", choices=BACKENDS, default="auto")
    p.add_argument("--out", default=None, help="rank 0 writes the JSON summary here")
    a = p.parse_args(argv)
    _, device = init_distributed(a.backend)
    rank, world = dist.get_rank(), dist.get_world_size()
    cfg = (a.hidden, a.steps, a.batch_size, a.lr, a.seed)
    _check_config(*cfg)
    result = _run(rank, world, device, *cfg)
    gathered = [None] * world
    dist.all_gather_object(gathered, result)
    dist.destroy_process_group()
    summary = {}
    if rank == 0:
        ref = unsharded_reference(*cfg)
        model = fsdp_traffic(result["n_params"], 8, world)
        summary = {"world_size": world, "device": result["device"], "model_bytes": model}
        for which in ("fsdp", "ddp"):
            checks = compare_to_reference(gathered, ref, which)
            summary[which] = {"bytes_per_step": result[which]["bytes"][-1],
                              **{k: str(v) for k, v in checks.items()}}
        if a.out:
            with open(a.out, "w") as f:
                json.dump(summary, f)
        emit(summary)
    return summary


if __name__ == "__main__":
    main()
