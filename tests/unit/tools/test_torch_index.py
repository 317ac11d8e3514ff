"""tools/torch_index.py: which index `make setup` installs PyTorch from."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
_spec = importlib.util.spec_from_file_location("torch_index", ROOT / "tools/torch_index.py")
torch_index = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(torch_index)
CPU = torch_index.CPU_INDEX_URL


@pytest.mark.parametrize("override", [None, "", "auto", " auto "])
def test_auto_is_cpu_index_without_gpu_and_default_with_gpu_on_linux(override):
    assert torch_index.choose_index(False, override) == CPU
    assert torch_index.choose_index(True, override) is None


@pytest.mark.parametrize("system", ["Darwin", "Windows"])
def test_auto_keeps_default_index_where_pypi_torch_is_cpu_only(system):
    assert torch_index.choose_index(False, "auto", system) is None


@pytest.mark.parametrize("gpu", [False, True])
def test_explicit_choices_win_over_detection(gpu):
    assert torch_index.choose_index(gpu, "cpu") == CPU
    assert torch_index.choose_index(gpu, "default") is None
    url = "https://download.pytorch.org/whl/cu126"
    assert torch_index.choose_index(gpu, url) == url
    assert torch_index.choose_index(gpu, "file:///srv/wheels") == "file:///srv/wheels"


@pytest.mark.parametrize("bad", ["gpu", "CPU", "download.pytorch.org/whl/cpu", "ftp://x/y"])
def test_unknown_choice_names_the_variable_and_the_choices(bad):
    with pytest.raises(ValueError, match=r"TORCH_INDEX must be one of auto, cpu, default"):
        torch_index.choose_index(False, bad)


def test_gpu_flag_must_be_a_bool():
    with pytest.raises(TypeError, match="has_nvidia_gpu"):
        torch_index.choose_index(0, "auto")


def test_detection_uses_proc_driver_or_nvidia_smi(tmp_path):
    never = lambda name: None  # noqa: E731
    assert torch_index.has_nvidia_gpu(tmp_path, never) is False
    assert torch_index.has_nvidia_gpu(tmp_path, lambda name: f"/usr/bin/{name}") is True
    (tmp_path / "driver" / "nvidia").mkdir(parents=True)
    assert torch_index.has_nvidia_gpu(tmp_path, never) is True


def test_install_args_pin_torch_from_pyproject():
    pin = torch_index.torch_pin()
    assert pin.startswith("torch==") and pin in (ROOT / "pyproject.toml").read_text()
    assert torch_index.install_args(CPU, pin) == ["--no-deps", "--index-url", CPU, pin]
    assert torch_index.install_args(None, pin) == ["--no-deps", pin]


def test_cli_prints_pip_arguments_and_rejects_bad_choice():
    run = [sys.executable, str(ROOT / "tools/torch_index.py"), "--install-args", "--index"]
    out = subprocess.run([*run, "cpu"], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["--no-deps", "--index-url", CPU, torch_index.torch_pin()]
    bad = subprocess.run([*run, "nonsense"], capture_output=True, text=True)
    assert bad.returncode == 2 and "TORCH_INDEX" in bad.stderr


def test_environment_yml_uses_the_same_cpu_index():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert f"--extra-index-url {CPU}" in pip
