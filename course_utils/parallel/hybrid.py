"""Hybrid parallelism on real processes: data-parallel conv layers, model-parallel FC layers.

Krizhevsky's "one weird trick" (https://arxiv.org/abs/1404.5997) with the sub-batch
scheme of Dettmers' 8-bit paper (section 2.4, https://arxiv.org/abs/1511.04561): each
of the ``p`` ranks runs the convolutional layers on its own sub-batch (data
parallelism); the fully connected head is split across the ranks (a
:class:`~course_utils.parallel.tensor_parallel.TensorParallelMLP`) and processes the
``p`` sub-batches one after the other, each broadcast from the rank that owns it. In
the backward pass each sub-batch's feature gradient is reduced back onto its owner,
and the conv gradients are all-reduced as in data parallelism. The step computes
exactly the single-process step on the whole batch (:func:`train_single` is that
reference; the tests compare them).

Run it as a script, unchanged, under torchrun (gloo on CPUs; NCCL and one GPU per
process when CUDA is available)::

    python -m torch.distributed.run --nproc_per_node=2 -m course_utils.parallel.hybrid \
        --epochs 8 --out hybrid.json

or from Python/a notebook with :func:`course_utils.core.launchers.run_local` and
``process_group="gloo"``, which forks CPU processes and returns what each rank's
function returned. This module also holds the two-process workers the
model-parallelism chapter runs: the post's split-layer example
(:func:`split_layer_worker`) and communication timings (:func:`fc_comm_worker`).

Used in: :doc:`/notebooks/mp_split_layers`.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from ..core.checks import check_int, check_number
from ..core.launchers import init_distributed
from ..core.measure import time_calls
from . import model_parallel as mp
from . import tensor_parallel as tp
from .train_ddp import global_batches, load_digits_split, local_slice

__all__ = [
    "digits_images",
    "ConvFeatures",
    "DigitsNet",
    "HybridDigitsNet",
    "hybrid_forward",
    "train_hybrid",
    "train_single",
    "split_layer_worker",
    "fc_comm_worker",
    "main",
]

HIDDEN = 128  # hidden units of the fully connected head (64 -> 128 -> 10)


# --------------------------------------------------------------------------- data and nets
def digits_images(seed: int = 0, device=None) -> tuple[torch.Tensor, ...]:
    """The data-parallel chapter's digits split (standardised, float32) as 1x8x8 images.

    Returns ``(x_train, y_train, x_test, y_test)`` (1347 and 450 examples); see
    :func:`course_utils.parallel.train_ddp.load_digits_split`.
    """
    xtr, ytr, xte, yte = load_digits_split(seed=seed, dtype=torch.float32)
    return (xtr.reshape(-1, 1, 8, 8).to(device), ytr.to(device),
            xte.reshape(-1, 1, 8, 8).to(device), yte.to(device))


class ConvFeatures(nn.Module):
    """conv 3x3 (1->8), ReLU, max-pool 2; conv 3x3 (8->16), ReLU, max-pool 2; flatten.

    8x8 images in, 64 features out; 1,248 parameters (the FC head has 9,610).
    Initialised by torch's defaults under ``torch.manual_seed(seed)``.
    """

    def __init__(self, seed: int = 0):
        super().__init__()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.layers = nn.Sequential(
                nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


def _head_weights(seed: int, device=None) -> tuple[torch.Tensor, ...]:
    w1, b1 = mp.full_init(64, HIDDEN, seed=seed + 1, device=device)
    w2, b2 = mp.full_init(HIDDEN, 10, seed=seed + 2, device=device)
    return w1, b1, w2, b2


class DigitsNet(nn.Module):
    """The single-process network: :class:`ConvFeatures`, then
    ``relu(h @ w1 + b1) @ w2 + b2`` (64 -> 128 -> 10)."""

    def __init__(self, seed: int = 0, device=None):
        super().__init__()
        self.features = ConvFeatures(seed).to(device)
        for name, value in zip(("w1", "b1", "w2", "b2"), _head_weights(seed, device),
                               strict=True):
            setattr(self, name, nn.Parameter(value))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.features(x)
        return torch.relu(h @ self.w1 + self.b1) @ self.w2 + self.b2


class HybridDigitsNet(nn.Module):
    """This rank's part of :class:`DigitsNet` (same seed, same initial weights): all of
    the conv layers (data-parallel) and its pieces of the head (model-parallel; w1
    split by columns, w2 by rows)."""

    def __init__(self, seed: int = 0, device=None, group=None):
        super().__init__()
        self.features = ConvFeatures(seed).to(device)
        # input gradients are summed by broadcast_from's backward (a reduce to the owner)
        self.head = tp.TensorParallelMLP(*_head_weights(seed, device), reduce_input_grad=False,
                                         group=group)
        self.group = group

    def full_state(self) -> dict[str, torch.Tensor]:
        """The whole network's weights, as :class:`DigitsNet` names them (collective)."""
        gather = mp.all_gather_cat  # stacks pieces in rank order
        fc1, fc2 = self.head.fc1, self.head.fc2
        state = {f"features.{k}": v.detach().clone()
                 for k, v in self.features.state_dict().items()}
        state["w1"] = gather(fc1.weight.detach(), 1, self.group)
        state["b1"] = gather(fc1.bias.detach(), 0, self.group)
        state["w2"] = gather(fc2.weight.detach(), 0, self.group)
        state["b2"] = fc2.bias.detach().clone()
        return state


