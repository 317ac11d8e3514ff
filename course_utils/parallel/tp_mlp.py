"""A 2-way tensor-parallel transformer MLP block, trained for real and checked.

Megatron-LM (Shoeybi et al. 2019, https://arxiv.org/abs/1909.08053, section 3) splits a
transformer's MLP ``relu(Z W1 + b1) W2 + b2`` (``h -> 4h -> h``) over ``p`` ranks: ``W1``
by columns (each rank computes its ``4h/p`` hidden units, no communication), ``W2`` by
rows (each rank's partial output is added: one **all-reduce** forward). Backward, the
partial gradients of ``Z`` are added: one **all-reduce**. Both move a ``(batch, h)``
activation, so a step costs ``2 * batch * h`` values per block, whatever the weights.

The network here: the digits (64 pixels) -> ``h`` (a replicated linear layer, ReLU),
a residual tensor-parallel MLP block built from
:class:`~course_utils.parallel.tensor_parallel.TensorParallelMLP`, then a replicated
``h -> 10`` head. :func:`tp_worker` trains it on every rank with the whole batch (pure
tensor parallelism) and counts its collectives
(:func:`~course_utils.parallel.comm_count.count_collectives`);
:func:`dense_reference` trains the unsplit network in one process;
:func:`compare_tp_to_reference` stacks the ranks' pieces and checks outputs, gradients
and weights within the summation-order tolerance;
:func:`~course_utils.parallel.comm_count.tp_traffic` is the byte model.

Runs unchanged under ``torchrun --standalone --nproc_per_node=2 -m
course_utils.parallel.tp_mlp`` (gloo on CPUs, NCCL with a GPU per process).

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
from .comm_count import count_collectives, total_bytes, tp_traffic
from .model_parallel import full_init
from .tensor_parallel import TensorParallelMLP
from .train_ddp import GradientComparison, compare_gradients, global_batches, load_digits_split

__all__ = ["PARAM_NAMES", "SPLIT_DIMS", "init_weights", "tp_worker",
           "dense_reference", "stack_shards", "compare_tp_to_reference", "main"]

#: Parameter order of the network (weights are (in, out), as in ``model_parallel``).
PARAM_NAMES = ("embed_w", "embed_b", "w1", "b1", "w2", "b2", "head_w", "head_b")
#: The dimension along which each split parameter is cut (the others are replicated).
SPLIT_DIMS = {"w1": 1, "b1": 0, "w2": 0}


def _check_config(hidden: int, steps: int, batch_size: int, lr: float, seed: int) -> None:
    check_int("hidden", hidden, minimum=1)
    check_int("steps", steps, minimum=1, maximum=21)
    check_int("batch_size", batch_size, minimum=1, maximum=1347)
    check_number("lr", lr, minimum=0, strict_minimum=True)
    check_int("seed", seed, minimum=0)


def init_weights(hidden: int = 32, seed: int = 0,
                 dtype: torch.dtype = torch.float64) -> dict[str, torch.Tensor]:
    """The full weights, the same in every process for one ``seed`` (``PARAM_NAMES``)."""
    h = check_int("hidden", hidden, minimum=1)
    check_int("seed", seed, minimum=0)
    out = {}
    layers = ((64, h), (h, 4 * h), (4 * h, h), (h, 10))
    for i, (fan_in, fan_out) in enumerate(layers):
        w, b = full_init(fan_in, fan_out, seed=seed + i, dtype=dtype)
        out[PARAM_NAMES[2 * i]], out[PARAM_NAMES[2 * i + 1]] = w, b
    return out


class _Net(nn.Module):
    """embed -> residual MLP block -> head; the block is tensor-parallel if ``group`` is
    not ``False`` (``None``: the default process group)."""

    def __init__(self, weights: dict[str, torch.Tensor], group=False):
        super().__init__()
        for name in ("embed_w", "embed_b", "head_w", "head_b"):
            setattr(self, name, nn.Parameter(weights[name].clone()))
        self.parallel = group is not False
        if self.parallel:
            self.mlp = TensorParallelMLP(weights["w1"], weights["b1"], weights["w2"],
                                         weights["b2"], group=group)
        else:
            for name in ("w1", "b1", "w2", "b2"):
                setattr(self, name, nn.Parameter(weights[name].clone()))

    def ordered(self) -> list[nn.Parameter]:
        if self.parallel:
            m = self.mlp
            mid = [m.fc1.weight, m.fc1.bias, m.fc2.weight, m.fc2.bias]
        else:
            mid = [self.w1, self.b1, self.w2, self.b2]
        return [self.embed_w, self.embed_b, *mid, self.head_w, self.head_b]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = torch.relu(x @ self.embed_w + self.embed_b)
        m = self.mlp(z) if self.parallel else torch.relu(z @ self.w1 + self.b1) @ self.w2 + self.b2
        return (z + m) @ self.head_w + self.head_b


def _train(net: _Net, steps: int, batch_size: int, lr: float, seed: int,
           device: torch.device) -> dict:
    X, y, X_te, y_te = (t.to(device) for t in load_digits_split(seed=seed))
    opt = torch.optim.SGD(net.ordered(), lr=lr, momentum=0.9)
    out = {"losses": [], "bytes": []}
    for step, batch in enumerate(global_batches(len(X), batch_size, 0, seed)[:steps]):
        idx = torch.as_tensor(batch, device=device)
        with count_collectives() as log:
            logits = net(X[idx])
            loss = nn.functional.cross_entropy(logits, y[idx])
            loss.backward()
        out["bytes"].append({"all_reduce": total_bytes(log, "all_reduce"),
                             "calls": len(log), "total": total_bytes(log)})
        out["losses"].append(float(loss.detach()))
        if step == 0:
            out["logits"] = logits.detach().cpu()
            out["grads"] = [p.grad.detach().cpu().clone() for p in net.ordered()]
        opt.step()
        opt.zero_grad()
    with torch.no_grad():
        out["test_accuracy"] = float((net(X_te).argmax(1) == y_te).double().mean())
    out["params"] = [p.detach().cpu().clone() for p in net.ordered()]
    out["numel"] = sum(p.numel() for p in net.ordered())
    return out


def tp_worker(rank: int, world_size: int, hidden: int = 32, steps: int = 5,
              batch_size: int = 64, lr: float = 0.1, seed: int = 0) -> dict:
    """One rank of the tensor-parallel run (for
    :func:`~course_utils.core.launchers.run_local` with a process group): ``steps`` SGD
    steps (momentum 0.9) on whole global batches of ``batch_size``; ``4 * hidden`` (the
    block's hidden units, split between the ranks) must be divisible by ``world_size``.

    Returns ``losses``, step 0's ``logits`` and ``grads`` (this rank's pieces, in
    ``PARAM_NAMES`` order), final ``params`` (pieces), ``test_accuracy``, ``numel``
    (elements this rank stores) and per-step ``bytes`` (all-reduce bytes and calls).
    """
    _check_config(hidden, steps, batch_size, lr, seed)
    if (4 * hidden) % world_size:
        raise ValueError(f"hidden must make 4 * hidden divisible by world_size={world_size}, "
                         f"got {hidden}")
    device = torch.device("cuda", torch.cuda.current_device()) \
        if dist.get_backend() == "nccl" else torch.device("cpu")
    weights = {k: v.to(device) for k, v in init_weights(hidden, seed).items()}
    return {"rank": rank, "world_size": world_size,
            **_train(_Net(weights, group=None), steps, batch_size, lr, seed, device)}


def dense_reference(hidden: int = 32, steps: int = 5, batch_size: int = 64, lr: float = 0.1,
                    seed: int = 0) -> dict:
    """The same network and steps, unsplit, in one process (CPU, float64)."""
    _check_config(hidden, steps, batch_size, lr, seed)
    out = _train(_Net(init_weights(hidden, seed)), steps, batch_size, lr, seed,
                 torch.device("cpu"))
    del out["bytes"]
    return out


def stack_shards(pieces: Sequence[Sequence[torch.Tensor]]) -> list[torch.Tensor]:
    """Full tensors from every rank's list (rank order, ``PARAM_NAMES`` order): split
    parameters concatenated along ``SPLIT_DIMS``, replicated ones taken from rank 0
    (after checking every rank holds the same bits)."""
    if not pieces or any(len(p) != len(PARAM_NAMES) for p in pieces):
        raise ValueError(f"pieces must hold, per rank, {len(PARAM_NAMES)} tensors "
                         f"in PARAM_NAMES order")
    out = []
    for i, name in enumerate(PARAM_NAMES):
        parts = [p[i] for p in pieces]
        if name in SPLIT_DIMS:
            out.append(torch.cat(parts, dim=SPLIT_DIMS[name]))
        else:
            if not all(torch.equal(parts[0], q) for q in parts[1:]):
                raise AssertionError(f"replicated parameter {name} differs between ranks")
            out.append(parts[0])
    return out


def compare_tp_to_reference(results: Sequence[dict], reference: dict,
                            *, n_terms: int = 128) -> dict[str, GradientComparison]:
    """``"outputs"`` (every rank's step-0 logits), ``"gradients"`` and ``"weights"``
    (stacked with :func:`stack_shards`) against :func:`dense_reference`, with
    ``compare_gradients(exact=False, n_terms=n_terms)``; raises ``AssertionError`` if not.
    """
    check_int("n_terms", n_terms, minimum=1)
    if not results or any("grads" not in r for r in results):
        raise ValueError("results must be the list of tp_worker results, one per rank")
    runs = sorted(results, key=lambda r: r["rank"])
    kw = {"exact": False, "n_terms": n_terms}
    return {
        "outputs": compare_gradients([r["logits"] for r in runs],
                                     [reference["logits"]] * len(runs), **kw),
        "gradients": compare_gradients(stack_shards([r["grads"] for r in runs]),
                                       reference["grads"], **kw),
        "weights": compare_gradients(stack_shards([r["params"] for r in runs]),
                                     reference["params"], **kw),
    }


def main(argv: Sequence[str] | None = None) -> dict:
    """``torchrun ... -m course_utils.parallel.tp_mlp``: rank 0 checks against the dense
    reference and prints the bytes per step next to :func:`tp_traffic`."""
    p = argparse.ArgumentParser(description="2-way tensor-parallel MLP vs one process")
    p.add_argument("--hidden", type=int, default=32)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--backend", choices=BACKENDS, default="auto")
    p.add_argument("--out", default=None, help="rank 0 writes the JSON summary here")
    a = p.parse_args(argv)
    init_distributed(a.backend)
    rank, world = dist.get_rank(), dist.get_world_size()
    cfg = (a.hidden, a.steps, a.batch_size, a.lr, a.seed)
    result = tp_worker(rank, world, *cfg)
    gathered = [None] * world
    dist.all_gather_object(gathered, result)
    dist.destroy_process_group()
    summary = {}
    if rank == 0:
        checks = compare_tp_to_reference(gathered, dense_reference(*cfg))
        summary = {"world_size": world, "bytes_per_step": result["bytes"][-1],
                   "model_bytes": tp_traffic(a.batch_size, a.hidden, 8, world),
                   **{k: str(v) for k, v in checks.items()}}
        if a.out:
            with open(a.out, "w") as f:
                json.dump(summary, f)
        emit(summary)
    return summary


if __name__ == "__main__":
    main()
