"""The public entry point :func:`conv2d`: one signature, seven implementations.

Chapter 4 (``notebooks/conv_1_mixing``, ``conv_3_cuda``). The NumPy references come from
:mod:`course_utils.conv.reference`; the CUDA methods from
:mod:`course_utils.conv.device_conv`, imported on first use so that importing
``course_utils.conv`` never starts Numba (the device is selected first).

Used in: :doc:`/notebooks/conv_1_mixing`, :doc:`/notebooks/conv_2_fourier`,
:doc:`/notebooks/conv_3_cuda`, :doc:`/notebooks/brain_estimate`.
"""

from __future__ import annotations

import numpy as np

from ..core.checks import check_choice
from .reference import METHODS, REFERENCE_METHODS, reference_conv2d

__all__ = ["conv2d"]


def conv2d(x: np.ndarray, w: np.ndarray, *, stride: int = 1, padding: int = 0,
           method: str = "reference") -> np.ndarray:
    """Batched 2-D cross-correlation with torch.nn.functional.conv2d's semantics.

    Args:
        x: input, float32 NumPy array of shape (N, C, H, W), finite.
        w: filters, float32 NumPy array of shape (K, C, R, S), finite.
        stride: step between output pixels, in input pixels (>= 1).
        padding: zeros added on each side of H and W (>= 0).
        method: one of :data:`course_utils.conv.METHODS` (see
            :mod:`course_utils.conv.reference`).

    Returns:
        float32 array of shape (N, K, P, Q), P = (H + 2*padding - R) // stride + 1.
    """
    method = check_choice("method", method, METHODS)
    if method in REFERENCE_METHODS:
        return reference_conv2d(x, w, stride=stride, padding=padding, method=method)
    from . import device_conv  # imports numba.cuda (after device selection)

    return device_conv.run(method, x, w, stride=stride, padding=padding)
