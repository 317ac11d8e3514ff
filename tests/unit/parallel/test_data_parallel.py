"""The data-parallel step simulator (course_utils.parallel.data_parallel).

The real multi-process runs are in test_train_ddp.py (DDP), test_comm_hooks.py (the
compressed exchange) and test_timing.py (measured all-reduce)."""

from __future__ import annotations

import time

import numpy as np
import pytest

from course_utils.parallel.data_parallel import BYTES_PER_VALUE, simulate_data_parallel
from course_utils.parallel.figures import GIB

BASE = dict(
    params=60e6,
    flops_per_example=3 * 2 * 60e6,
    gpu_flops=4.5e12,
    bandwidth=7 * GIB,
    latency=0.0,
    n_gpus=4,
    batch_per_gpu=128,
)


def test_one_gpu_has_speedup_one():
    r = simulate_data_parallel(**(BASE | dict(n_gpus=1)))
    assert float(r.speedup) == 1.0 and float(r.exposed_comm_time) == 0.0


def test_free_network_gives_linear_speedup():
    r = simulate_data_parallel(**(BASE | dict(bandwidth=1e30, n_gpus=[2, 8, 64])))
    np.testing.assert_allclose(r.speedup, [2, 8, 64], rtol=1e-9)


def test_breakdown_adds_up_and_overlap_hides_communication():
    r = simulate_data_parallel(**BASE)
    np.testing.assert_allclose(r.step_time, r.compute_time + r.exposed_comm_time)
    assert float(r.efficiency) == pytest.approx(float(r.speedup) / 4)
    hidden = simulate_data_parallel(**(BASE | dict(overlap=1.0, bandwidth=1e12)))
    assert float(hidden.exposed_comm_time) == 0.0 < float(hidden.comm_time)
    half = simulate_data_parallel(**(BASE | dict(overlap=0.5)))
    assert float(half.exposed_comm_time) == pytest.approx(
        float(r.comm_time) - 0.5 * 2 / 3 * float(r.compute_time)
    )


def test_compression_divides_the_bytes():
    for scheme, per_value in BYTES_PER_VALUE.items():
        r = simulate_data_parallel(**(BASE | dict(compression=scheme)))
        ref = simulate_data_parallel(**BASE)
        assert float(r.comm_time) == pytest.approx(float(ref.comm_time) * per_value / 4)


def test_small_batches_waste_the_gpu():
    r = simulate_data_parallel(**(BASE | dict(batch_per_gpu=[16, 64, 256], half_batch=32)))
    per_example = r.compute_time / np.array([16, 64, 256])
    assert per_example[0] > per_example[1] > per_example[2]


def test_paper_alexnet_example_communication_exceeds_compute():
    """Section 1 of the 8-bit paper: 60M parameters over PCIe switches on 4 GPUs = 128 ms,
    more than the whole forward + backward pass (< 100 ms)."""
    r = simulate_data_parallel(**(BASE | dict(algorithm="pcie_switch")))
    assert float(r.comm_time) == pytest.approx(0.1277, abs=5e-4)
    assert float(r.comm_time) > 0.100


@pytest.mark.timing
def test_sweep_of_10000_configs_under_a_second():
    rng = np.random.default_rng(0)
    n = 10_000
    cfg = dict(
        params=rng.uniform(1e6, 1e10, n),
        flops_per_example=rng.uniform(1e8, 1e13, n),
        gpu_flops=rng.uniform(1e12, 2e15, n),
        bandwidth=rng.uniform(1e9, 1e12, n),
        latency=rng.uniform(0, 1e-4, n),
        n_gpus=rng.integers(1, 4097, n),
        batch_per_gpu=rng.integers(1, 1025, n),
        overlap=rng.uniform(0, 1, n),
        half_batch=32.0,
    )
    t0 = time.perf_counter()
    for algorithm in ("ring", "tree"):
        r = simulate_data_parallel(**cfg, algorithm=algorithm, compression="bf16")
    assert time.perf_counter() - t0 < 1.0
    assert r.speedup.shape == (n,) and np.all((r.efficiency > 0) & (r.efficiency <= 1 + 1e-12))


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(n_gpus=0), ValueError, "n_gpus must be >= 1"),
        (dict(params=-5), ValueError, "params must be >= 1"),
        (dict(overlap=1.5), ValueError, "overlap must be between 0 and 1"),
        (dict(compression="zip"), ValueError, "compression must be one of"),
        (dict(algorithm="mesh"), ValueError, "algorithm must be one of"),
        (dict(gpu_flops=0), ValueError, "gpu_flops must be > 0"),
        (dict(batch_per_gpu="big"), TypeError, "batch_per_gpu must be a real number"),
    ],
)
def test_bad_input_raises_clear_errors(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        simulate_data_parallel(**(BASE | kwargs))


def test_an_all_reduce_time_from_another_model_replaces_the_link_model():
    from course_utils.parallel.data_parallel import simulate_data_parallel

    kw = dict(params=1e6, flops_per_example=1e9, gpu_flops=1e12, n_gpus=8, batch_per_gpu=32)
    by_link = simulate_data_parallel(bandwidth=1e9, latency=1e-5, **kw)
    given = simulate_data_parallel(allreduce_seconds=by_link.comm_time, **kw)
    np.testing.assert_allclose(given.step_time, by_link.step_time)
    one = simulate_data_parallel(**(kw | {"n_gpus": 1}), allreduce_seconds=1.0)
    assert float(one.comm_time) == 0.0  # one GPU does not communicate
    with pytest.raises(ValueError, match="bandwidth and latency are needed"):
        simulate_data_parallel(**kw)
