"""course_utils.core.launchers: run_local (forked workers), launch / mpiexec / torchrun.

The module is imported by name: ``course_utils.core.launchers`` as an attribute is the
re-exported function :func:`launch`, not this module.
"""

from __future__ import annotations

import importlib
import os

import pytest

L = importlib.import_module("course_utils.core.launchers")


def _rank_and_env(rank, world_size, tag):
    return rank, world_size, tag, os.environ["RANK"], os.environ["LOCAL_WORLD_SIZE"]


def _plain(x):  # pragma: no cover - never started: its calls are rejected
    return x


def test_run_local_returns_every_ranks_value_in_rank_order():
    got = L.run_local(_rank_and_env, ("t",), nprocs=2, process_group="gloo", timeout=60)
    assert got == [(0, 2, "t", "0", "2"), (1, 2, "t", "1", "2")]


def test_launch_reports_a_failing_run():
    with pytest.raises(RuntimeError, match="failed"):
        L.launch("mpi", "course_utils.no_such_module", [], nprocs=1, timeout=60)
    with pytest.raises(ValueError, match="engine must be one of"):
        L.launch("slurm", "x", [])


def test_mpiexec_is_found():
    assert L.mpiexec_path().name == "mpiexec"


def test_no_module_is_shadowed_by_a_function_of_the_same_name():
    """``course_utils.core.launchers`` is the module, ``course_utils.core.launch`` the
    function: ``import course_utils.core.launchers as L`` gives the module."""
    import course_utils.core
    import course_utils.core.launchers as launchers_module

    assert course_utils.core.launchers is L and launchers_module is L
    assert course_utils.core.launch is L.launch and callable(L.launch)


def test_free_port_is_a_tcp_port():
    assert 0 < L.free_port() < 65536


@pytest.mark.parametrize("call, exc, match", [
    # was parallel.hybrid.run_workers(train_hybrid, 0): "world_size must be >= 1"
    (lambda: L.run_local(_plain, (1,), nprocs=0), ValueError, "nprocs must be >= 1"),
    # was run_workers("train", 2): "fn must be callable"
    (lambda: L.run_local("train", nprocs=2), TypeError, "target must be callable"),
    (lambda: L.run_local(_plain, [1]), TypeError, "args must be a tuple"),
    (lambda: L.run_local(_plain, (1,), process_group="mpi"), ValueError,
     "process_group must be one of"),
    (lambda: L.run_local(_plain, (1,), timeout=0), ValueError, "timeout must be > 0"),
    (lambda: L.mpiexec([], module="x", nprocs=0), ValueError, "nprocs must be >= 1"),
    (lambda: L.torchrun([], nprocs=0), ValueError, "nprocs must be >= 1"),
    (lambda: L.launch("mpi", "", []), TypeError, "module must be a module name"),
    (lambda: L.choose_backend("mpi"), ValueError, "backend must be one of"),
    (lambda: L.choose_backend("auto", 0), ValueError, "local_world_size must be >= 1"),
    (lambda: L.init_distributed("mpi"), ValueError, "backend must be one of"),
])
def test_bad_inputs_raise_clear_errors(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


# ------------------------------------------------- the backend choice, GPUs mocked
def _pretend_gpus(monkeypatch, count, nccl=True):
    """Make torch believe it has ``count`` CUDA GPUs (and NCCL): nothing touches CUDA."""
    import torch
    import torch.distributed as dist

    monkeypatch.setattr(torch.cuda, "is_available", lambda: count > 0)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: count)
    monkeypatch.setattr(dist, "is_nccl_available", lambda: nccl)


@pytest.mark.parametrize("gpus, local_procs, expected", [
    (0, 1, "gloo"), (0, 2, "gloo"),
    (1, 1, "nccl"),   # Colab: one process on cuda:0
    (1, 2, "gloo"),   # Colab, 2 processes: never 2 NCCL ranks on 1 GPU
    (2, 2, "nccl"), (2, 4, "gloo"), (8, 8, "nccl"),
])
def test_auto_picks_nccl_only_with_a_gpu_per_local_process(monkeypatch, gpus, local_procs,
                                                           expected):
    _pretend_gpus(monkeypatch, gpus)
    assert L.choose_backend("auto", local_procs) == expected
    assert L.choose_backend("gloo", local_procs) == "gloo"  # the CPU path is always there


def test_auto_picks_gloo_when_torch_has_no_nccl(monkeypatch):
    _pretend_gpus(monkeypatch, 2, nccl=False)
    assert L.choose_backend("auto", 1) == "gloo"


