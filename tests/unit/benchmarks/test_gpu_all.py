"""benchmarks/gpu_all.py: every section's code path at tiny sizes (on this machine's CPU,
the Numba simulator and gloo when there is no GPU), and the files it writes.

One run of the whole script (each section a child process, as on a GPU machine) in a
temporary folder: well under a minute on a 2-core CPU.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from course_utils.core.provenance import load_results
from course_utils.parallel.compression import SCHEMES
from course_utils.parallel.timing import MATMUL_PRECISIONS
from course_utils.systems.membw import COPY_SERIES

ROOT = Path(__file__).resolve().parents[3]
SCRIPT = ROOT / "benchmarks" / "gpu_all.py"
DATA = ROOT / "course_utils" / "data"
GPU = torch.cuda.is_available()


def _module():
    spec = importlib.util.spec_from_file_location("gpu_all", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("gpu_all")
    before = {p.name: p.stat().st_mtime for p in DATA.iterdir()}
    proc = subprocess.run([sys.executable, str(SCRIPT), "--tiny", "--out-dir", str(out)],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)
    after = {p.name: p.stat().st_mtime for p in DATA.iterdir()}
    return proc, out, before, after


def test_tiny_run_writes_every_section_and_nothing_in_the_package_data(tiny_run):
    proc, out, before, after = tiny_run
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "every file written" in proc.stdout
    stems = [stem for stem, _ in _module().SECTIONS.values()]
    assert sorted(p.stem for p in out.glob("*.json")) == sorted(stems)
    assert before == after  # course_utils/data untouched


@pytest.mark.parametrize("stem", ["conv_benchmark_gpu", "copies_gpu", "matmul_gpu",
                                  "quantisation_gpu", "ddp_nccl_gpu"])
def test_every_file_has_the_metadata_block_and_says_tiny(tiny_run, stem):
    _, out, _, _ = tiny_run
    data = json.loads((out / f"{stem}.json").read_text())
    m = data["machine"]
    assert data["tiny"] is True
    assert m["kind"] == ("gpu" if GPU else "cpu") and m["device"] and m["date"]
    for key in ("driver", "cuda_driver_api", "cuda_runtime", "cudnn", "nccl", "gpu_count"):
        assert key in m
    assert {"python", "torch", "numba", "numba-cuda", "course-utils"} <= set(m["versions"])
    with pytest.raises(ValueError, match="--tiny run"):  # never shown as a measurement
        load_results(stem, out)


def test_conv_section(tiny_run):
    data = json.loads((tiny_run[1] / "conv_benchmark_gpu.json").read_text())
    assert len(data["problems"]) == 2 and "targets" in data
    for prob in data["problems"].values():
        rows = {r["method"]: r for r in prob["results"]}
        assert rows["torch"]["correct"] and "seconds" in rows["torch"]
        assert rows["tiled"].get("correct", True)  # checked against torch (simulator or GPU)


def test_copies_section(tiny_run):
    data = json.loads((tiny_run[1] / "copies_gpu.json").read_text())
    assert set(COPY_SERIES) <= set(data["series"])
    for s in data["series"].values():
        assert len(s["bytes_per_second"]) == len(data["sizes"]) == len(s["seconds"])
        assert all(r > 0 for r in s["bytes_per_second"])
    assert ("stand_in" in data) is not GPU


def test_matmul_section(tiny_run):
    data = json.loads((tiny_run[1] / "matmul_gpu.json").read_text())
    assert [c["precision"] for c in data["curves"]] == list(MATMUL_PRECISIONS)
    for c in data["curves"]:
        assert len(c["flops"]) == len(data["batch_sizes"]) and min(c["flops"]) > 0


def test_quantisation_section(tiny_run):
    data = json.loads((tiny_run[1] / "quantisation_gpu.json").read_text())
    assert list(data["schemes"]) == list(SCHEMES)
    for row in data["schemes"].values():
        assert row["compress_seconds_per_value"] > 0 and row["decompress_seconds_per_value"] > 0
        assert row["codes_equal_to_numpy"] == 1.0  # the torch path codes as NumPy does


def test_ddp_section(tiny_run):
    data = json.loads((tiny_run[1] / "ddp_nccl_gpu.json").read_text())
    world = torch.cuda.device_count() if GPU else 1
    assert data["world_size"] == world and data["backend"] == ("nccl" if GPU else "gloo")
    trainer = data["trainer"]
    assert trainer["backend"] == data["backend"] and trainer["steps_run"] > 0
    assert trainer["test_accuracy"] > 0.5  # one epoch of the digits MLP: well above chance
    ar = data["allreduce"]
    assert ar["world_size"] == world and len(ar["busbw_bytes_per_second"]) == len(ar["nbytes"])


def test_budgets_fit_in_eight_minutes():
    mod = _module()
    worst = sum(b + mod.STOP_GRACE_S for _, b in mod.SECTIONS.values())
    assert worst + mod.STARTUP_ALLOWANCE_S <= 8 * 60
    assert set(mod.SECTIONS) == {"conv", "copies", "matmul", "quantisation", "ddp"}


@pytest.mark.skipif(GPU, reason="a GPU is present: the full run would measure it")
def test_without_a_gpu_and_without_tiny_it_says_so(tmp_path):
    proc = subprocess.run([sys.executable, str(SCRIPT), "--out-dir", str(tmp_path)],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 1
    assert "no CUDA GPU: nothing to measure; use --tiny to exercise the code paths" in proc.stderr
    assert not list(tmp_path.iterdir())


def test_only_runs_one_section_in_process(tmp_path):
    assert _module().main(["--tiny", "--only", "quantisation", "--out-dir", str(tmp_path)]) == 0
    assert [p.name for p in tmp_path.iterdir()] == ["quantisation_gpu.json"]


def test_the_shell_wrapper_passes_its_arguments_on(tmp_path):
    proc = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu_all.sh"), "--help"],
                          capture_output=True, text=True, timeout=120,
                          env={"PYTHON": sys.executable, "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0 and "--only" in proc.stdout and "--tiny" in proc.stdout


def test_a_section_over_its_budget_is_stopped_with_what_it_started(tmp_path):
    import os
    import time

    mod = _module()
    mod.SECTIONS = {"ddp": ("ddp_nccl_gpu", 3)}  # torchrun alone takes longer than 3 s
    t0 = time.monotonic()
    assert mod.run_all(tmp_path, tiny=True) == 1
    assert time.monotonic() - t0 < 30
    assert not (tmp_path / "ddp_nccl_gpu.json").exists()
    time.sleep(0.5)
    leftovers = [p for p in os.listdir("/proc") if p.isdigit() and str(tmp_path) in _cmdline(p)]
    assert not leftovers  # the section's process is gone


def _cmdline(pid: str) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""