def hybrid_forward(net: HybridDigitsNet, x_local: torch.Tensor) -> list[torch.Tensor]:
    """The sub-batch scheme, forward: conv layers on this rank's ``x_local``, then the
    model-parallel head on every rank's sub-batch in turn.

    Returns the logits of sub-batch k (from rank k) for k = 0..p-1, the same on every
    rank. Every rank's ``x_local`` must have the same shape.
    """
    world_size, _ = mp.group_size_rank(net.group)
    features = net.features(x_local)
    return [net.head(mp.broadcast_from(features, k, net.group)) for k in range(world_size)]


def _run_steps(step: Callable, n_train: int, epochs: int, batch: int, seed: int,
               max_steps: int | None) -> tuple[list[float], float]:
    """Run ``step(indices)`` over the shuffled global batches of ``epochs`` epochs (at
    most ``max_steps``); returns the losses and the loop's time in seconds."""
    if max_steps is not None:
        check_int("max_steps", max_steps, minimum=1)
    schedule = [idx for epoch in range(epochs)
                for idx in global_batches(n_train, batch, epoch, seed)][:max_steps]
    t0 = time.perf_counter()
    losses = [step(idx) for idx in schedule]
    return losses, time.perf_counter() - t0


def _check_training_args(epochs, batch, lr, momentum):
    return (check_int("epochs", epochs, minimum=1), check_int("batch", batch, minimum=1),
            check_number("lr", lr, minimum=0, strict_minimum=True),
            check_number("momentum", momentum, minimum=0, maximum=1))


def train_hybrid(rank: int, world_size: int, epochs: int = 8, batch: int = 64,
                 lr: float = 0.05, momentum: float = 0.9, seed: int = 0,
                 max_steps: int | None = None, device=None) -> dict:
    """Train :class:`HybridDigitsNet` on this rank (call on every rank of the group).

    Each step takes a global batch of ``batch`` images; rank r runs the conv layers on
    its ``batch / world_size`` images; the head processes the ``world_size``
    sub-batches in turn; conv gradients are all-reduced (summed: the loss is already
    divided by ``batch``). SGD with momentum on every rank; no head weights are sent.

    Returns (the same on every rank): ``losses`` (mean loss per step), ``state`` (the
    full network's final weights), ``test_accuracy``, ``seconds`` (training loop),
    ``steps``, ``world_size``.
    """
    world_size = check_int("world_size", world_size, minimum=1)
    rank = check_int("rank", rank, minimum=0, maximum=world_size - 1)
    epochs, batch, lr, momentum = _check_training_args(epochs, batch, lr, momentum)
    if batch % world_size:
        raise ValueError(f"batch must be a multiple of world_size={world_size}, got {batch}")
    xtr, ytr, xte, yte = digits_images(seed, device)
    net = HybridDigitsNet(seed, device)
    opt = torch.optim.SGD(net.parameters(), lr=lr, momentum=momentum)
    conv_params = list(net.features.parameters())

    def step(idx) -> float:
        opt.zero_grad()
        logits = hybrid_forward(net, xtr[local_slice(idx, rank, world_size)])
        loss = sum(F.cross_entropy(lg, ytr[local_slice(idx, k, world_size)], reduction="sum")
                   for k, lg in enumerate(logits)) / batch
        loss.backward()
        flat = torch.cat([p.grad.reshape(-1) for p in conv_params])
        mp.all_reduce_sum(flat)  # data parallelism for the conv layers: one message
        torch.nn.utils.vector_to_parameters(flat, [p.grad for p in conv_params])
        opt.step()
        return loss.item()

    losses, seconds = _run_steps(step, len(xtr), epochs, batch, seed, max_steps)
    state = net.full_state()
    reference = DigitsNet(seed, device)
    reference.load_state_dict(state)
    return {"losses": losses, "state": {k: v.cpu() for k, v in state.items()},
            "test_accuracy": _accuracy(reference, xte, yte), "seconds": seconds,
            "steps": len(losses), "world_size": world_size}


