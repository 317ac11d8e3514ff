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
])
def test_bad_inputs_raise_clear_errors(call, exc, match):
    with pytest.raises(exc, match=match):
        call()
