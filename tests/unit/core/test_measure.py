from __future__ import annotations

import numpy as np
import pytest

from course_utils import measure
from course_utils.membw import CopyMeasurement


def test_real_two_process_mpi_pingpong():
    sizes = [1, 4096, 1 << 20]
    result = measure.mpi_pingpong(sizes, repeats=2)
    assert result.engine.startswith("MPI") and result.nprocs == 2
    assert list(result.nbytes) == sizes
    assert all(isinstance(m, CopyMeasurement) for m in result.measurements)
    # one-way latency on one machine: above 100 ns, below 10 ms even on a busy machine
    assert 1e-7 < result.seconds[0] < 1e-2
    assert result.seconds[-1] > result.seconds[0]  # 1 MiB takes longer than 1 byte
    fit = result.fit()
    assert fit.alpha >= 0 and 1e7 < fit.bandwidth < 1e12  # 10 MB/s .. 1 TB/s


def test_pingpong_rejects_bad_sizes_before_launching():
    with pytest.raises(ValueError, match="sizes must contain"):
        measure.mpi_pingpong([])
    with pytest.raises(ValueError, match=r"sizes\[i\] must be >= 1"):
        measure.torch_pingpong([0])
    with pytest.raises(ValueError, match="repeats must be >= 1"):
        measure.mpi_pingpong([8], repeats=0)


def test_fit_recovers_alpha_and_beta_exactly():
    n = np.array([1, 1e3, 1e5, 1e7])
    t = 2e-6 + n / 5e9
    fit = measure.fit_alpha_beta(n, t)
    assert fit.alpha == pytest.approx(2e-6, rel=1e-9)
    assert fit.bandwidth == pytest.approx(5e9, rel=1e-9)
    np.testing.assert_allclose(fit.predict(n), t, rtol=1e-9)


def test_fit_balances_relative_errors():
    rng = np.random.default_rng(0)
    n = np.logspace(0, 7, 15)
    t = (3e-6 + n / 2e9) * rng.uniform(0.95, 1.05, n.size)
    fit = measure.fit_alpha_beta(n, t)
    assert fit.alpha == pytest.approx(3e-6, rel=0.1)
    assert fit.bandwidth == pytest.approx(2e9, rel=0.1)


@pytest.mark.parametrize("n, t, match", [
    ([1, 1], [1e-6, 2e-6], "two different sizes"),
    ([1, 2], [1e-6], "same length"),
    ([1, 2], [1e-6, 0.0], "seconds must be finite and > 0"),
    ([-1, 2], [1e-6, 2e-6], "nbytes must be finite and >= 0"),
    ([1, 1000], [1e-3, 1e-6], "do not grow"),
])
def test_fit_rejects_bad_input(n, t, match):
    with pytest.raises(ValueError, match=match):
        measure.fit_alpha_beta(n, t)


def test_launch_reports_a_failing_run():
    with pytest.raises(RuntimeError, match="failed"):
        measure.launch("mpi", "course_utils.no_such_module", [], nprocs=1, timeout=60)
    with pytest.raises(ValueError, match="engine must be one of"):
        measure.launch("slurm", "x", [])


def test_mpiexec_is_found():
    assert measure.mpiexec_path().name == "mpiexec"


def test_gpu_copies_need_a_gpu_or_measure_one():
    torch = pytest.importorskip("torch")
    with pytest.raises(ValueError, match="direction must be one of"):
        measure.gpu_copy_bandwidth("h2h")
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="needs a CUDA GPU"):
            measure.gpu_copy_bandwidth("h2d", [1 << 20])
        return
    for direction in measure.GPU_COPY_DIRECTIONS:  # pragma: no cover - GPU only
        (m,) = measure.gpu_copy_bandwidth(direction, [1 << 24], repeats=2, iterations=2)
        assert 1e8 < m.bandwidth < 1e13


def test_measure_until_stops_at_the_first_accepted_result():
    results = iter([5.0, 1.0, 0.5])
    value, tries = measure.measure_until(lambda: next(results), lambda v: v < 2, attempts=3)
    assert (value, tries) == (1.0, 2)


def test_measure_until_returns_the_last_result_when_none_is_accepted():
    results = iter([5.0, 4.0, 3.0, 0.0])
    value, tries = measure.measure_until(lambda: next(results), lambda v: v < 2, attempts=3)
    assert (value, tries) == (3.0, 3)


@pytest.mark.parametrize("attempts", [0, -1])
def test_measure_until_rejects_no_attempts(attempts):
    with pytest.raises(ValueError, match="attempts"):
        measure.measure_until(lambda: 1, lambda v: True, attempts=attempts)


def test_measure_until_rejects_non_callables():
    with pytest.raises(TypeError, match="callables"):
        measure.measure_until(1, lambda v: True)
