"""course_utils.systems.pingpong: real 2-process ping-pong over MPI and torch (gloo)."""

from __future__ import annotations

import numpy as np
import pytest

from course_utils.core.alphabeta import AlphaBeta
from course_utils.core.measure import CopyMeasurement
from course_utils.systems import pingpong


@pytest.mark.timing
def test_real_two_process_mpi_pingpong():
    sizes = [1, 4096, 1 << 20]
    result = pingpong.mpi_pingpong(sizes, repeats=2)
    assert result.engine.startswith("MPI") and result.nprocs == 2
    assert list(result.nbytes) == sizes
    assert all(isinstance(m, CopyMeasurement) for m in result.measurements)
    # one-way latency on one machine: above 100 ns, below 10 ms even on a busy machine
    assert 1e-7 < result.seconds[0] < 1e-2
    assert result.seconds[-1] > result.seconds[0]  # 1 MiB takes longer than 1 byte
    fit = result.fit()
    assert fit.alpha >= 0 and 1e7 < fit.bandwidth < 1e12  # 10 MB/s .. 1 TB/s


def test_real_two_process_torch_pingpong():
    """torchrun, 2 gloo processes, the module's own worker: no timing bound, only that
    it ran and gave a usable curve. The largest message (4 MiB) takes milliseconds, far
    above the loopback latency, so the times grow with the size on a busy machine too
    (with 64 KiB at the top, noise once made them not grow: no bandwidth to fit)."""
    sizes = [1, 1024, 4 * 2**20]
    result = pingpong.torch_pingpong(sizes, repeats=3)
    assert result.engine == "torch.distributed (gloo)" and result.nprocs == 2
    assert len(result.measurements) == 3
    assert all(isinstance(m, CopyMeasurement) for m in result.measurements)
    assert result.nbytes.shape == result.seconds.shape == (3,)
    assert list(result.nbytes) == sizes
    assert np.all(np.isfinite(result.seconds)) and np.all(result.seconds > 0)
    fit = result.fit()
    assert isinstance(fit, AlphaBeta)
    assert fit.alpha >= 0 and np.isfinite(fit.bandwidth) and fit.bandwidth > 0


def test_default_sizes_are_powers_of_four_up_to_4_mib():
    sizes = pingpong.default_pingpong_sizes()
    assert sizes[0] == 1 and sizes[-1] == 4 * 2**20
    assert all(b == 4 * a for a, b in zip(sizes, sizes[1:], strict=False))


def test_result_fit_is_the_core_fit():
    result = pingpong.PingPongResult("x", 2, tuple(
        CopyMeasurement(n, 1e-6 + n / 1e9) for n in (1, 1000, 10**6)))
    fit = result.fit()
    assert fit.alpha == pytest.approx(1e-6) and fit.bandwidth == pytest.approx(1e9)


def test_pingpong_rejects_bad_sizes_before_launching():
    with pytest.raises(ValueError, match="sizes must contain"):
        pingpong.mpi_pingpong([])
    with pytest.raises(ValueError, match=r"sizes\[i\] must be >= 1"):
        pingpong.torch_pingpong([0])
    with pytest.raises(ValueError, match="repeats must be >= 1"):
        pingpong.mpi_pingpong([8], repeats=0)
