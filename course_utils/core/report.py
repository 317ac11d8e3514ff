"""Small reporting helpers for notebooks: versions table, kernel source listing, glue.

Used in: :doc:`/notebooks/setup`, :doc:`/notebooks/conv_3_cuda`.
"""

from __future__ import annotations

import inspect
import os
import platform
from collections.abc import Callable

from .device import device_info
from .provenance import versions

__all__ = ["environment_rows", "kernel_source", "glue"]

def environment_rows() -> list[tuple[str, str]]:
    """(component, value) rows describing this machine and the course's packages."""
    info = device_info()
    found = versions()
    rows = [
        ("Python", found.pop("python")),
        ("OS", f"{platform.system()} {platform.release()} ({platform.machine()})"),
        ("CPU cores (logical)", str(os.cpu_count())),
    ]
    rows += list(found.items())
    if info.simulated:
        rows.append(("Numba kernels run on", "CUDA simulator (CPU)"))
    else:
        cc = ".".join(map(str, info.compute_capability or ()))
        rows.append(("Numba kernels run on", f"{info.gpu_name} (compute capability {cc})"))
    rows.append(("why", info.reason))
    if info.torch_device == "cuda":
        rows.append(("torch sees", f"{info.torch_gpu_count} GPU(s): {info.torch_gpu_name}"))
    else:
        rows.append(("torch sees", "CPU only"))
    return rows


def kernel_source(kernel: Callable) -> str:
    """Python source of a ``@cuda.jit`` kernel (real dispatcher or simulator kernel)."""
    func = getattr(kernel, "py_func", None) or getattr(kernel, "fn", None) or kernel
    if not callable(func):
        raise TypeError(f"kernel must be a @cuda.jit kernel or a function, got {type(kernel)}")
    return inspect.getsource(func)


def glue(name: str, value: object, *, display: bool = False) -> object:
    """Hand ``value`` to the page's prose as ``{glue:text}`name``` (myst-nb); returns it.

    The book's rule is that every number on a page is computed or cited: prose that
    quotes a run's result glues it, so the built page shows what this build computed.
    Where myst-nb is not installed (Colab) the value is simply returned.
    """
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"name must be a Python identifier, got {name!r}")
    if hasattr(value, "item") and getattr(value, "ndim", None) == 0:
        value = value.item()  # a NumPy scalar prints as np.float64(...) under NumPy 2
    try:
        from myst_nb import glue as myst_glue
    except ImportError:
        return value
    myst_glue(name, value, display=display)
    return value
