"""Decide how the course's CUDA kernels run, and report what torch sees.

Every notebook calls :func:`select_device` first. It chooses between

* ``"gpu"``: a real CUDA GPU, through the ``numba-cuda`` package, and
* ``"simulator"``: Numba's CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``), which runs
  each CUDA thread as a Python thread on the CPU; correct, but only for small sizes.

Numba reads ``NUMBA_ENABLE_CUDASIM`` once, when ``numba.cuda`` is first imported.
So this module probes for a GPU through the CUDA driver library directly (ctypes,
no Numba), sets the variable, and only then imports ``numba.cuda``. Kernel modules
in ``course_utils`` never import ``numba.cuda`` themselves: they call :func:`cuda`,
which makes the selection first if nobody has. If ``numba.cuda`` was imported
elsewhere beforehand in a state that contradicts the selection, a ``RuntimeError``
says how to fix it (restart the kernel and run the setup cell first).

Used in: :doc:`/notebooks/setup`, :doc:`/notebooks/conv_3_cuda`.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform
import sys
import threading
import warnings
from dataclasses import dataclass
from types import ModuleType

__all__ = ["DeviceInfo", "select_device", "device_info", "cuda", "probe_cuda_driver"]

#: Environment variable that forces a choice: "auto" (default), "gpu" or "simulator".
OVERRIDE_ENV = "COURSE_UTILS_KERNELS"
_CHOICES = ("auto", "gpu", "simulator")

_selected: DeviceInfo | None = None


@dataclass(frozen=True)
class DeviceInfo:
    """What :func:`select_device` decided and found.

    Attributes:
        kernels: ``"gpu"`` (real CUDA GPU via numba-cuda) or ``"simulator"``.
        gpu_name: name of the CUDA device the kernels run on, or ``None``.
        compute_capability: e.g. ``(9, 0)`` for an H100, or ``None``.
        reason: one sentence on why this choice was made.
        torch_version: ``torch.__version__``, or ``None`` if torch is missing.
        torch_device: ``"cuda"`` if ``torch.cuda.is_available()``, else ``"cpu"``.
        torch_gpu_name: ``torch.cuda.get_device_name(0)``, or ``None``.
        torch_gpu_count: number of GPUs torch sees.
        numba_version: ``numba.__version__``.
        numba_cuda_version: ``numba_cuda.__version__``, or ``None`` if not installed.
        python_version: e.g. ``"3.11.7"``.
    """

    kernels: str
    gpu_name: str | None
    compute_capability: tuple[int, int] | None
    reason: str
    torch_version: str | None
    torch_device: str
    torch_gpu_name: str | None
    torch_gpu_count: int
    numba_version: str
    numba_cuda_version: str | None
    python_version: str

    @property
    def simulated(self) -> bool:
        """True when kernels run in Numba's CUDA simulator."""
        return self.kernels == "simulator"

    def summary(self) -> str:
        """One line: where kernels run, and what torch sees."""
        if self.simulated:
            kern = "kernels: CUDA simulator (no GPU)"
        else:
            cc = ".".join(map(str, self.compute_capability or ()))
            kern = f"kernels: {self.gpu_name} (sm {cc}) via numba-cuda"
        if self.torch_version is None:
            tor = "torch: not installed"
        elif self.torch_device == "cuda":
            tor = f"torch {self.torch_version}, {self.torch_gpu_count} GPU(s)"
        else:
            tor = f"torch {self.torch_version}, CPU only"
        return f"[course_utils] {kern} | {tor}"


def probe_cuda_driver() -> tuple[int, str]:
    """Count CUDA devices through the driver library, without importing Numba.

    Returns:
        ``(count, detail)``: the number of devices ``cuDeviceGetCount`` reports (0 when
        there is no driver or it fails to initialise) and a short explanation.
    """
    names = ["libcuda.so.1", "libcuda.so", "nvcuda.dll"]
    found = ctypes.util.find_library("cuda")
    if found:
        names.insert(0, found)
    lib = None
    for name in names:
        try:
            lib = ctypes.CDLL(name)
            break
        except OSError:
            continue
    if lib is None:
        return 0, "no CUDA driver library (libcuda) found"
    try:
        if lib.cuInit(0) != 0:
            return 0, "the CUDA driver is present but cuInit failed (no usable GPU)"
        count = ctypes.c_int(0)
        if lib.cuDeviceGetCount(ctypes.byref(count)) != 0:
            return 0, "cuDeviceGetCount failed"
    except AttributeError:
        return 0, "the CUDA driver library lacks cuInit"
    if count.value == 0:
        return 0, "the CUDA driver reports no devices"
    return count.value, f"the CUDA driver reports {count.value} device(s)"


