"""Where a measurement came from: the metadata block of every benchmark result, and loading.

Every JSON file a benchmark commits to ``course_utils/data/`` (``benchmarks/conv.py``,
``benchmarks/gpu_all.py``) carries a ``"machine"`` block made by :func:`run_metadata`:
the device, the NVIDIA driver, the CUDA driver API and the CUDA runtime torch was
built with, cuDNN and NCCL, the package versions, the date (UTC) and the load average.
No host name: the files are published.

:func:`load_results` reads such a file back (``None`` when it has not been committed
yet, for example a GPU measurement on a book built without a GPU);
:func:`result_label` is the "device, date" label every figure of a committed
measurement carries, and :func:`pending_note` the one line a chapter prints when the
GPU file is missing.

Used in: :doc:`/notebooks/mgpu_measure`, :doc:`/notebooks/dp_communication`,
:doc:`/notebooks/dp_compression`, :doc:`/notebooks/conv_3_cuda`.
"""

from __future__ import annotations

import ctypes
import datetime
import importlib.metadata
import json
import os
import platform
import re
import shutil
import subprocess
from importlib import resources
from pathlib import Path

__all__ = [
    "GPU_SCRIPT",
    "RESULTS_DIR_ENV",
    "versions",
    "cpu_name",
    "run_metadata",
    "load_results",
    "result_label",
    "pending_note",
]

#: The one command that makes every GPU measurement of the course (benchmarks/README.md).
GPU_SCRIPT = "bash benchmarks/gpu_all.sh"
#: Environment variable naming another folder for :func:`load_results` (tests run the
#: chapters' GPU code paths on synthetic files this way, never in course_utils/data).
RESULTS_DIR_ENV = "COURSE_UTILS_RESULTS_DIR"
_PACKAGES = ("course-utils", "numpy", "numba", "numba-cuda", "torch", "matplotlib", "scipy")
_NAME = re.compile(r"[a-z][a-z0-9_]*")


def versions() -> dict[str, str]:
    """Python's and the measuring packages' versions ("not installed" where missing)."""
    out = {"python": platform.python_version()}
    for dist in _PACKAGES:
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            out[dist] = "not installed"
    return out


