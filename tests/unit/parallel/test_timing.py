"""course_utils.parallel.timing: all-reduce timing on real gloo processes."""

from __future__ import annotations

import numpy as np
import pytest

from course_utils.parallel import timing


def test_default_sizes_4_kib_to_4_mib():
    sizes = timing.default_sizes()
    assert sizes[0] == 4096 and sizes[-1] == 4 * 2**20
    assert all(b == 4 * a for a, b in zip(sizes, sizes[1:], strict=False))


def test_two_gloo_processes_time_every_size():
    r = timing.measure_allreduce("torch", 2, [4096, 65536], repeats=3)
    assert r["engine"] == "torch" and r["backend"] == "gloo" and r["world_size"] == 2
    assert r["nbytes"] == [4096, 65536]
    assert len(r["all_seconds"]) == 2 and all(len(s) == 3 for s in r["all_seconds"])
    assert all(np.isfinite(t) and t > 0 for t in r["min_seconds"] + r["seconds"])
    assert all(m <= med for m, med in zip(r["min_seconds"], r["seconds"], strict=True))


@pytest.mark.parametrize("call, exc, match", [
    (lambda: timing.measure_allreduce("nccl2", 2), ValueError, "engine must be one of"),
    (lambda: timing.measure_allreduce("torch", 0), ValueError, "nprocs must be >= 1"),
    (lambda: timing.measure_allreduce("torch", 2, []), ValueError, "sizes must contain"),
    (lambda: timing.measure_allreduce("torch", 2, [2]), ValueError, r"sizes\[i\] must be >= 4"),
    (lambda: timing.measure_allreduce("torch", 2, repeats=0), ValueError,
     "repeats must be >= 1"),
])
def test_bad_inputs_are_rejected_before_launching(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


@pytest.mark.timing
def test_measured_gloo_allreduce_follows_the_alpha_beta_model():
    """Predict each size (4 KiB ... 2 MiB, 2 processes) from a fit to the others.

    On a 2-core machine shared with other work, only 2 processes are measured (more
    processes than cores measure the OS scheduler, not the network); each size's time
    is the 10th percentile of 100 interleaved single-call samples, and when a
    prediction misses, 100 more samples are pooled (at most 300), as in the notebook.
    """
    sizes = [4096, 16384, 65536, 262144, 1048576, 2097152]
    result, errors, series = timing.measure_allreduce_model(2, sizes)
    assert 1 <= series <= 3 and len(result["all_seconds"][0]) == 100 * series
    assert np.abs(errors).max() < 0.25, (result["low_seconds"], errors)


def test_a_miss_pools_fresh_samples_with_the_earlier_ones():
    """A first series the model cannot fit (one size 3x too slow) is pooled, not kept."""
    sizes = [4096, 16384, 65536, 1048576, 4194304]
    first = timing.measure_allreduce("torch", 2, sizes, repeats=5)
    spoiled = [[t * (3 if i == 1 else 1) for t in run]
               for i, run in enumerate(first["all_seconds"])]
    first = first | timing._summarise(spoiled)
    result, errors, series = timing.measure_allreduce_model(
        2, first=first, repeats=20, attempts=2, tolerance=1e-9)
    assert series == 2 and len(result["all_seconds"][0]) == 25
    assert result["low_seconds"][1] < first["low_seconds"][1]  # fresh samples pulled it down
    assert errors.shape == (5,)


@pytest.mark.parametrize("kwargs, exc, match", [
    ({"tolerance": 0}, ValueError, "tolerance must be > 0"),
    ({"attempts": 0}, ValueError, "attempts must be >= 1"),
    ({"first": {"seconds": [1.0]}}, TypeError, "first must be a result of measure_allreduce"),
])
def test_measure_allreduce_model_rejects_bad_input(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        timing.measure_allreduce_model(2, [4096, 8192, 16384], **kwargs)


@pytest.mark.parametrize("precision", ["fp32", "tf32", "bf16"])
def test_matmul_throughput_in_every_precision_restores_the_setting(precision):
    import torch  # a test dependency: no silent skip

    before = torch.get_float32_matmul_precision()
    rates = timing.matmul_throughput([1, 16], 32, repeats=1, min_seconds=0.0,
                                     precision=precision)
    assert len(rates) == 2 and all(np.isfinite(r) and r > 0 for r in rates)
    assert torch.get_float32_matmul_precision() == before


def test_matmul_throughput_rejects_an_unknown_precision():
    with pytest.raises(ValueError, match="precision must be one of"):
        timing.matmul_throughput([4], precision="fp8")
