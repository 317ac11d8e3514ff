from __future__ import annotations

import pytest

from course_utils.systems import membw


def test_default_sizes_span_4kib_to_256mib():
    sizes = membw.default_sizes()
    assert sizes[0] == 4 * 2**10 and sizes[-1] == 256 * 2**20
    assert all(b == 4 * a for a, b in zip(sizes, sizes[1:], strict=False))


@pytest.mark.timing
def test_measurement_is_positive_and_consistent():
    (m,) = membw.host_copy_bandwidth([1 << 20], repeats=2, min_seconds=0.002)
    assert m.nbytes == 1 << 20
    assert m.seconds > 0
    assert m.bandwidth == pytest.approx(m.nbytes / m.seconds)
    assert m.gb_per_s == pytest.approx(m.bandwidth / 1e9)
    # A copy slower than 10 MB/s or faster than 10 TB/s means the timer is broken.
    assert 1e7 < m.bandwidth < 1e13


@pytest.mark.timing
def test_larger_copies_take_longer():
    small, large = membw.host_copy_bandwidth([1 << 12, 1 << 24], repeats=2, min_seconds=0.002)
    assert large.seconds > small.seconds


@pytest.mark.parametrize("kwargs, exc, match", [
    ({"nbytes": 0}, ValueError, "nbytes must be >= 1"),
    ({"nbytes": -5}, ValueError, "nbytes must be >= 1"),
    ({"nbytes": 1.5}, TypeError, "nbytes must be an integer"),
    ({"nbytes": 64, "repeats": 0}, ValueError, "repeats must be >= 1"),
    ({"nbytes": 64, "min_seconds": -1.0}, ValueError, "min_seconds must be >= 0"),
])
def test_time_copy_rejects_bad_input(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        membw.time_copy(**kwargs)


def test_empty_sizes_rejected():
    with pytest.raises(ValueError, match="sizes must contain"):
        membw.host_copy_bandwidth([])


def test_copy_measurement_is_the_core_type():
    from course_utils.core.measure import CopyMeasurement

    assert membw.CopyMeasurement is CopyMeasurement


@pytest.mark.timing
def test_gpu_copies_need_a_gpu_or_measure_one():
    torch = pytest.importorskip("torch")
    with pytest.raises(ValueError, match="direction must be one of"):
        membw.gpu_copy_bandwidth("h2h")
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="needs a CUDA GPU"):
            membw.gpu_copy_bandwidth("h2d", [1 << 20])
        return
    for direction in membw.GPU_COPY_DIRECTIONS:  # pragma: no cover - GPU only
        (m,) = membw.gpu_copy_bandwidth(direction, [1 << 24], repeats=2, iterations=2)
        assert 1e8 < m.bandwidth < 1e13
