"""Choose where pip gets PyTorch: PyTorch's CPU wheel index or pip's default index.

On Linux, ``pip install torch==<pin>`` from PyPI installs the CUDA build: the torch
wheel itself plus NVIDIA's CUDA libraries as separate wheels (several GB in all; the
README gives the measured sizes). A machine with no NVIDIA GPU never uses them, so
``make setup`` installs torch from PyTorch's CPU index there, and from pip's default
index (PyPI, or whatever the machine's pip configuration says) where there is a GPU.
On macOS and Windows PyPI's torch wheel is already CPU-only, so ``auto`` keeps the
default index there.

The choice is overridden with ``TORCH_INDEX`` (``make setup TORCH_INDEX=...``):

* ``auto`` (the default): the CPU index on Linux without an NVIDIA GPU, else the default;
* ``cpu``: always the CPU index;
* ``default``: always pip's default index (the CUDA build on Linux);
* an ``https://``, ``http://`` or ``file://`` URL: that index.

The pinned version is read from ``pyproject.toml`` (the ``torch==`` pin of the ``test``
extra), the one place versions are pinned. Standard library only: the Makefile runs
this with the system Python before the virtual environment exists.

Usage::

    python tools/torch_index.py --install-args [--index auto|cpu|default|URL]
        # prints the arguments for `pip install`, e.g.
        # --no-deps --index-url https://download.pytorch.org/whl/cpu torch==2.13.0
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: PyTorch's CPU-only wheel index (https://pytorch.org/get-started/locally/)
CPU_INDEX_URL = "https://download.pytorch.org/whl/cpu"
CHOICES = ("auto", "cpu", "default")
_URL = re.compile(r"^(https?|file)://\S+$")


def choose_index(has_nvidia_gpu: bool, override: str | None, system: str = "Linux") -> str | None:
    """The index URL to install torch from, or ``None`` for pip's default index.

    Args:
        has_nvidia_gpu: whether this machine has an NVIDIA GPU (see ``has_nvidia_gpu``).
        override: the ``TORCH_INDEX`` setting: ``None``/``""``/``"auto"``, ``"cpu"``,
            ``"default"`` or an index URL.
        system: ``platform.system()``; only Linux gets the CUDA build from PyPI.
    """
    if not isinstance(has_nvidia_gpu, bool):
        raise TypeError(f"has_nvidia_gpu must be a bool, got {type(has_nvidia_gpu).__name__}")
    choice = (override or "auto").strip()
    if choice == "auto":
        return CPU_INDEX_URL if system == "Linux" and not has_nvidia_gpu else None
    if choice == "cpu":
        return CPU_INDEX_URL
    if choice == "default":
        return None
    if _URL.match(choice):
        return choice
    raise ValueError(
        f"TORCH_INDEX must be one of {', '.join(CHOICES)} or an http(s):// or file:// "
        f"index URL, got {override!r}"
    )


def has_nvidia_gpu(proc: Path = Path("/proc"),
                   which: Callable[[str], str | None] = shutil.which) -> bool:
    """True if an NVIDIA driver is loaded (``/proc/driver/nvidia``) or ``nvidia-smi`` is on PATH."""
    return (proc / "driver" / "nvidia").is_dir() or which("nvidia-smi") is not None


def torch_pin(root: Path = ROOT) -> str:
    """The ``torch==<version>`` requirement pinned in ``pyproject.toml``."""
    text = (root / "pyproject.toml").read_text()
    match = re.search(r'"(torch==[^"\s;]+)"', text)
    if match is None:
        raise RuntimeError("no \"torch==...\" pin in pyproject.toml")
    return match.group(1)


def install_args(index: str | None, pin: str) -> list[str]:
    """Arguments for ``pip install`` that install ``pin`` alone from ``index`` (None: the default).

    ``--no-deps``: only the torch wheel comes from ``index``; its dependencies come from the
    default index with the rest of ``.[dev]`` (the CPU index would be asked for each one).
    """
    return ["--no-deps"] + ([] if index is None else ["--index-url", index]) + [pin]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--install-args", action="store_true", required=True,
                        help="print the pip install arguments for torch")
    parser.add_argument("--index", default=os.environ.get("TORCH_INDEX", "auto"),
                        help="auto (default), cpu, default or an index URL (env TORCH_INDEX)")
    args = parser.parse_args(argv)
    gpu = has_nvidia_gpu()
    try:
        index = choose_index(gpu, args.index, platform.system())
    except ValueError as err:
        print(f"tools/torch_index.py: {err}", file=sys.stderr)
        return 2
    pin = torch_pin()
    why = "NVIDIA GPU found" if gpu else "no NVIDIA GPU found"
    print(f"{pin} from {index or 'the default index'} "
          f"(TORCH_INDEX={args.index}; {why}; {platform.system()})", file=sys.stderr)
    print(" ".join(install_args(index, pin)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