@pytest.mark.parametrize("gpus, local_procs", [(0, 1), (1, 2), (2, 3)])
def test_nccl_with_too_few_gpus_is_refused(monkeypatch, gpus, local_procs):
    _pretend_gpus(monkeypatch, gpus)
    with pytest.raises(ValueError, match=f"backend 'nccl' needs a CUDA GPU for each of the "
                                         f"{local_procs} local processes"):
        L.choose_backend("nccl", local_procs)


def _fake_process_group(monkeypatch):
    """Record what init_distributed would do, without making a process group."""
    import torch
    import torch.distributed as dist

    calls = {}
    monkeypatch.setattr(dist, "is_initialized", lambda: False)
    monkeypatch.setattr(dist, "rendezvous", lambda *a, **k: iter([("store", 0, 1)]))
    monkeypatch.setattr(dist, "PrefixStore", lambda prefix, store: (prefix, store))
    monkeypatch.setattr(dist, "init_process_group",
                        lambda **kw: calls.setdefault("init", kw))
    monkeypatch.setattr(torch.cuda, "set_device", lambda d: calls.setdefault("set_device", d))
    return calls


@pytest.mark.parametrize("gpus, local_procs, backend, device", [
    (1, 1, "nccl", "cuda:0"),   # the 1-GPU Colab runtime, 1 process
    (1, 2, "gloo", "cpu"),      # the same runtime, 2 processes: CPU
    (2, 2, "nccl", "cuda:1"),   # rank 1 of 2 on a 2-GPU machine takes cuda:1
])
def test_init_distributed_puts_each_rank_on_the_chosen_device(monkeypatch, gpus, local_procs,
                                                               backend, device):
    _pretend_gpus(monkeypatch, gpus)
    calls = _fake_process_group(monkeypatch)
    rank = local_procs - 1
    for k, v in dict(RANK=rank, WORLD_SIZE=local_procs, LOCAL_RANK=rank,
                     LOCAL_WORLD_SIZE=local_procs, TORCHELASTIC_RESTART_COUNT=0).items():
        monkeypatch.setenv(k, str(v))
    got_backend, got_device = L.init_distributed("auto")
    assert (got_backend, str(got_device)) == (backend, device)
    assert calls["init"]["backend"] == backend and calls["init"]["world_size"] == local_procs
    assert str(calls.get("set_device")) == (device if backend == "nccl" else "None")
    assert L.init_distributed(None)[0] == backend  # None means "auto"


def test_init_distributed_refuses_nccl_before_making_a_group(monkeypatch):
    _pretend_gpus(monkeypatch, 1)
    calls = _fake_process_group(monkeypatch)
    for k, v in dict(RANK=0, WORLD_SIZE=2, LOCAL_RANK=0, LOCAL_WORLD_SIZE=2).items():
        monkeypatch.setenv(k, str(v))
    with pytest.raises(ValueError, match="backend 'nccl' needs"):
        L.init_distributed("nccl")
    assert calls == {}


# ----------------------------------------------------------- finding MPICH's mpiexec
def test_the_mpich_wheels_mpiexec_is_found_without_path_or_a_venv(monkeypatch, tmp_path):
    """As on Colab: sys.executable is /usr/bin/python3, pip put mpiexec in /usr/local/bin,
    which may not be on PATH. The wheel's own file list still finds it and its libmpi."""
    exe, lib = L._mpich_wheel()
    assert exe is not None and exe.name == "mpiexec" and lib.name.startswith("libmpi.so")
    monkeypatch.setattr(L.sys, "executable", str(tmp_path / "python3"))
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("MPI4PY_LIBMPI", raising=False)
    assert L.mpiexec_path() == exe
    assert L._mpi_env(exe)["MPI4PY_LIBMPI"] == str(lib)
    assert "MPI4PY_LIBMPI" not in L._mpi_env(tmp_path / "mpiexec")  # another MPI: left alone


def test_no_mpi_at_all_says_how_to_install_it(monkeypatch, tmp_path):
    monkeypatch.setattr(L, "_mpich_wheel", lambda: (None, None))
    monkeypatch.setattr(L.sys, "executable", str(tmp_path / "python3"))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(RuntimeError, match=r"pip install 'course-utils\[mpi\]'"):
        L.mpiexec_path()


def test_mpiexec_runs_mpi4py_processes_that_see_each_other():
    proc = L.mpiexec(["helloworld"], module="mpi4py.bench", nprocs=2, timeout=60)
    assert proc.returncode == 0, proc.stdout
    assert proc.stdout.count("of 2") == 2, proc.stdout
