from __future__ import annotations

import numpy as np
import pytest

from course_utils.core.launchers import launch
from course_utils.systems import one_process_per_gpu as op


@pytest.fixture(scope="module")
def reference():
    return op.train_reference(steps=10)


def test_reference_learns(reference):
    x, y = op.load_data()
    assert op.accuracy(reference, x, y) > 0.85  # 10 chance -> >85% in 10 steps


def test_one_thread_over_two_devices_equals_the_reference(reference):
    np.testing.assert_allclose(op.train_one_thread(["cpu", "cpu"], steps=10), reference,
                               rtol=1e-10, atol=1e-12)


def test_two_mpi_processes_equal_the_reference(reference):
    (result,) = launch("mpi", "course_utils.systems.one_process_per_gpu",
                       ["--engine", "mpi", "--steps", "10"], nprocs=2)
    assert result["processes"] == 2
    np.testing.assert_allclose(np.array(result["weights"]), reference, rtol=1e-10, atol=1e-12)


def test_shards_cover_every_row_once():
    rows = np.concatenate([np.arange(10)[op.shard(10, r, 3)] for r in range(3)])
    assert sorted(rows) == list(range(10))
    with pytest.raises(ValueError, match="rank must be <= 2, got 3"):
        op.shard(10, 3, 3)
    with pytest.raises(ValueError, match="devices must name"):
        op.train_one_thread([])