def _numba_cuda_imported() -> bool:
    return "numba.cuda" in sys.modules


def _imported_simulator_flag() -> bool:
    """The simulator flag that the already-imported numba.cuda was loaded with."""
    try:
        from numba.cuda.core import config as cuda_config  # numba-cuda >= 0.20

        return bool(cuda_config.ENABLE_CUDASIM)
    except ImportError:  # pragma: no cover - older layouts
        from numba.core import config as numba_config

        return bool(numba_config.ENABLE_CUDASIM)


def _decide(prefer: str) -> tuple[str, str]:
    """Return ``(kernels, reason)`` without importing numba.cuda."""
    if os.environ.get("NUMBA_ENABLE_CUDASIM", "0") not in ("", "0") and prefer == "auto":
        return "simulator", "NUMBA_ENABLE_CUDASIM is set in the environment"
    if prefer == "simulator":
        return "simulator", "the simulator was requested"
    count, detail = probe_cuda_driver()
    if count > 0:
        return "gpu", detail
    if prefer == "gpu":
        raise RuntimeError(
            f"prefer='gpu' was requested but no CUDA GPU is usable: {detail}. "
            "Use prefer='auto' to fall back to Numba's CUDA simulator."
        )
    return "simulator", f"no GPU: {detail}"


def _torch_view() -> tuple[str | None, str, str | None, int]:
    try:
        import torch
    except ImportError:
        return None, "cpu", None, 0
    if torch.cuda.is_available():
        return torch.__version__, "cuda", torch.cuda.get_device_name(0), torch.cuda.device_count()
    return torch.__version__, "cpu", None, 0


def _silence_kernel_warnings() -> None:
    # Small teaching grids trigger "Grid size N will likely result in GPU
    # under-utilization"; in the simulator every launch is "small". The warning
    # would leak into the published HTML, so it is filtered here, once.
    warnings.filterwarnings("ignore", message=r".*Grid size.*under-utilization.*")
    warnings.filterwarnings("ignore", message=r".*Host array used in CUDA kernel.*")


def select_device(prefer: str | None = None, *, quiet: bool = False) -> DeviceInfo:
    """Choose how kernels run (real GPU or simulator), print one line, return the choice.

    Call it first in a notebook. Calling it again returns the same choice.

    Args:
        prefer: ``"auto"`` (a GPU if the CUDA driver reports one, else the simulator),
            ``"gpu"`` (fail if there is none) or ``"simulator"``. ``None`` reads the
            ``COURSE_UTILS_KERNELS`` environment variable, default ``"auto"``.
        quiet: do not print the summary line.

    Raises:
        ValueError: ``prefer`` is not one of the accepted values.
        RuntimeError: a GPU was required and none is usable, or ``numba.cuda`` was
            imported before this call in a state that contradicts the choice.
    """
    global _selected
    if prefer is None:
        prefer = os.environ.get(OVERRIDE_ENV, "auto") or "auto"
    if not isinstance(prefer, str) or prefer not in _CHOICES:
        raise ValueError(f"prefer must be one of {_CHOICES}, got {prefer!r}")

    if _selected is not None:
        if prefer != "auto" and prefer != _selected.kernels:
            raise RuntimeError(
                f"kernels already run on the {_selected.kernels!r} backend in this process; "
                f"restart the Python kernel to switch to {prefer!r}"
            )
        if not quiet:
            print(_selected.summary())
        return _selected

    if _numba_cuda_imported():
        simulated = _imported_simulator_flag()
        kernels = "simulator" if simulated else "gpu"
        if prefer not in ("auto", kernels):
            raise RuntimeError(
                f"numba.cuda was imported before course_utils.select_device() with the "
                f"simulator {'on' if simulated else 'off'}, so {prefer!r} is no longer "
                "possible. Restart the kernel and call select_device() before importing "
                "numba.cuda."
            )
        reason = "numba.cuda was already imported; keeping its mode"
        if not simulated:
            count, detail = probe_cuda_driver()
            if count == 0:
                raise RuntimeError(
                    "numba.cuda was imported before course_utils.select_device() without "
                    f"the simulator, and there is no GPU ({detail}). Restart the kernel and "
                    "run `from course_utils import select_device; select_device()` before "
                    "anything imports numba.cuda."
                )
    else:
        kernels, reason = _decide(prefer)
        os.environ["NUMBA_ENABLE_CUDASIM"] = "1" if kernels == "simulator" else "0"

    _silence_kernel_warnings()
    import numba
    from numba import cuda as numba_cuda_module

    try:
        import numba_cuda

        numba_cuda_version = numba_cuda.__version__
    except ImportError:  # pragma: no cover - numba-cuda is a dependency
        numba_cuda_version = None

    gpu_name = None
    cc = None
    if kernels == "gpu":
        dev = numba_cuda_module.get_current_device()
        gpu_name = dev.name.decode() if isinstance(dev.name, bytes) else str(dev.name)
        cc = tuple(dev.compute_capability)

    torch_version, torch_device, torch_gpu_name, torch_gpu_count = _torch_view()
    _selected = DeviceInfo(
        kernels=kernels,
        gpu_name=gpu_name,
        compute_capability=cc,
        reason=reason,
        torch_version=torch_version,
        torch_device=torch_device,
        torch_gpu_name=torch_gpu_name,
        torch_gpu_count=torch_gpu_count,
        numba_version=numba.__version__,
        numba_cuda_version=numba_cuda_version,
        python_version=platform.python_version(),
    )
    if not quiet:
        print(_selected.summary())
    return _selected