def train_single(epochs: int = 8, batch: int = 64, lr: float = 0.05, momentum: float = 0.9,
                 seed: int = 0, max_steps: int | None = None, device=None) -> dict:
    """The same training as :func:`train_hybrid` in one process (the reference).

    Same data order, initial weights and optimiser; returns the same keys.
    """
    epochs, batch, lr, momentum = _check_training_args(epochs, batch, lr, momentum)
    xtr, ytr, xte, yte = digits_images(seed, device)
    net = DigitsNet(seed, device)
    opt = torch.optim.SGD(net.parameters(), lr=lr, momentum=momentum)

    def step(idx) -> float:
        opt.zero_grad()
        loss = F.cross_entropy(net(xtr[idx]), ytr[idx])
        loss.backward()
        opt.step()
        return loss.item()

    losses, seconds = _run_steps(step, len(xtr), epochs, batch, seed, max_steps)
    state = {k: v.detach().cpu().clone() for k, v in net.state_dict().items()}
    return {"losses": losses, "state": state, "test_accuracy": _accuracy(net, xte, yte),
            "seconds": seconds, "steps": len(losses), "world_size": 1}


def _accuracy(net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return float((net(x).argmax(1) == y).float().mean())


# --------------------------------------------------------------------------- chapter workers
def split_layer_worker(rank: int, world_size: int, batch: int = 128, n_in: int = 1000,
                       n_out: int = 500, hidden: int = 1000, seed: int = 0) -> dict:
    """Every split of the post's example on this rank (a worker for ``run_local``).

    Draws X (batch, n_in), W (n_in, n_out), bias and an upstream gradient G (batch,
    n_out) from ``seed`` (the same on every rank) and returns this rank's results
    (loss L = sum(Y * G), so dL/dY = G):

    * ``row`` / ``column``: the hand-written forward and backward (``y``, ``grad_x``,
      ``grad_w`` piece);
    * ``column_module`` / ``row_module``: the autograd layers (``y``, ``grad_x``,
      ``grad_w``, ``grad_b`` pieces);
    * ``mlp``: :class:`~course_utils.parallel.tensor_parallel.TensorParallelMLP`
      (n_in -> hidden -> n_out) outputs, gradients and the collectives it called
      forward and backward.
    """
    rows = mp.shard_slice(n_in, world_size, rank)  # checks world_size and rank
    for name, v in (("batch", batch), ("n_in", n_in), ("n_out", n_out), ("hidden", hidden)):
        check_int(name, v, minimum=1)
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, n_in, generator=gen)
    w = torch.randn(n_in, n_out, generator=gen) / n_in**0.5
    b = torch.randn(n_out, generator=gen)
    g = torch.randn(batch, n_out, generator=gen)
    out: dict = {"rank": rank}
    w_row, w_col = mp.split_weight(w, 0, world_size, rank), mp.split_weight(w, 1, world_size, rank)
    with mp.record_collectives() as log:
        y = mp.row_split_forward(x[:, rows], w_row)
        gx, gw = mp.row_split_backward(x[:, rows], w_row, g)
    out["row"] = {"y": y, "grad_x": gx, "grad_w": gw, "collectives": list(log)}
    with mp.record_collectives() as log:
        y = mp.column_split_forward(x, w_col)
        gx, gw = mp.column_split_backward(x, w_col, g)
    out["column"] = {"y": y, "grad_x": gx, "grad_w": gw, "collectives": list(log)}
    for name, layer in (("column_module", tp.ColumnParallelLinear(w, b)),
                        ("row_module", tp.RowParallelLinear(w, b))):
        xr = x.clone().requires_grad_(True)
        y = layer(xr)
        (y * g).sum().backward()
        out[name] = {"y": y.detach(), "grad_x": xr.grad, "grad_w": layer.weight.grad,
                     "grad_b": layer.bias.grad}
    w1, b1 = mp.full_init(n_in, hidden, seed=seed + 1)
    w2, b2 = mp.full_init(hidden, n_out, seed=seed + 2)
    mlp = tp.TensorParallelMLP(w1, b1, w2, b2)
    xr = x.clone().requires_grad_(True)
    with mp.record_collectives() as fwd:
        y = mlp(xr)
    with mp.record_collectives() as bwd:
        (y * g).sum().backward()
    out["mlp"] = {"y": y.detach(), "grad_x": xr.grad, "grad_w1": mlp.fc1.weight.grad,
                  "grad_w2": mlp.fc2.weight.grad, "forward": list(fwd), "backward": list(bwd)}
    return out


