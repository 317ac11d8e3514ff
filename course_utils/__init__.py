"""course_utils: the tested helper package behind the course "GPUs for Deep Learning".

Start every notebook with::

    from course_utils import select_device
    DEVICE = select_device()   # real GPU via numba-cuda, or Numba's CUDA simulator

This module imports nothing heavy, so importing it never fixes Numba's mode: the
first kernel module imported, or ``select_device()``, decides.
"""

from .device import DeviceInfo, device_info, select_device

__version__ = "0.1.0"
__all__ = ["DeviceInfo", "device_info", "select_device", "__version__"]