def device_info() -> DeviceInfo:
    """The current selection, making it (quietly) if nobody has yet."""
    return _selected if _selected is not None else select_device(quiet=True)


def cuda() -> ModuleType:
    """The ``numba.cuda`` module, imported only after the device has been selected.

    Kernel modules write ``cuda = device.cuda()`` at their top instead of
    ``from numba import cuda``, so importing any of them selects the device first.
    """
    info = device_info()
    from numba import cuda as numba_cuda_module

    if info.simulated:
        _make_simulator_shared_arrays_atomic()
    return numba_cuda_module


_SHARED_LOCK = threading.Lock()


def _simulator_patchable(kernelapi: ModuleType, shared: type) -> bool:
    """Whether the simulator has the internals the shared-array fix relies on."""
    import inspect

    if not all(hasattr(kernelapi, name) for name in ("types", "numpy_support")):
        return False
    try:
        init = inspect.getsource(shared.__init__)
        params = list(inspect.signature(shared.array).parameters)
    except (OSError, TypeError, ValueError):
        return False
    return "_allocations" in init and params[:4] == ["self", "shape", "dtype", "alignment"]


def _make_simulator_shared_arrays_atomic() -> None:
    """Fix a race in Numba's CUDA simulator: make ``cuda.shared.array`` atomic.

    The simulator runs each CUDA thread of a block as a Python thread. The first
    ``cuda.shared.array`` call on a source line allocates the block's array and stores it
    under (file, line); every later call returns it. The look-up and the store are not
    atomic (numba-cuda 0.30), so two threads can both find nothing and each allocate
    their own array: then some threads load a tile that others never see, and the kernel
    reads uninitialised memory (we saw values of 7e8 from a convolution kernel in one
    of several full test runs). This replacement does the look-up and the allocation under one lock;
    everything else is the simulator's own behaviour. Idempotent.
    """
    import numpy as np
    from numba.cuda.simulator import kernelapi

    shared = kernelapi.FakeCUDAShared
    if getattr(shared.array, "_atomic", False):
        return
    original = shared.array
    if not _simulator_patchable(kernelapi, shared):
        warnings.warn(
            "course_utils could not make the CUDA simulator's shared arrays atomic: this "
            "numba-cuda's simulator internals differ from 0.30 (FakeCUDAShared.array, "
            "_allocations, kernelapi.types/numpy_support). Kernels that use shared memory "
            "may then, rarely, read a tile another simulated thread never wrote. Install "
            "numba-cuda<0.31 (the version course_utils is tested with).",
            RuntimeWarning, stacklevel=3)
        return

    def array(self, shape, dtype, alignment=None):
        if shape == 0 or alignment is not None:  # dynamic shared memory; errors
            return original(self, shape, dtype, alignment)
        caller = sys._getframe(1)
        key = (caller.f_code.co_filename, caller.f_lineno)  # as the simulator keys it
        with _SHARED_LOCK:
            found = self._allocations.get(key)  # the simulator's own (file, line) table
            if found is None:
                if isinstance(dtype, kernelapi.types.Type):
                    dtype = kernelapi.numpy_support.as_dtype(dtype)
                found = self._allocations[key] = np.empty(shape, dtype)
        return found

    array._atomic = True
    shared.array = array