def fc_comm_worker(rank: int, world_size: int, batches: Sequence[int], widths: Sequence[int],
                   repeats: int = 50, min_seconds: float = 0.0) -> dict:
    """Time the collectives of one square (n x n) layer's training step (seconds).

    ``column[(b, n)]``: the all-gather of the (b, n) output (each rank sends its
    (b, n/p) block) plus the all-reduce of the (b, n) input gradient, exactly the
    collectives of a column-split layer. ``allreduce[nbytes]`` and
    ``allgather[nbytes]`` (``nbytes`` gathered in all): every size involved, on its
    own, to fit alpha and beta; data parallelism's all-reduce of the n x n weight
    gradient is ``allreduce[4 * n * n]``. Each entry is the list of ``repeats``
    interleaved samples (the slowest rank's time for one call; with ``min_seconds`` > 0,
    the mean of enough back-to-back calls to fill it) from
    :func:`course_utils.core.measure.time_calls`: pool several runs and take a low
    quantile with :func:`course_utils.parallel.mp_costs.pooled_low_times`.
    """
    for name, sizes in (("batches", batches), ("widths", widths)):
        if not sizes or not all(check_int(f"{name}[i]", v, minimum=1) for v in sizes):
            raise ValueError(f"{name} must hold at least one size")
    check_int("repeats", repeats, minimum=1)
    check_number("min_seconds", min_seconds, minimum=0)
    device = torch.device("cuda", torch.cuda.current_device()) \
        if dist.get_backend() == "nccl" else torch.device("cpu")

    def slowest(t: float) -> float:
        v = torch.tensor([t], dtype=torch.float64, device=device)
        dist.all_reduce(v, op=dist.ReduceOp.MAX)
        return float(v)

    def agree(k: int) -> int:
        v = torch.tensor([k], device=device)
        dist.broadcast(v, src=0)
        return int(v)

    def timed(*ops: Callable[[], object]) -> Callable[[], None]:
        def call() -> None:
            for op in ops:
                op()
            if device.type == "cuda":
                torch.cuda.synchronize(device)  # NCCL calls return before they finish

        return call

    def all_reduce_call(nbytes: int) -> Callable[[], None]:
        buf = torch.ones(nbytes // 4, device=device)
        return timed(lambda: mp.all_reduce_sum(buf))

    def all_gather_call(nbytes: int) -> Callable[[], None]:
        piece = torch.ones(nbytes // 4 // world_size, device=device)
        return timed(lambda: mp.all_gather_cat(piece, 0))

    def column_call(bsz: int, n: int) -> Callable[[], None]:
        y_piece = torch.ones(bsz, n // world_size, device=device)
        grad_x = torch.ones(bsz, n, device=device)
        return timed(lambda: mp.all_gather_cat(y_piece, 1), lambda: mp.all_reduce_sum(grad_x))

    activations = sorted({4 * b * n for b in batches for n in widths})
    sizes = sorted({4 * n * n for n in widths} | set(activations))
    pairs = [(b, n) for n in widths for b in batches]
    calls = ([all_reduce_call(nb) for nb in sizes] + [all_gather_call(nb) for nb in activations]
             + [column_call(b, n) for b, n in pairs])
    samples = iter(time_calls(calls, dist.barrier, slowest, agree, repeats=repeats,
                              min_seconds=min_seconds))
    return {"allreduce": {nb: next(samples) for nb in sizes},
            "allgather": {nb: next(samples) for nb in activations},
            "column": {pair: next(samples) for pair in pairs}, "world_size": world_size}


# --------------------------------------------------------------------------- torchrun
def main(argv: Sequence[str] | None = None) -> dict:
    """Command-line entry point for torchrun (see the module docstring)."""
    parser = argparse.ArgumentParser(description="Hybrid-parallel training on digits")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None, help="JSON file written by rank 0")
    args = parser.parse_args(argv)
    backend, device = init_distributed()
    rank, world = dist.get_rank(), dist.get_world_size()
    result = train_hybrid(rank, world, args.epochs, args.batch, args.lr, seed=args.seed,
                          device=device)
    dist.destroy_process_group()
    summary = {"backend": backend, "world_size": world, "steps": result["steps"],
               "final_loss": result["losses"][-1], "test_accuracy": result["test_accuracy"],
               "seconds": result["seconds"]}
    if rank == 0:
        print(json.dumps(summary))
        if args.out:
            Path(args.out).write_text(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
