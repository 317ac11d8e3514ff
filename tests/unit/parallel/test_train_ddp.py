"""course_utils.parallel.train_ddp: real DDP runs on 2 CPU processes (gloo)."""

from __future__ import annotations

import json

import pytest
import torch

from course_utils.core.launchers import run_local
from course_utils.parallel import train_ddp as T
from course_utils.parallel.train_ddp import train_worker


def test_real_two_process_ddp_gradient_equals_full_batch_gradient(tmp_path):
    args = [f"--grad-out={tmp_path}/g.pt", f"--out={tmp_path}/r.json", "--epochs=1"]
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
