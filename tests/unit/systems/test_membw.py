from __future__ import annotations

from pathlib import Path

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
    import torch  # a test dependency: no silent skip

    with pytest.raises(ValueError, match="direction must be one of"):
        membw.gpu_copy_bandwidth("h2h")
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="needs a CUDA GPU"):
            membw.gpu_copy_bandwidth("h2d", [1 << 20])
        return
    for direction in membw.GPU_COPY_DIRECTIONS:  # pragma: no cover - GPU only
        (m,) = membw.gpu_copy_bandwidth(direction, [1 << 24], repeats=2, iterations=2)
        assert 1e8 < m.bandwidth < 1e13


# --------------------------------------------------------------------------- GPU copies
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "gpu"


def _fake_timer(calls):
    """A stand-in for gpu_copy_bandwidth: records its arguments, returns fixed times."""
    def timer(direction, sizes, *, pinned, peer, repeats, iterations):
        calls.append((direction, pinned, peer, repeats, iterations))
        return [membw.CopyMeasurement(n, n / (1e9 * (2 if pinned else 1))) for n in sizes]
    return timer


def test_measure_gpu_copies_runs_every_series_and_the_peer():
    calls = []
    data = membw.measure_gpu_copies([4096, 1 << 20], peer=1, repeats=3, iterations=4,
                                    timer=_fake_timer(calls))
    assert data["sizes"] == [4096, 1 << 20]
    assert list(data["series"]) == [*membw.COPY_SERIES, "d2d_peer1"]
    assert ("h2d", False, None, 3, 4) in calls and ("d2h", True, None, 3, 4) in calls
    assert calls[-1] == ("d2d", True, 1, 3, 4)
    pinned, pageable = data["series"]["h2d_pinned"], data["series"]["h2d_pageable"]
    assert pinned["bytes_per_second"] == pytest.approx([2e9, 2e9])
    assert pageable["bytes_per_second"] == pytest.approx([1e9, 1e9])
    assert pageable["seconds"] == pytest.approx([4096 / 1e9, (1 << 20) / 1e9])
    assert data["series"]["d2d_peer1"]["label"] == "GPU 0 -> GPU 1"


def test_measure_gpu_copies_needs_a_gpu_by_default(monkeypatch):
    import torch  # a test dependency: no silent skip

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # also on a GPU machine
    with pytest.raises(RuntimeError, match="needs a CUDA GPU"):
        membw.measure_gpu_copies([4096])


@pytest.mark.parametrize("kwargs, exc, match", [
    ({"sizes": []}, ValueError, "sizes must contain"),
    ({"sizes": [0]}, ValueError, r"sizes\[i\] must be >= 1"),
    ({"peer": 0}, ValueError, "peer must be >= 1"),
    ({"timer": "gpu"}, TypeError, "timer must be callable"),
])
def test_measure_gpu_copies_rejects_bad_input(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        membw.measure_gpu_copies(**({"sizes": [4096]} | kwargs))


def test_copies_report_labels_the_gpu_curves_with_device_and_date():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from course_utils.core.provenance import load_results

    gpu = load_results("copies_gpu", FIXTURES)
    host = [membw.CopyMeasurement(4096, 4096 / 5e9), membw.CopyMeasurement(1 << 20, 2e-4)]
    text, fig = membw.copies_report(gpu, host)
    try:
        label = "Synthetic GPU (test fixture), 2000-01-02"
        assert label in text and "256 MiB" in text and "4 KiB" in text
        assert "1.48e+03" in text  # the fixture's device-to-device rate at 256 MiB, GB/s
        legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
        assert sum(label in t for t in legend) == len(gpu["series"])
        assert any("host -> host, this machine" in t for t in legend)
        assert label in fig.axes[0].get_title()
    finally:
        plt.close(fig)


def test_copies_report_pending_without_a_file():
    text, fig = membw.copies_report(None)
    assert fig is None
    assert text == ("pending: no GPU measurement committed (run bash benchmarks/gpu_all.sh on "
                    "a GPU): course_utils/data/copies_gpu.json")


@pytest.mark.parametrize("gpu, host, exc, match", [
    ({"series": {}}, None, TypeError, "gpu must be a copies result"),
    ([1, 2], None, TypeError, "gpu must be a copies result"),
    ("fixture", [1.0], TypeError, "host must be a list of CopyMeasurement"),
])
def test_copies_report_rejects_bad_input(gpu, host, exc, match):
    from course_utils.core.provenance import load_results

    if gpu == "fixture":
        gpu = load_results("copies_gpu", FIXTURES)
    with pytest.raises(exc, match=match):
        membw.copies_report(gpu, host)
