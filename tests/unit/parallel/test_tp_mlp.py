"""course_utils.parallel.tp_mlp: the 2-way tensor-parallel block equals the dense one and
all-reduces exactly one (batch, h) activation forward and one backward."""

from __future__ import annotations

import pytest
import torch

from course_utils.core.launchers import run_local
from course_utils.parallel import comm_count, tp_mlp


@pytest.fixture(scope="module")
def runs():
    results = run_local(tp_mlp.tp_worker, (16, 3), nprocs=2, process_group="gloo")
    return results, tp_mlp.dense_reference(16, 3)


def test_tensor_parallel_equals_dense(runs):
    results, reference = runs
    checks = tp_mlp.compare_tp_to_reference(results, reference)
    assert {c.branch for c in checks.values()} == {"tolerance"}
    assert results[0]["test_accuracy"] == pytest.approx(reference["test_accuracy"], abs=1e-12)
    swapped = [dict(r, rank=1 - r["rank"]) for r in results]  # pieces stacked wrongly
    with pytest.raises(AssertionError):
        tp_mlp.compare_tp_to_reference(swapped, reference)


def test_measured_bytes_equal_megatron_model(runs):
    results, reference = runs
    model = comm_count.tp_traffic(64, 16, 8, 2)
    for r in results:
        for step in r["bytes"]:
            assert step == {"all_reduce": model["forward"] + model["backward"], "calls": 2,
                            "total": model["forward"] + model["backward"]}
        split = 2 * 16 * 64 + 64  # W1, b1, W2 are halved
        assert r["numel"] == reference["numel"] - split // 2


def test_stack_shards_rejects_bad_input():
    with pytest.raises(ValueError, match="pieces"):
        tp_mlp.stack_shards([[torch.zeros(1)]])
    w = [torch.zeros(1)] * len(tp_mlp.PARAM_NAMES)
    other = [torch.ones(1)] * len(tp_mlp.PARAM_NAMES)
    with pytest.raises(AssertionError, match="embed_w"):
        tp_mlp.stack_shards([w, other])


def test_bad_inputs():
    with pytest.raises(ValueError, match="hidden"):
        tp_mlp.init_weights(hidden=0)
    with pytest.raises(ValueError, match="lr"):
        tp_mlp.dense_reference(lr=0)
    with pytest.raises(ValueError, match="results"):
        tp_mlp.compare_tp_to_reference([], {})
