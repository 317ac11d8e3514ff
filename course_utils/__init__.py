"""course_utils: the tested helper package behind the course "GPUs for Deep Learning".

One subpackage per part of the book (see ``ARCHITECTURE.md``)::

    course_utils.core      shared: device selection, checks, measurement, launchers, plots
    course_utils.systems   setup and chapter 1: hardware, PCIe lanes, data path, ping-pong
    course_utils.parallel  chapters 2-3: cost models, compression, DDP, model parallelism
    course_utils.conv      chapter 4: convolution reference, signals, Numba CUDA kernels
    course_utils.brain     chapter 5: brain-compute estimate and timeline

Start every notebook with::

    from course_utils import select_device
    DEVICE = select_device()   # real GPU via numba-cuda, or Numba's CUDA simulator

This module imports nothing heavy, so importing it never fixes Numba's mode: the
first kernel module imported, or ``select_device()``, decides.
"""

from .core.device import DeviceInfo, device_info, select_device

__version__ = "0.1.0"
__all__ = ["DeviceInfo", "device_info", "select_device", "__version__"]
