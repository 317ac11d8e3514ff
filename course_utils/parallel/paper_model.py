"""The speedup model of the 8-bit paper's appendix, reproduced from its own numbers.

Source: Tim Dettmers, "8-Bit Approximations for Parallelism in Deep Learning", ICLR
2016, appendix 5 (https://arxiv.org/abs/1511.04561, v4). AlexNet as in Krizhevsky 2014
(https://arxiv.org/abs/1404.5997), NervanaGPU kernels measured on a GTX Titan X.
Times are in **milliseconds** throughout (the paper's unit); sizes in MiB or kB as
the paper prints them.

Two models, both the step-time model of
:func:`course_utils.parallel.mp_costs.hybrid_step_time`:

* **4 GPUs in one node** (appendix 5.1): data-parallel conv layers, model-parallel FC
  layers run on K = 4 sub-batches, communication partly hidden under computation
  (:func:`fc_penalty_ms`, :func:`conv_penalty_ms`, :func:`four_gpu_speedup`).
* **32 nodes x 3 GPUs** (appendix 5.2): FC layers no longer model-parallel; the conv
  activations are exchanged per sub-batch over InfiniBand (:func:`cluster_speedup`).

Where the paper's printed figures disagree with the arithmetic of its own terms this
module computes the terms, and the chapter shows printed and computed side by side
(see :data:`PRINTED`).

Used in: :doc:`/notebooks/mp_speedup_model`, :doc:`/notebooks/mp_pipeline_memory`,
:doc:`/notebooks/mgpu_hardware`.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..core.alphabeta import message_time
from ..core.checks import check_choice, check_int, check_number
from .memory import Layer, conv_layer, fc_layer
from .mp_costs import hybrid_step_time, speedup, unhidden_time

__all__ = [
    "LayerTimes",
    "TABLE3_SYNC_MS",
    "TABLE3_TRANSFER_MIB",
    "TABLE4_BASELINE_MS",
    "TABLE4_MODEL_PARALLEL_MS",
    "TOTAL_MS",
    "TABLE4_BATCH",
    "TABLE6_SYNC_MS",
    "PRINTED",
    "printed_tolerance",
    "agrees_with_printed",
    "fc_time_ms",
    "fc_penalty_terms",
    "fc_penalty_ms",
    "conv_penalty_ms",
    "four_gpu_speedup",
    "cluster_full_pass_ms",
    "FC_SCALINGS",
    "cluster_fc_ms",
    "cluster_speedup",
    "cluster_conv_sync_ms",
    "CLUSTER_SUB_BATCHES",
    "alexnet_layers",
    "table3_transfer_mib",
]



@dataclass(frozen=True)
class LayerTimes:
    """Forward, backward and update time of one layer, ms (the paper's Table 4)."""

    fprop: float
    bprop: float
    update: float

    @property
    def total(self) -> float:
        return self.fprop + self.bprop + self.update


# ---- Table 3: per-layer transfer size (MiB) and sync time (ms) on 4 GPUs, PCIe
# switches forcing 4 messages. 8-bit syncs are given for activations and FC layers only.
TABLE3_TRANSFER_MIB = {
    "conv1": 0.045, "conv2": 0.29, "conv3": 0.63, "conv4": 0.85, "conv5": 0.56,
    "conv_activations": 1.125, "fc6": 1.5, "fc7": 1.5, "fc8": 0.5,
}
TABLE3_SYNC_MS = {  # layer: (32-bit, 8-bit or None)
    "conv1": (0.05, None), "conv2": (0.45, None), "conv3": (1.0, None),
    "conv4": (1.3, None), "conv5": (0.9, None),
    "conv_activations": (0.9, 0.4), "fc6": (1.1, 0.5), "fc7": (1.1, 0.5), "fc8": (0.4, 0.25),
}
# ---- Table 4: fprop / bprop / update (ms). conv1 11x11 s4 3->64, conv2 5x5 64->192,
# conv3-5 3x3 192->384->256->256, fc6 9216->3072, fc7 3072->3072, fc8 3072->1000.
TABLE4_BASELINE_MS = {
    "conv1": LayerTimes(4, 1, 3.5), "conv2": LayerTimes(10, 11, 11),
    "conv3": LayerTimes(5, 6, 5), "conv4": LayerTimes(6.5, 5.5, 6.5),
    "conv5": LayerTimes(4, 4, 5),
    "fc6": LayerTimes(1.3, 1.3, 1.5), "fc7": LayerTimes(0.45, 0.45, 0.5),
    "fc8": LayerTimes(0.4, 0.4, 0.2),
}
TABLE4_MODEL_PARALLEL_MS = {  # FC layers split 4 ways, one sub-batch of 128
    "fc6": LayerTimes(0.9, 0.9, 0.43), "fc7": LayerTimes(0.3, 0.3, 0.13),
    "fc8": LayerTimes(0.15, 0.15, 0.08),
}
#: Examples per step of Table 4's measurements (one GPU's batch).
TABLE4_BATCH = 128
#: Whole-network time per 128-example step on one GPU, ms: NervanaGPU (Table 4) and
#: convnet2 (cuda-convnet2 kernels), as the paper uses them.
TOTAL_MS = {"nervana": 104.1, "convnet2": 177.0}

# ---- Table 6: sync time of the conv activations per sub-batch on the 96-GPU cluster,
# ms (32-bit, 8-bit). "250(?)" is printed with a question mark.
TABLE6_SYNC_MS = {128: (2.1, 0.35), 256: (4.2, 0.55), 512: (7.15, 1.13),
                  1024: (17.4, 2.25), 2048: (25.5, 3.26), 12288: (250.0, 31.0)}
CLUSTER_SUB_BATCHES = tuple(TABLE6_SYNC_MS)
CLUSTER_NODES = 32
CLUSTER_GPUS = 96
CLUSTER_BATCH = 12288  # 96 GPUs x 128 examples
HIDE_UNDER_MS = 1.3  # "later transfers hide under the 1.3 ms next-layer matmul"
#: How the cluster model charges one pass of a sub-batch through the FC layers:
#: "constant" (the paper's Table 6: T_fc whatever the sub-batch) or "proportional"
#: (T_fc x sub_batch / 128, time growing with the examples in the pass).
FC_SCALINGS = ("constant", "proportional")

#: The paper's printed results, as printed (strings keep their precision).
PRINTED = {
    "t_fc": "6.5", "t_fc_parallel": "3.34", "conv_penalty": "0.05",
    "fc_penalty_32": "6.81", "fc_penalty_8": "2.55",
    "speedup_4gpu": {("nervana", 32): "3.53", ("nervana", 8): "3.67",
                     ("convnet2", 32): "3.71", ("convnet2", 8): "3.8"},
    "krizhevsky_measured_4gpu": "3.66",
    "cluster_conv_sync": "1.9",
    # Table 6 "full pass with overlap" (ms), 32-bit / 8-bit
    "table6_full_pass": {128: ("24.8", "0.35"), 256: ("89.9", "0.55"), 512: ("181", "1.13"),
                         1024: ("499", "29.5"), 2048: ("750", "60.8"),
                         12288: ("7750", "921")},
    # Table 7 (= Table 1): speedup on 96 GPUs; the paper prints 2056 for 2048
    "table7": {128: {("nervana", 32): "13.4", ("nervana", 8): "13.8",
                     ("convnet2", 32): "20.7", ("convnet2", 8): "21.4"},
               256: {("nervana", 32): "20", ("nervana", 8): "24.4",
                     ("convnet2", 32): "29.7", ("convnet2", 8): "35.2"},
               512: {("nervana", 32): "23", ("nervana", 8): "39.3",
                     ("convnet2", 32): "33.5", ("convnet2", 8): "51.9"},
               1024: {("nervana", 32): "14.8", ("nervana", 8): "48.6",
                      ("convnet2", 32): "22.7", ("convnet2", 8): "61"},
               2048: {("nervana", 32): "11.3", ("nervana", 8): "50.6",
                      ("convnet2", 32): "17.7", ("convnet2", 8): "62.8"},
               12288: {("nervana", 32): "1.3", ("nervana", 8): "9.7",
                       ("convnet2", 32): "2.15", ("convnet2", 8): "15.5"}},
}


def printed_tolerance(printed: str) -> float:
    """Half a unit in the last printed digit: ``"3.8"`` -> 0.05, ``"61"`` -> 0.5."""
    if not isinstance(printed, str):
        raise TypeError(f"printed must be a string as printed, got {type(printed).__name__}")
    try:
        float(printed)
    except ValueError:
        raise ValueError(f"printed must be a number as printed, e.g. '3.8', "
                         f"got {printed!r}") from None
    decimals = len(printed.split(".")[1]) if "." in printed else 0
    return 0.5 * 10.0**-decimals


def agrees_with_printed(value: float, printed: str) -> bool:
    """Whether ``value`` rounds to the printed figure (within its rounding)."""
    tolerance = printed_tolerance(printed)
    return abs(check_number("value", value) - float(printed)) <= tolerance + 1e-9


def _check_flag(name: str, value: object) -> None:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, got {type(value).__name__}")


def _bits(bits: int) -> int:
    bits = check_int("bits", bits)
    if bits not in (32, 8):
        raise ValueError(f"bits must be 32 or 8, got {bits}")
    return bits


def _sync(layer: str, bits: int) -> float:
    s32, s8 = TABLE3_SYNC_MS[layer]
    return s32 if _bits(bits) == 32 else s8


def fc_time_ms(model_parallel: bool = False) -> float:
    """Total fprop + bprop + update of the three FC layers, ms (Table 4): 6.5 on one GPU,
    3.34 split four ways."""
    _check_flag("model_parallel", model_parallel)
    table = TABLE4_MODEL_PARALLEL_MS if model_parallel else TABLE4_BASELINE_MS
    return sum(table[name].total for name in ("fc6", "fc7", "fc8"))


def fc_penalty_terms(bits: int = 32) -> list[tuple[str, float, float]]:
    """The paper's FC penalty as ``(what, transfer ms, computation it hides under ms)``.

    The pairs are the paper's printed terms (Table 3 syncs against Table 4
    model-parallel times); the descriptions are this course's reading of them. The
    last term is counted five times with nothing to hide under, as printed.
    """
    mp = TABLE4_MODEL_PARALLEL_MS
    updates = sum(mp[name].update for name in ("fc6", "fc7", "fc8"))  # 0.64
    act = _sync("conv_activations", bits)
    return [
        ("conv activations, under fc6 forward", act, mp["fc6"].fprop),
        ("fc6 outputs, under fc7 forward", _sync("fc6", bits), mp["fc7"].fprop),
        ("fc7 outputs, under fc8 forward", _sync("fc7", bits), mp["fc8"].fprop),
        ("fc8 gradients, under fc7 backward", _sync("fc8", bits), mp["fc7"].bprop),
        ("fc7 gradients, under fc6 backward", _sync("fc7", bits), mp["fc6"].bprop),
        ("fc6 gradients, under the FC updates", _sync("fc6", bits), updates),
    ] + [("conv activations, not hidden", act, 0.0)] * 5


def fc_penalty_ms(bits: int = 32) -> float:
    """Unhidden FC communication, ms: the sum of :func:`fc_penalty_terms` (7.01 at 32
    bits, printed as 6.81; 2.55 at 8 bits, as printed)."""
    terms = fc_penalty_terms(bits)
    return unhidden_time([t for _, t, _ in terms], [h for _, _, h in terms])


def conv_penalty_ms() -> float:
    """Unhidden conv gradient sync, ms: each layer's sync (Table 3, backward order) runs
    under the update of the layer below it; conv1's has nothing left to hide under."""
    order = ("conv5", "conv4", "conv3", "conv2", "conv1")
    syncs = [_sync(name, 32) for name in order]
    hide = [TABLE4_BASELINE_MS[name].update for name in order[1:]] + [0.0]
    return unhidden_time(syncs, hide)


def _kernels(kernels: str) -> float:
    return TOTAL_MS[check_choice("kernels", kernels, tuple(TOTAL_MS))]


def four_gpu_speedup(bits: int = 32, kernels: str = "nervana",
                     fc_penalty: float | None = None) -> float:
    """Speedup of AlexNet on 4 GPUs (hybrid, K = 4 sub-batches), the paper's formula:

    ``4 T / [(T - T_fc) + P_conv + 4 T_fc,par + P_fc]``.

    Args:
        bits: 32 or 8 (the FC penalty's sync times).
        kernels: ``"nervana"`` (T = 104.1 ms) or ``"convnet2"`` (T = 177 ms).
        fc_penalty: P_fc in ms; default :func:`fc_penalty_ms` (pass the printed 6.81 to
            follow the paper's own figure).
    """
    total = _kernels(kernels)
    p_fc = fc_penalty_ms(bits) if fc_penalty is None else fc_penalty
    step = hybrid_step_time(total, fc_time_ms(), fc_time_ms(model_parallel=True), 4,
                            conv_penalty_ms(), p_fc)
    return float(speedup(4, total, step))


def _sub_batch(sub_batch: int) -> int:
    sub_batch = check_int("sub_batch", sub_batch)
    if sub_batch not in TABLE6_SYNC_MS:
        raise ValueError(f"sub_batch must be one of {CLUSTER_SUB_BATCHES}, got {sub_batch}")
    return sub_batch


def cluster_full_pass_ms(sub_batch: int, bits: int = 32, sync_ms: float | None = None) -> float:
    """Table 6's "full pass with overlap", ms, as this course reconstructs it.

    The printed values equal ``(nodes - 1) * (sync - 1.3 ms)`` (31 x the part of each
    transfer that the 1.3 ms next-layer matmul does not hide) when the sync exceeds
    1.3 ms, and the sync itself when it does not. The formula is our reading, not the
    paper's text; it gives every printed cell but 12288 at 32 bits ("7750"; ours 7709.7).
    ``sync_ms`` replaces Table 6's sync time (for what-if questions).
    """
    sync = TABLE6_SYNC_MS[_sub_batch(sub_batch)][0 if _bits(bits) == 32 else 1]
    if sync_ms is not None:
        sync = check_number("sync_ms", sync_ms, minimum=0)
    if sync <= HIDE_UNDER_MS:
        return sync
    return (CLUSTER_NODES - 1) * (sync - HIDE_UNDER_MS)


def cluster_fc_ms(sub_batch: int, fc_scaling: str = "constant") -> float:
    """Time one GPU spends in the FC layers in one 96-GPU step (all passes), ms.

    The FC layers run once per sub-batch, ``12288 / sub_batch`` passes:

    * ``"constant"``, the paper's assumption (Table 6's "forward" column): each pass
      costs the one-GPU T_fc = 6.5 ms of Table 4, whatever its size;
    * ``"proportional"``: a pass costs ``T_fc x sub_batch / 128``, as a matrix product
      on a busy GPU does; then every sub-batch size gives ``96 T_fc``.

    The two agree at sub-batch 128, the batch of Table 4.
    """
    sub_batch = _sub_batch(sub_batch)
    check_choice("fc_scaling", fc_scaling, FC_SCALINGS)
    per_pass = fc_time_ms() * (sub_batch / TABLE4_BATCH if fc_scaling == "proportional" else 1)
    return CLUSTER_BATCH // sub_batch * per_pass


def cluster_speedup(sub_batch: int, bits: int = 32, kernels: str = "nervana",
                    full_pass: float | None = None, fc_scaling: str = "constant") -> float:
    """Predicted speedup on 96 GPUs (Table 7), from the paper's terms:

    ``96 T / [(T - T_fc) + FC time + full_pass]``: the conv layers data-parallel on
    128 examples per GPU, the FC layers (no longer model-parallel) run once per
    sub-batch (:func:`cluster_fc_ms`; the paper's ``"constant"``: ``(12288 /
    sub_batch) T_fc``, T_fc = 6.5 ms), plus the unhidden activation transfers
    (``full_pass``, default :func:`cluster_full_pass_ms`). The 1.9 ms conv gradient
    sync is hidden.
    """
    total = _kernels(kernels)
    fc_ms = cluster_fc_ms(sub_batch, fc_scaling)  # checks sub_batch and fc_scaling
    extra = (cluster_full_pass_ms(sub_batch, bits) if full_pass is None
             else check_number("full_pass", full_pass, minimum=0))
    n_passes = CLUSTER_BATCH // sub_batch
    step = hybrid_step_time(total, fc_time_ms(), fc_ms / n_passes, n_passes, 0.0, extra)
    return float(speedup(CLUSTER_GPUS, total, step))


def cluster_conv_sync_ms(latency_includes_transfer: bool = True) -> float:
    """The cluster's conv gradient sync, ms: 2 PCIe messages of 36 kB at 5 GB/s and 31
    InfiniBand messages of 108 kB at 6 GB/s with 0.03 ms latency each, done twice
    (scatter, then gather). Printed: about 1.9 ms, which the arithmetic gives only if
    the 0.03 ms already includes the transfer (``True``: 1.89 ms; ``False``: 3.0 ms)."""
    _check_flag("latency_includes_transfer", latency_includes_transfer)
    pcie = 2 * float(message_time(36e3, 5e9, 0.0))
    transfer = 0.0 if latency_includes_transfer else 108e3
    infiniband = (CLUSTER_NODES - 1) * float(message_time(transfer, 6e9, 0.03e-3))
    return 2 * (pcie + infiniband) * 1e3


# AlexNet as in the paper's tables: conv (c_in, c_out, kernel, output width), fc (in, out)
_ALEXNET_CONV = {"conv1": (3, 64, 11, 55), "conv2": (64, 192, 5, 27),
                 "conv3": (192, 384, 3, 13), "conv4": (384, 256, 3, 13),
                 "conv5": (256, 256, 3, 13)}
_ALEXNET_FC = {"fc6": (9216, 3072), "fc7": (3072, 3072), "fc8": (3072, 1000)}


def alexnet_layers() -> list[Layer]:
    """AlexNet as in the paper's tables (Krizhevsky 2014's variant, FC width 3072).

    Parameter counts follow from the layer shapes; the activation counts assume
    224x224 inputs laid out as in torchvision's AlexNet (outputs 55, 27 and 13 pixels
    wide; 6x6x256 = 9216 features into fc6), which the paper does not state.
    """
    return ([conv_layer(name, *shape) for name, shape in _ALEXNET_CONV.items()]
            + [fc_layer(name, *shape) for name, shape in _ALEXNET_FC.items()])


def table3_transfer_mib(batch: int = 128, n_gpus: int = 4) -> dict[str, float]:
    """Table 3's transfer sizes (MiB) recomputed from the layer shapes, float32 values:

    a conv layer's weight gradient split ``n_gpus`` ways; the conv activations of one
    GPU's ``batch / n_gpus`` examples (9216 values each); an FC layer's outputs for the
    whole ``batch``. This is our reading of the table: it gives the printed size of
    every row but conv1 (printed 0.045; its 23,232 weights give 0.022) and conv4
    (printed 0.85; 0.844).
    """
    batch = check_int("batch", batch, minimum=1)
    n_gpus = check_int("n_gpus", n_gpus, minimum=1)
    mib = 4 / 2**20  # bytes per float32 value / bytes per MiB
    sizes = {name: c_in * c_out * k * k / n_gpus * mib
             for name, (c_in, c_out, k, _) in _ALEXNET_CONV.items()}
    sizes["conv_activations"] = batch / n_gpus * _ALEXNET_FC["fc6"][0] * mib
    sizes.update({name: batch * n_out * mib for name, (_, n_out) in _ALEXNET_FC.items()})
    return sizes
