"""course_utils.parallel.gpu_results: committed GPU figures (synthetic fixtures), CPU beside."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib
import pytest

from course_utils.core.provenance import load_results
from course_utils.parallel import compression as C
from course_utils.parallel.gpu_results import matmul_report, quantisation_report

matplotlib.use("Agg")
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "gpu"
LABEL = "Synthetic GPU (test fixture), 2000-01-02"


@pytest.fixture
def matmul():
    return load_results("matmul_gpu", FIXTURES)


@pytest.fixture
def quant():
    return load_results("quantisation_gpu", FIXTURES)


def _labels(fig) -> list[str]:
    return [t.get_text() for t in fig.axes[0].get_legend().get_texts()]


def test_matmul_report_draws_every_curve_with_device_and_date(matmul):
    import matplotlib.pyplot as plt

    text, fig = matmul_report(matmul, [1, 8, 64, 512], [1e9, 6e9, 2e10, 3e10])
    try:
        assert LABEL in text and "driver 000.00.00" in text
        labels = _labels(fig)
        gpu_labels = [lab for lab in labels if LABEL in lab]
        assert len(gpu_labels) == len(matmul["curves"]) == 6
        assert any("CPU" in lab for lab in labels)
        assert LABEL in fig.axes[0].get_title()
        # the fixture's curves are peak * b / (b + h) with h = 256 and 512: the fit finds
        # them within the grid's resolution and the peak's shortfall at the last batch
        assert "half-batch h = 2" in text and "half-batch h = 4" in text
        assert text.count("TFLOP/s") == 6 and "bf16" in text and "tf32" in text
    finally:
        plt.close(fig)


def test_matmul_report_without_a_cpu_curve(matmul):
    import matplotlib.pyplot as plt

    text, fig = matmul_report(matmul)
    assert "CPU" not in text and all("CPU" not in lab for lab in _labels(fig))
    plt.close(fig)


def test_matmul_report_pending_without_a_file():
    text, fig = matmul_report(None, [1, 2], [1.0, 2.0])
    assert fig is None
    assert text.startswith("pending: no GPU measurement committed")
    assert "bash benchmarks/gpu_all.sh" in text and "matmul_gpu.json" in text


@pytest.mark.parametrize("call, exc, match", [
    (lambda m: matmul_report({"curves": []}), TypeError, "gpu must be a result of"),
    (lambda m: matmul_report(m, [1, 2]), ValueError, "cpu_batches and cpu_flops must be given"),
    (lambda m: matmul_report(m, [1, 2], [1.0]), ValueError, "same length"),
    (lambda m: matmul_report(m, [0, 2], [1.0, 2.0]), ValueError, "cpu_batches must be >= 1"),
    (lambda m: matmul_report(m | {"curves": [{"precision": "fp32", "features": 8,
                                              "flops": [1.0]}]}),
     ValueError, "one value per batch size"),
])
def test_matmul_report_rejects_bad_input(matmul, call, exc, match):
    import matplotlib.pyplot as plt

    with pytest.raises(exc, match=match):
        call(matmul)
    plt.close("all")


def test_quantisation_report_beside_the_cpu_and_the_paper(quant):
    import matplotlib.pyplot as plt

    cpu = {s: (40e-9, 2e-9) for s in C.SCHEMES}
    text, fig = quantisation_report(quant, cpu)
    try:
        assert LABEL in text
        for scheme in C.SCHEMES:
            assert scheme in text
        assert "0.200 /  0.050" in text and "40.00 /    2.00" in text  # GPU, CPU in ns
        labels = _labels(fig)
        assert sum(LABEL in lab for lab in labels) == 2  # GPU compress, decompress
        assert sum("CPU" in lab for lab in labels) == 2
        assert any("paper, GTX Titan" in lab for lab in labels)
        assert LABEL in fig.axes[0].get_title()
    finally:
        plt.close(fig)


def test_quantisation_report_pending_without_a_file():
    text, fig = quantisation_report(None, {"linear": (1e-9, 1e-9)})
    assert fig is None and text.startswith("pending:") and "quantisation_gpu.json" in text


@pytest.mark.parametrize("gpu_change, cpu, exc, match", [
    ({"schemes": {}}, None, TypeError, "gpu must be a result of"),
    ({"schemes": {"4bit": {"compress_seconds_per_value": 1e-9,
                           "decompress_seconds_per_value": 1e-9}}},
     None, ValueError, r"gpu\['schemes'\] must name schemes"),
    ({}, {"linear": 1e-9}, TypeError, "cpu must map each scheme"),
    ({}, [1e-9, 1e-9], TypeError, "cpu must map each scheme"),
])
def test_quantisation_report_rejects_bad_input(quant, gpu_change, cpu, exc, match):
    with pytest.raises(exc, match=match):
        quantisation_report(quant | gpu_change, cpu)


def test_the_fixtures_are_labelled_synthetic():
    for path in FIXTURES.glob("*.json"):
        data = json.loads(path.read_text())
        assert data["machine"]["device"] == "Synthetic GPU (test fixture)"
        assert "SYNTHETIC" in data["fixture"]
