"""course_utils.core.provenance: the metadata block of benchmark results, and loading them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from course_utils.core import provenance as P

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "gpu"


def test_run_metadata_names_the_machine_without_a_host_name():
    import platform

    m = P.run_metadata()
    for key in ("device", "kind", "gpu_count", "driver", "cuda_driver_api", "cuda_runtime",
                "cudnn", "nccl", "date", "versions", "load_average"):
        assert key in m
    assert m["kind"] in ("cpu", "gpu") and m["date"].endswith("+00:00")
    assert {"torch", "numba-cuda", "course-utils", "python"} <= set(m["versions"])
    node = platform.node()
    if len(node) >= 6:  # published files: no host name anywhere
        assert node not in json.dumps(m)
    if m["kind"] == "cpu":
        assert m["gpu_count"] == 0 and m["cudnn"] is None and m["nccl"] is None
    else:
        assert m["gpu_count"] >= 1 and m["device"] == m["gpus"][0]["name"]


def test_versions_and_cpu_name():
    v = P.versions()
    assert v["python"].count(".") == 2 and v["torch"] != "not installed"
    assert isinstance(P.cpu_name(), str) and P.cpu_name()


def test_load_results_reads_a_result_and_returns_none_when_missing(tmp_path):
    shutil.copy(FIXTURES / "copies_gpu.json", tmp_path)
    r = P.load_results("copies_gpu", tmp_path)
    assert r["machine"]["device"] == "Synthetic GPU (test fixture)"
    assert P.load_results("matmul_gpu", tmp_path) is None
    assert P.load_results("no_such_results_gpu") is None  # the package's data folder


def test_load_results_follows_the_environment_variable(tmp_path, monkeypatch):
    shutil.copy(FIXTURES / "matmul_gpu.json", tmp_path)
    monkeypatch.setenv(P.RESULTS_DIR_ENV, str(tmp_path))
    assert P.load_results("matmul_gpu")["machine"]["kind"] == "gpu"


def test_the_committed_cpu_benchmark_loads():
    r = P.load_results("conv_benchmark_cpu")
    assert r is not None and r["machine"]["kind"] == "cpu"


@pytest.mark.parametrize("name", ["copies_gpu.json", "../copies_gpu", "Copies", "", "a/b", 3])
def test_load_results_rejects_malformed_names(name):
    with pytest.raises(ValueError, match="name must be a results name"):
        P.load_results(name)


@pytest.mark.parametrize("content, match", [
    ("{not json", "not valid JSON"),
    ("[1, 2]", "must hold a benchmark result"),
    ('{"machine": {"device": "x"}}', "must hold a benchmark result"),
    ('{"machine": {"device": "x", "date": "2000-01-01"}, "tiny": true}', "--tiny run"),
])
def test_load_results_rejects_files_that_are_not_measurements(tmp_path, content, match):
    (tmp_path / "bad_gpu.json").write_text(content)
    with pytest.raises(ValueError, match=match):
        P.load_results("bad_gpu", tmp_path)


def test_load_results_rejects_a_bad_data_dir():
    with pytest.raises(TypeError, match="data_dir must be a path"):
        P.load_results("copies_gpu", 42)


def test_result_label_names_device_and_date():
    r = json.loads((FIXTURES / "quantisation_gpu.json").read_text())
    assert P.result_label(r) == "Synthetic GPU (test fixture), 2000-01-02"
    long = P.result_label(r, detail=True)
    assert "driver 000.00.00" in long and "CUDA 12.0" in long and "torch 2.0.0+fixture" in long
    with pytest.raises(TypeError, match="results must be a benchmark result"):
        P.result_label({"sizes": []})


def test_pending_note_says_what_to_run():
    note = P.pending_note("copies_gpu")
    assert note.startswith("pending: no GPU measurement committed")
    assert P.GPU_SCRIPT in note and "course_utils/data/copies_gpu.json" in note
    with pytest.raises(ValueError, match="name must be a results name"):
        P.pending_note("copies_gpu.json")


def test_run_metadata_gpu_branch_with_a_stand_in_gpu(monkeypatch):
    """The GPU branch's bookkeeping, on a machine without one: torch's answers replaced."""
    import types

    import torch

    prop = types.SimpleNamespace(name="Stand-in GPU", major=9, minor=0, total_memory=80 << 30)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda i: prop)
    monkeypatch.setattr(torch.cuda.nccl, "version", lambda: (2, 21, 5))
    monkeypatch.setattr(torch.backends.cudnn, "version", lambda: 90100)
    m = P.run_metadata()
    assert m["kind"] == "gpu" and m["device"] == "Stand-in GPU" and m["gpu_count"] == 2
    assert m["gpus"][1] == {"name": "Stand-in GPU", "compute_capability": "9.0",
                            "memory_bytes": 80 << 30}
    assert m["nccl"] == "2.21.5" and m["cudnn"] == 90100
