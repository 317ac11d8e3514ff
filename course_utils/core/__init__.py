"""course_utils.core: what every chapter shares. Imports no chapter package.

Device selection (real GPU or Numba's CUDA simulator), argument checks, the alpha-beta
message model and its one fit, measurement (one timing loop, one retry rule, one result
type), launchers for multi-process runs, interactive figures and environment reports.
Importing it imports NumPy only: Numba, torch and SciPy are imported where used.
"""

from .alphabeta import (
    AlphaBeta,
    fit_alpha_beta,
    fit_relative_least_squares,
    message_time,
)
from .checks import (
    RealLike,
    as_real_array,
    check_array,
    check_choice,
    check_int,
    check_number,
    check_series,
    scalar_or_array,
)
from .device import (
    DeviceInfo,
    cuda,
    device_info,
    probe_cuda_driver,
    select_device,
)
from .launchers import (
    BACKENDS,
    choose_backend,
    free_port,
    init_distributed,
    launch,
    mpiexec,
    mpiexec_path,
    run_local,
    torchrun,
)
from .measure import (
    MARKER,
    TIMING_MODE_ENV,
    TIMING_NOTE,
    CopyMeasurement,
    TimingCheckFailed,
    check_timing,
    emit,
    low_quantile,
    measure_until,
    time_calls,
    timing_mode,
)
from .plots import (
    InteractiveFigure,
    interactive,
)
from .provenance import (
    GPU_SCRIPT,
    RESULTS_DIR_ENV,
    load_results,
    pending_note,
    result_label,
    run_metadata,
)
from .report import (
    environment_rows,
    glue,
    kernel_source,
)

__all__ = [
    "RealLike",
    "check_number",
    "check_int",
    "check_array",
    "check_choice",
    "check_series",
    "as_real_array",
    "scalar_or_array",
    "AlphaBeta",
    "message_time",
    "fit_alpha_beta",
    "fit_relative_least_squares",
    "CopyMeasurement",
    "time_calls",
    "measure_until",
    "low_quantile",
    "TIMING_MODE_ENV",
    "TIMING_NOTE",
    "TimingCheckFailed",
    "timing_mode",
    "check_timing",
    "MARKER",
    "emit",
    "free_port",
    "init_distributed",
    "run_local",
    "torchrun",
    "mpiexec",
    "mpiexec_path",
    "launch",
    "DeviceInfo",
    "select_device",
    "device_info",
    "cuda",
    "probe_cuda_driver",
    "interactive",
    "InteractiveFigure",
    "environment_rows",
    "kernel_source",
    "glue",
    "BACKENDS",
    "choose_backend",
    "GPU_SCRIPT",
    "RESULTS_DIR_ENV",
    "load_results",
    "result_label",
    "pending_note",
    "run_metadata",
]
