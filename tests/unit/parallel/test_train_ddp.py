"""course_utils.parallel.train_ddp: real DDP runs on 2 CPU processes (gloo)."""

from __future__ import annotations

import json

import pytest
import torch

from course_utils.core.launchers import run_local
from course_utils.parallel import train_ddp as T
from course_utils.parallel.train_ddp import train_worker


def test_real_two_process_ddp_gradient_equals_full_batch_gradient(tmp_path):
    # gloo on the CPU on any machine: the bit-for-bit check below needs it
    args = ["--backend=gloo", f"--grad-out={tmp_path}/g.pt", f"--out={tmp_path}/r.json",
            "--epochs=1"]
    run_local(train_worker, (args,), nprocs=2, timeout=120)
    summary = json.loads((tmp_path / "r.json").read_text())
    assert summary["backend"] == "gloo" and summary["world_size"] == 2
    ddp_grad = torch.load(tmp_path / "g.pt")

    X, y, _, _ = T.load_digits_split()
    batch = torch.as_tensor(T.global_batches(len(X), 64, epoch=0)[0])
    full = T.full_batch_gradient(T.make_model(), X[batch], y[batch])
    halves = [
        T.full_batch_gradient(T.make_model(), X[batch[s]], y[batch[s]])
        for s in (slice(0, 32), slice(32, 64))
    ]
    for g_ddp, g_full, g0, g1 in zip(ddp_grad, full, *halves, strict=True):
        assert torch.equal(g_ddp, (g0 + g1) / 2)  # bit for bit: what all-reduce computes
        torch.testing.assert_close(g_ddp, g_full, rtol=0, atol=1e-15)  # float64 rounding only
    assert summary["test_accuracy"] > 0.85


def test_real_two_process_ddp_with_8bit_comm_hook(tmp_path):
    args = [f"--out={tmp_path}/r.json", "--epochs=1", "--dtype=float32",
            "--compression=dynamic_tree"]  # fmt: skip
    run_local(train_worker, (args,), nprocs=2, timeout=120)
    s = json.loads((tmp_path / "r.json").read_text())
    steps = s["steps_total"]
    # one bucket per step, cut into 2 shards: 1 byte per value + a 4-byte scale per shard
    assert s["payload_bytes_per_rank"] == steps * (s["n_parameters"] + 2 * 4)
    assert s["test_accuracy"] > 0.85


def test_init_distributed_is_the_core_one():
    from course_utils.core.launchers import init_distributed

    assert T.init_distributed is init_distributed


def test_local_slices_partition_a_global_batch():
    batch = T.global_batches(100, 64, epoch=0)[0]
    pieces = [T.local_slice(batch, r, 2) for r in range(2)]
    assert [len(p) for p in pieces] == [32, 32]
    assert list(pieces[0]) + list(pieces[1]) == list(batch)
    with pytest.raises(ValueError, match="must be divisible by world_size 3"):
        T.local_slice(batch, 0, 3)  # 64 examples do not split 3 ways


# ------------------------------------------------ comparing gradients: exact or tolerance
def _gradients(dtype, reverse=False):
    """The first global batch's gradient; ``reverse`` sums its 64 examples in another order
    (what another BLAS, or cuBLAS, does): mathematically equal, not bit for bit."""
    X, y, _, _ = T.load_digits_split(dtype=dtype)
    batch = torch.as_tensor(T.global_batches(len(X), 64, epoch=0)[0])
    if reverse:
        batch = batch.flip(0)
    return T.full_batch_gradient(T.make_model(dtype=dtype), X[batch], y[batch])


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_another_summation_order_fails_exact_and_passes_the_tolerance(dtype):
    ref, other = _gradients(dtype), _gradients(dtype, reverse=True)
    same = T.compare_gradients(_gradients(dtype), ref, exact=True)
    assert same.branch == "exact" and same.max_abs_diff == 0.0
    with pytest.raises(AssertionError, match="not identical bit for bit"):
        T.compare_gradients(other, ref, exact=True)
    got = T.compare_gradients(other, ref, exact=False)
    eps = torch.finfo(dtype).eps
    assert got.branch == "tolerance" and 0 < got.max_abs_diff < got.atol
    assert got.rtol == 64 * eps
    # the tolerance is the rounding of a reordered sum, not a blanket: 100x more fails
    bumped = [g + 100 * got.atol for g in other]
    with pytest.raises(AssertionError, match="tensor 0"):
        T.compare_gradients(bumped, ref, exact=False)


@pytest.mark.parametrize("gpus, procs, backend, branch", [
    (1, 1, "nccl", "tolerance"),  # Colab: 1 process on cuda:0
    (1, 2, "gloo", "exact"),      # Colab, 2 processes: gloo on the CPU, bit for bit
    (2, 2, "nccl", "tolerance"),
    (0, 2, "gloo", "exact"),
])
def test_the_gpu_branch_compares_with_a_tolerance(monkeypatch, gpus, procs, backend, branch):
    """The notebook's check, with the GPU count mocked (no CUDA, no NCCL is started): the
    backend follows from the GPUs, and a GPU run is compared with the tolerance."""
    import torch.distributed as dist

    from course_utils.core.launchers import choose_backend

    monkeypatch.setattr(torch.cuda, "is_available", lambda: gpus > 0)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: gpus)
    monkeypatch.setattr(dist, "is_nccl_available", lambda: True)
    chosen = choose_backend("auto", procs)
    device = "cuda:0" if chosen == "nccl" else "cpu"
    assert chosen == backend
    ref = _gradients(torch.float64)
    # what a GPU returns: the same gradient summed in another order
    got = _gradients(torch.float64, reverse=chosen == "nccl")
    result = T.compare_gradients(got, ref, device=device)
    assert result.branch == branch
    if branch == "tolerance":
        assert result.max_abs_diff > 0 and "summation-order" in str(result)
    else:
        assert str(result) == "identical in every bit (torch.equal)"


def test_the_backend_option_defaults_to_auto_and_can_force_gloo():
    assert T.parse_args([]).backend == "auto"
    assert T.parse_args(["--backend", "gloo"]).backend == "gloo"


@pytest.mark.parametrize("call, exc, match", [
    (lambda g: T.compare_gradients(g, g[:1]), ValueError, "same number"),
    (lambda g: T.compare_gradients(g, g, n_terms=0), ValueError, "n_terms must be >= 1"),
    (lambda g: T.compare_gradients(g, g, exact="yes"), ValueError,
     "exact must be True, False or 'auto'"),
    (lambda g: T.compare_gradients(g, g, exact=None), TypeError, "exact must be True, False"),
    (lambda g: T.compare_gradients([x.float() for x in g], g), TypeError, "got.0. must match"),
])
def test_compare_gradients_rejects_bad_input(call, exc, match):
    with pytest.raises(exc, match=match):
        call(_gradients(torch.float64))
