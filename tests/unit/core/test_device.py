"""select_device(): the choice, its one-line report, and the import-order guard.

Each scenario runs in a fresh interpreter, because Numba's simulator switch can be
set only once per process.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from course_utils.core import device


def run_python(code: str, **env: str) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items()
                if k not in ("NUMBA_ENABLE_CUDASIM", "COURSE_UTILS_KERNELS")}
    full_env.update(env)
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)],
                          capture_output=True, text=True, env=full_env, timeout=120)


HAS_GPU = device.probe_cuda_driver()[0] > 0


def test_auto_choice_matches_the_driver_probe_and_prints_one_line():
    proc = run_python("""
        from course_utils import select_device
        info = select_device()
        import os
        print("CHOICE", info.kernels, os.environ["NUMBA_ENABLE_CUDASIM"])
    """)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert lines[0].startswith("[course_utils] kernels: ")
    assert "torch" in lines[0]
    expected = "gpu 0" if HAS_GPU else "simulator 1"
    assert lines[1] == f"CHOICE {expected}"


def test_simulator_can_be_forced_and_kernels_use_it():
    proc = run_python("""
        from course_utils import select_device
        info = select_device("simulator", quiet=True)
        from numba import cuda
        from course_utils.systems import vector   # a kernel module: must not change the choice
        import numba.cuda.core.config as c
        print(info.kernels, info.simulated, bool(c.ENABLE_CUDASIM))
    """)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "simulator True True"


def test_environment_variable_override():
    proc = run_python("""
        from course_utils import select_device
        print(select_device(quiet=True).kernels)
    """, COURSE_UTILS_KERNELS="simulator")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "simulator"


def test_importing_a_kernel_module_selects_the_device_first():
    proc = run_python("""
        import sys
        from course_utils.systems import vector     # no select_device() call before
        from course_utils import device_info
        print(device_info().kernels, "numba.cuda" in sys.modules)
    """)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == ("gpu True" if HAS_GPU else "simulator True")


@pytest.mark.skipif(HAS_GPU, reason="needs a machine without a GPU")
def test_numba_cuda_imported_first_without_gpu_gives_a_clear_error():
    proc = run_python("""
        import os
        os.environ["NUMBA_ENABLE_CUDASIM"] = "0"
        from numba import cuda               # the mistake: imported before the selection
        from course_utils import select_device
        select_device()
    """)
    assert proc.returncode != 0
    assert "RuntimeError" in proc.stderr
    assert "Restart the kernel" in proc.stderr


def test_numba_cuda_imported_first_in_simulator_mode_is_kept():
    proc = run_python("""
        import os
        os.environ["NUMBA_ENABLE_CUDASIM"] = "1"
        from numba import cuda
        from course_utils import select_device
        print(select_device(quiet=True).kernels)
    """)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "simulator"


@pytest.mark.skipif(HAS_GPU, reason="needs a machine without a GPU")
def test_prefer_gpu_without_a_gpu_raises():
    proc = run_python("""
        from course_utils import select_device
        select_device("gpu")
    """)
    assert proc.returncode != 0
    assert "no CUDA GPU is usable" in proc.stderr


def test_switching_after_the_choice_raises():
    other = "simulator" if HAS_GPU else "gpu"
    proc = run_python(f"""
        from course_utils import select_device
        select_device(quiet=True)
        select_device("{other}")
    """)
    assert proc.returncode != 0
    assert "restart the Python kernel" in proc.stderr


@pytest.mark.parametrize("bad", ["cpu", "GPU", "", 3])
def test_bad_prefer_is_a_value_error(bad):
    with pytest.raises(ValueError, match="prefer must be one of"):
        device.select_device(bad)


def test_probe_returns_count_and_reason():
    count, detail = device.probe_cuda_driver()
    assert isinstance(count, int) and count >= 0
    assert isinstance(detail, str) and detail


def test_summary_is_one_line():
    info = device.device_info()
    assert "\n" not in info.summary()
    assert info.kernels in ("gpu", "simulator")


def test_simulator_shared_arrays_are_allocated_once_per_line_even_under_thread_races():
    """32 simulated CUDA threads ask for the same shared array at the same moment, 100
    times: each time they must all get one array (unpatched numba-cuda 0.30 handed out
    two or more in about 6 of 100 trials here). Different lines still get different
    arrays, and dynamic shared memory (shape 0) still works."""
    proc = run_python("""
        import sys, threading
        import numpy as np
        from course_utils import select_device
        from course_utils.core import device
        select_device("simulator", quiet=True)
        device.cuda()
        from numba.cuda.simulator import kernelapi
        sys.setswitchinterval(1e-5)
        split = 0
        for trial in range(100):
            shared = kernelapi.FakeCUDAShared(64)
            barrier = threading.Barrier(32)
            got = []
            def worker():
                barrier.wait()
                got.append(shared.array((8, 8), np.float32))
            threads = [threading.Thread(target=worker) for _ in range(32)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            split += len({id(a) for a in got}) > 1
        a = shared.array((2,), np.float32)
        b = shared.array((2,), np.float32)
        dyn = shared.array(0, np.dtype(np.float32))
        print(split, a is not b, dyn.size)
    """)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["0", "True", "16"]
