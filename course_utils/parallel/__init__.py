"""course_utils.parallel: cost models, compression and real runs for the parallelism chapters.

Shared by the data-parallelism chapter (issue 5) and the model-parallelism chapter
(issue 6). Importing this package imports NumPy only; the torch-based modules
(``train_ddp``, ``comm_hooks``, ``measure``) are imported explicitly where needed.
Re-export lines carry ``# noqa: F401`` (ruff would otherwise call them unused imports).
"""

# --- data parallelism (issue 5) ---
# costs: alpha-beta messages, all-reduce algorithms, bus bandwidth, PCIe-switch model.
# figures: paper PCIe figures and measured latencies. compression: 8-bit types and 1-bit.
# data_parallel: the step-time simulator. torch modules (import them explicitly):
# train_ddp (DDP trainer for torchrun), comm_hooks, launch, measure.
from .compression import (  # noqa: F401 (re-exports)
    EIGHT_BIT_SCHEMES,
    SCHEMES,
    OneBitErrorFeedback,
    compress_roundtrip,
    dequantize_8bit,
    onebit_dequantize,
    onebit_quantize,
    quantize_8bit,
)
from .costs import (  # noqa: F401 (re-exports)
    ALGORITHMS,
    algorithm_bandwidth,
    allreduce_terms,
    allreduce_time,
    allreduce_time_from_busbw,
    bus_bandwidth,
    busbw_factor,
    fit_alpha_beta,
    message_time,
    pcie_switch_bandwidth,
    pcie_switch_sync_time,
)
from .data_parallel import DataParallelStep, simulate_data_parallel  # noqa: F401

# --- model parallelism (issue 6) ---
# mp_costs: what a split layer communicates, the hybrid step-time model. pipeline: GPipe
# and 1F1B schedules, bubble. memory: bytes per GPU under data/model/hybrid/ZeRO.
# paper_model: the 8-bit paper's appendix. torch modules (import them explicitly):
# model_parallel (split layers, tensor-parallel MLP), hybrid (hybrid training, workers).
from .memory import memory_per_gpu, min_gpus_to_fit  # noqa: F401 (re-exports)
from .mp_costs import crossover_batch, fc_comm_time, hybrid_step_time  # noqa: F401
from .paper_model import cluster_speedup, four_gpu_speedup  # noqa: F401
from .pipeline import bubble_fraction, gpipe_schedule, one_f_one_b_schedule  # noqa: F401
