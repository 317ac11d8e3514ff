"""course_utils.parallel.fsdp_run: FSDP2 on 2 gloo processes equals one process, and moves
exactly 3 Psi bytes per step where DDP moves one all-reduce of Psi."""

from __future__ import annotations

import pytest

from course_utils.core.launchers import run_local
from course_utils.parallel import comm_count, fsdp_run


@pytest.fixture(scope="module")
def runs():
    results = run_local(fsdp_run.fsdp_worker, (32, 3), nprocs=2, process_group="gloo")
    return results, fsdp_run.unsharded_reference(32, 3)


def test_fsdp_and_ddp_equal_the_unsharded_model(runs):
    results, reference = runs
    for which in ("fsdp", "ddp"):
        checks = fsdp_run.compare_to_reference(results, reference, which)
        assert {c.branch for c in checks.values()} == {"tolerance"}
    # a wrong gradient is far outside the tolerance
    bad = [dict(r, fsdp=dict(r["fsdp"], grads=[2 * g for g in r["fsdp"]["grads"]]))
           for r in results]
    with pytest.raises(AssertionError):
        fsdp_run.compare_to_reference(bad, reference, "fsdp")


def test_measured_bytes_equal_the_model(runs):
    results, _ = runs
    n = results[0]["n_params"]
    assert comm_count.padded_numel(results[0]["shapes"], 2) == n  # no padding at these sizes
    model = comm_count.fsdp_traffic(n, 8, 2)
    for r in results:
        for which in ("fsdp", "ddp"):
            for step in r[which]["bytes"]:
                assert step == {k: model[which][k] for k in fsdp_run.KINDS}
            assert set(r[which]["wire"]) == {model[which]["wire"]}
        assert r["fsdp"]["shard_numel"] == n // 2 == r["fsdp"]["momentum_numel"]


def test_root_only_wrapping_gathers_once():
    """Only the root wrapped: FSDP2 keeps it gathered from forward to backward."""
    results = run_local(fsdp_run.fsdp_worker, (32, 1, 64, 0.1, 0, False), nprocs=2,
                        process_group="gloo")
    model = comm_count.fsdp_traffic(results[0]["n_params"], 8, 2, reshard_after_forward=False)
    assert results[0]["fsdp"]["bytes"] == [{k: model["fsdp"][k] for k in fsdp_run.KINDS}]
    fsdp_run.compare_to_reference(results, fsdp_run.unsharded_reference(32, 1))


def test_bad_inputs():
    with pytest.raises(ValueError, match="steps"):
        fsdp_run.unsharded_reference(steps=0)
    with pytest.raises(ValueError, match="which"):
        fsdp_run.compare_to_reference([{"fsdp": {}}], {}, "zero")
    with pytest.raises(TypeError, match="per_layer"):
        fsdp_run.fsdp_worker(0, 2, per_layer="yes")
