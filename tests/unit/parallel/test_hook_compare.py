"""course_utils.parallel.hook_compare: PowerSGD, 8-bit and 1-bit DDP hooks on 2 gloo
processes send exactly the bytes of their models."""

from __future__ import annotations

import math

import pytest

from course_utils.core.launchers import run_local
from course_utils.parallel import comm_count
from course_utils.parallel import hook_compare as hc


@pytest.fixture(scope="module")
def runs():
    return run_local(hc.hook_worker, (hc.COMPARED, 1), nprocs=2, process_group="gloo")


def test_bytes_per_step_equal_the_models(runs):
    for rank_runs in runs:
        by = {r["scheme"]: r for r in rank_runs}
        shapes = by["fp32"]["shapes"]
        n = sum(math.prod(s) for s in shapes)
        assert set(by["fp32"]["bytes"]) == {4 * n}
        eight_bit = comm_count.scatter_gather_bytes(n, 2, "dynamic_tree")
        assert set(by["dynamic_tree"]["bytes"]) == {eight_bit}
        assert set(by["1bit"]["bytes"]) == {comm_count.scatter_gather_bytes(n, 2, "1bit")}
        psgd = by["powersgd"]["bytes"]
        assert psgd[:2] == [4 * n, 4 * n]  # start_powerSGD_iter = 2 plain all-reduces
        assert set(psgd[2:]) == {comm_count.powersgd_bytes(shapes)}
        # p = 2: an all-reduce sends all of its tensor, the two-phase hooks half of theirs
        assert set(by["fp32"]["wire"]) == {4 * n}
        assert set(by["1bit"]["wire"]) == {comm_count.scatter_gather_bytes(n, 2, "1bit") / 2}


def test_training_still_learns(runs):
    for r in runs[0]:
        assert r["test_accuracy"] > 0.8, r["scheme"]


def test_bad_inputs():
    with pytest.raises(ValueError, match="scheme"):
        hc.hook_worker(0, 2, schemes=("fp64",))
    with pytest.raises(ValueError, match="schemes"):
        hc.hook_worker(0, 2, schemes=())
    with pytest.raises(ValueError, match="start_iter"):
        hc.hook_worker(0, 2, start_iter=1)