def cpu_name() -> str:
    """The CPU's model name (``/proc/cpuinfo``, else what ``platform`` knows)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _nvidia_driver() -> str | None:
    """The NVIDIA kernel driver's release (e.g. "550.54.15"), or None without one."""
    try:
        text = Path("/proc/driver/nvidia/version").read_text()
        found = re.search(r"Kernel Module\s+([0-9][0-9.]*)", text)
        if found:
            return found.group(1)
    except OSError:
        pass
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return None
    try:
        out = subprocess.run([smi, "--query-gpu=driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=20, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return out.split()[0] if out.split() else None


def _cuda_driver_api() -> str | None:
    """The CUDA version the driver supports (``cuDriverGetVersion``, e.g. "12.4"), or None."""
    for name in ("libcuda.so.1", "libcuda.so", "nvcuda.dll"):
        try:
            lib = ctypes.CDLL(name)
        except OSError:
            continue
        version = ctypes.c_int(0)
        try:
            if lib.cuDriverGetVersion(ctypes.byref(version)) != 0 or version.value <= 0:
                return None
        except AttributeError:
            return None
        return f"{version.value // 1000}.{version.value % 1000 // 10}"
    return None


def run_metadata() -> dict:
    """The ``"machine"`` block of a benchmark result, for this machine, now.

    ``kind`` is "gpu" when torch sees a CUDA GPU, else "cpu"; ``device`` names GPU 0
    (or the CPU and its logical core count); ``gpus`` lists every GPU with its compute
    capability and memory (bytes). Driver, CUDA, cuDNN and NCCL entries are ``None``
    where there is no GPU stack. ``date`` is ISO 8601 in UTC.
    """
    import torch

    gpu = torch.cuda.is_available()
    gpus = []
    for i in range(torch.cuda.device_count() if gpu else 0):
        prop = torch.cuda.get_device_properties(i)
        gpus.append({"name": prop.name, "compute_capability": f"{prop.major}.{prop.minor}",
                     "memory_bytes": int(prop.total_memory)})
    nccl = None
    if gpu:
        try:
            v = torch.cuda.nccl.version()  # a tuple (2, 21, 5); an int in old releases
            nccl = ".".join(map(str, v)) if isinstance(v, tuple) else str(v)
        except (AttributeError, RuntimeError):
            nccl = None
    cpu = cpu_name()
    return {
        "device": gpus[0]["name"] if gpus else f"{cpu} ({os.cpu_count()} logical CPUs)",
        "kind": "gpu" if gpus else "cpu",
        "gpu_count": len(gpus),
        "gpus": gpus,
        "driver": _nvidia_driver(),
        "cuda_driver_api": _cuda_driver_api(),
        "cuda_runtime": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if gpu else None,
        "nccl": nccl,
        "cpu": cpu,
        "logical_cpus": os.cpu_count(),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "versions": versions(),
        "load_average": list(os.getloadavg()),
    }


def load_results(name: str, data_dir: str | os.PathLike | None = None) -> dict | None:
    """The committed results ``<data_dir>/<name>.json``, or ``None`` if there is no such file.

    Args:
        name: file name without ``.json``: lower-case letters, digits and ``_``
            (``"copies_gpu"``, ``"conv_benchmark_gpu"``).
        data_dir: where to look; ``None``: the folder named by the environment variable
            ``COURSE_UTILS_RESULTS_DIR`` if set, else the package's ``course_utils/data``.

    Raises:
        ValueError: a malformed ``name``; a file that is not a benchmark result (no
            ``machine`` block with ``device`` and ``date``); a file from a ``--tiny``
            run, which exercises code paths and measures nothing.
    """
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValueError("name must be a results name of lower-case letters, digits and '_' "
                         f"(no '.json', no path), got {name!r}")
    if data_dir is None:
        data_dir = os.environ.get(RESULTS_DIR_ENV) or None
    if data_dir is None:
        path = resources.files("course_utils") / "data" / f"{name}.json"
    else:
        if not isinstance(data_dir, (str, os.PathLike)):
            raise TypeError(f"data_dir must be a path or None, got {type(data_dir).__name__}")
        path = Path(data_dir) / f"{name}.json"
    if not path.is_file():  # not an error: the measurement may come later
        return None
    try:
        results = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{name}.json is not valid JSON: {exc}") from exc
    machine = results.get("machine") if isinstance(results, dict) else None
    if not isinstance(machine, dict) or not all(
            isinstance(machine.get(k), str) for k in ("device", "date")):
        raise ValueError(f"{name}.json must hold a benchmark result with a 'machine' block "
                         "naming its 'device' and 'date'")
    if results.get("tiny"):
        raise ValueError(f"{name}.json comes from a --tiny run, which measures nothing; "
                         "delete it, or rerun the benchmark without --tiny")
    return results


def result_label(results: dict, *, detail: bool = False) -> str:
    """The label ``<device>, <date>`` for a figure; ``detail`` adds driver, CUDA and torch."""
    if not isinstance(results, dict) or not isinstance(results.get("machine"), dict):
        raise TypeError("results must be a benchmark result (a dict with a 'machine' block), "
                        f"got {type(results).__name__}")
    m = results["machine"]
    label = f"{m.get('device', 'unknown device')}, {str(m.get('date', 'undated'))[:10]}"
    if detail:
        torch_version = (m.get("versions") or {}).get("torch", "?")
        label += (f" (driver {m.get('driver') or '?'}, CUDA {m.get('cuda_runtime') or '?'}, "
                  f"torch {torch_version})")
    return label


def pending_note(name: str) -> str:
    """The line a chapter prints when ``course_utils/data/<name>.json`` is not committed."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValueError(f"name must be a results name (lower-case, digits, '_'), got {name!r}")
    return (f"pending: no GPU measurement committed (run {GPU_SCRIPT} on a GPU): "
            f"course_utils/data/{name}.json")
