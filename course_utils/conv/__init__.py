"""course_utils.conv: chapter 4, understanding convolution.

Re-exported here: :func:`conv2d` (:mod:`.dispatch`), the NumPy reference and sizes
(:mod:`.reference`), FLOP and byte counts, the roofline and Winograd (:mod:`.costs`) and
the signal-processing helpers (:mod:`.signals`). The CUDA
kernels (:mod:`.kernels`, :mod:`.fft_kernels`) and their host driver
(:mod:`.device_conv`) import Numba; import them explicitly, after
``course_utils.select_device()``.
"""

from .costs import (
    GPU_TARGETS,
    ROOFLINE_GPUS,
    arithmetic_intensity,
    attainable_flops,
    conv_flops,
    conv_min_bytes,
    gpu_roofs,
    winograd_f2x2_3x3,
    winograd_layer_multiplies,
    winograd_multiplies,
)
from .dispatch import (
    conv2d,
)
from .reference import (
    CUDA_METHODS,
    METHODS,
    REFERENCE_METHODS,
    check_conv_args,
    conv_output_shape,
    load_benchmark,
    output_length,
    padding_for,
    reference_conv2d,
)
from .signals import (
    ar_impulse_response,
    ar_predict,
    ar_process,
    circular_convolve_direct,
    cross_correlate,
    disc_mask,
    dominant_frequency,
    fft_convolve,
    fit_ar,
    kernel_softmax,
    log_spectrum,
    lowpass_disc,
    ma_process,
    match_template,
    sample_image,
    stripes,
)

__all__ = [
    "METHODS",
    "REFERENCE_METHODS",
    "CUDA_METHODS",
    "reference_conv2d",
    "check_conv_args",
    "output_length",
    "padding_for",
    "conv_output_shape",
    "load_benchmark",
    "conv_flops",
    "conv_min_bytes",
    "arithmetic_intensity",
    "attainable_flops",
    "GPU_TARGETS",
    "ROOFLINE_GPUS",
    "gpu_roofs",
    "winograd_multiplies",
    "winograd_layer_multiplies",
    "winograd_f2x2_3x3",
    "conv2d",
    "sample_image",
    "circular_convolve_direct",
    "fft_convolve",
    "log_spectrum",
    "stripes",
    "dominant_frequency",
    "disc_mask",
    "lowpass_disc",
    "kernel_softmax",
    "cross_correlate",
    "match_template",
    "ma_process",
    "ar_process",
    "ar_predict",
    "fit_ar",
    "ar_impulse_response",
]
