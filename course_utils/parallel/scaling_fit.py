"""Fit the data-parallel scaling model on one published result, then predict the others.

The model is :mod:`course_utils.parallel.scaling`. Its free parameters are what a
software stack achieves (:class:`~course_utils.parallel.scaling.Achieved`): the fraction
of peak compute (MFU) and the fraction of nominal link bandwidth. Both are fitted on
**one** published result, Goyal et al. 2017 (ResNet-50, 8 to 256 P100 GPUs, about 90%
efficiency, :func:`fit_on_goyal`):

* MFU from the paper's own timing: "Backprop for ResNet-50 on a single NVIDIA Tesla
  P100 GPU takes 120 ms" at 32 images per GPU. We read "backprop" as the backward pass
  (2x the forward FLOPs), so a step computes for 1.5 x 120 ms [inferred; the other
  reading, 120 ms for forward and backward, would mean 267 images/s, faster than
  TensorFlow's 219 images/s on a P100 at batch 64].
* the bandwidth fraction so that the model gives the paper's 90% at 256 GPUs.
* how compute slows at small batches (``half_batch``) from TensorFlow's P100 training
  throughput at batch 32 and 64 (195 and 219 images/s).

:func:`predict_published` then predicts every other row of
``course_utils/data/dp_scaling_published.csv`` that describes an all-reduce run, with
no refitting; what a row leaves unsaid (per-GPU batch, baseline, GPU model) is filled in
by an assumption named in the row's ``assumed`` text. Rows the model cannot describe
(parameter servers, sharded data parallelism, mixed precision without a measured MFU)
are listed by :func:`published_results` but not predicted.

Used in: :doc:`/notebooks/dp_scaling`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.checks import check_number
from ..systems import hardware as hw
from . import networks
from .memory import fc_layer
from .scaling import Achieved, Cluster, scaling_efficiency

__all__ = [
    "Published",
    "Scenario",
    "Prediction",
    "published_results",
    "inputs",
    "half_batch_from_throughput",
    "scenarios",
    "fit_on_goyal",
    "predict_published",
    "speech_dnn",
]

FIT_KEY = "goyal2017_resnet50_256"


@dataclass(frozen=True)
class Published:
    """One row of ``dp_scaling_published.csv`` (efficiency as a fraction)."""

    key: str
    network: str
    gpu: str
    gpus_per_node: int | None
    inter_gbit_per_s: float | None
    gpus_baseline: int | None
    gpus: int
    per_gpu_batch: int | None
    scaling: str
    efficiency: float
    compression: str
    precision: str
    framework: str
    source: str
    tag: str


def _int(text: str) -> int | None:
    return int(text) if text.strip() else None


def published_results() -> dict[str, Published]:
    """Every published row, by key."""
    out = {}
    for row in hw.read_table("dp_scaling_published.csv"):
        out[row["key"]] = Published(
            key=row["key"], network=row["network"], gpu=row["gpu"],
            gpus_per_node=_int(row["gpus_per_node"]),
            inter_gbit_per_s=float(row["inter_gbit_per_s"]) if row["inter_gbit_per_s"] else None,
            gpus_baseline=_int(row["gpus_baseline"]), gpus=int(row["gpus"]),
            per_gpu_batch=_int(row["per_gpu_batch"]), scaling=row["scaling"],
            efficiency=float(row["efficiency"]), compression=row["compression"],
            precision=row["precision"], framework=row["framework"], source=row["source"],
            tag=row["tag"])
    return out


def inputs() -> dict[str, float]:
    """The measured inputs of ``dp_scaling_efficiency_inputs.csv``, by key (their units
    are in the file: ms, img/s, GB/s, fractions)."""
    return {row["key"]: float(row["value"])
            for row in hw.read_table("dp_scaling_efficiency_inputs.csv")}


def half_batch_from_throughput(b1: float, r1: float, b2: float, r2: float) -> float:
    """The ``half_batch`` h of ``r(b) = r_max b / (b + h)`` through two measured points
    (batch, examples/s)."""
    b1, r1, b2, r2 = (check_number(n, v, minimum=0, strict_minimum=True)
                      for n, v in (("b1", b1), ("r1", r1), ("b2", b2), ("r2", r2)))
    if b1 == b2:
        raise ValueError("b1 and b2 must differ")
    # r1 (b1 + h) / b1 = r2 (b2 + h) / b2  =>  h (r1/b1 - r2/b2) = r2 - r1
    denom = r1 / b1 - r2 / b2
    if denom == 0 or (r2 - r1) / denom < 0:
        raise ValueError("the two points must show throughput rising with the batch, "
                         f"got {r1:g} at {b1:g} and {r2:g} at {b2:g}")
    return (r2 - r1) / denom


def speech_dnn() -> list:
    """Seide et al. 2014's Switchboard DNN as 8 equal fully connected layers with the
    stated 46M parameters [assumed layout; the paper's abstract gives the total]."""
    return [fc_layer(f"fc{i}", 2398, 2398) for i in range(8)]


@dataclass(frozen=True)
class Scenario:
    """A published row as the model sees it, with what had to be assumed."""

    key: str
    layers: list
    cluster: Cluster
    batch: int
    bytes_per_value: float
    baseline_gpus: int
    assumed: str


def scenarios() -> dict[str, Scenario]:
    """The rows the model can describe (all-reduce data parallelism, fp32), by key."""
    rows = published_results()
    p100, v100 = hw.gpu("P100 SXM2"), hw.gpu("V100 SXM2")
    nvlink1, nvlink2, pcie3 = (hw.link(n).bandwidth for n in ("nvlink1", "nvlink2", "pcie3"))
    out = {}

    def add(key, layers, cluster, batch, assumed="", bytes_per_value=4.0):
        row = rows[key]
        out[key] = Scenario(key, layers, cluster, batch or row.per_gpu_batch, bytes_per_value,
                            row.gpus_baseline or 1, assumed)

    goyal = rows[FIT_KEY]
    add(FIT_KEY, networks.get("resnet50"),
        Cluster("8x P100 (NVLink) per server, 50 Gbit/s Ethernet", p100.fp32_flops, 8,
                nvlink1, goyal.inter_gbit_per_s * 1e9 / 8), None)
    horovod_cluster = Cluster("4x Pascal per server (PCIe), 25 Gbit/s RoCE", p100.fp32_flops,
                              4, pcie3, 25e9 / 8)
    for gpus in (128, 512):
        for name, net in (("inceptionv3", "inception_v3"), ("resnet101", "resnet101"),
                          ("vgg16", "vgg16")):
            add(f"horovod_{gpus}_{name}", networks.get(net), horovod_cluster, 64,
                "GPU model (P100, PCIe 3.0 inside the server), fp32, batch 64 per GPU (the "
                "README's reproduction command) and a 1-GPU baseline: not stated")
    dgx1 = Cluster("DGX-1: 8x P100 (NVLink)", p100.fp32_flops, 8, nvlink1, 1.0)
    add("tfbench_dgx1_p100_8_vgg16", networks.get("vgg16"), dgx1, None, "fp32")
    add("tfbench_dgx1_p100_8_resnet50", networks.get("resnet50"), dgx1, None,
        "fp32; the run used a parameter server on the CPU, the model an all-reduce")
    add("nvdle_mxnet_rn50_dgx1_8_fp32", networks.get("resnet50"),
        Cluster("DGX-1: 8x V100 (NVLink 2)", v100.fp32_flops, 8, nvlink2, 1.0), None,
        "the P100 fit's MFU on a V100")
    add("nvdle_mxnet_rn50_dgx2_16_fp32", networks.get("resnet50"),
        Cluster("DGX-2: 16x V100 (NVSwitch)", v100.fp32_flops, 16, nvlink2, 1.0), None,
        "the P100 fit's MFU on a V100; NVSwitch as NVLink 2 per GPU")
    k20x = hw.gpu("Tesla K20X")
    add("seide2014_dnn46m_8gpu_mb2880", speech_dnn(),
        Cluster("8x K20X in one server (PCIe 2.0)", k20x.fp32_flops, 8,
                hw.link("pcie2").bandwidth, 1.0), 2880,
        "layer layout; PCIe 2.0 x16 per GPU; no cost for quantising; baseline at the "
        "same minibatch", bytes_per_value=1 / 8)
    return out


def fit_on_goyal() -> Achieved:
    """MFU, bandwidth fraction and half-batch from Goyal et al. 2017 (see module docstring)."""
    data = inputs()
    scene = scenarios()[FIT_KEY]
    layers = scene.layers
    step = 1.5 * data["goyal_p100_resnet50_backprop"] / 1e3  # backward = 2/3 of a step
    flops = 3 * scene.batch * sum(layer.flops for layer in layers)
    mfu = flops / step / scene.cluster.gpu_flops
    half = half_batch_from_throughput(32, data["batch_p100_tf_train_b32"],
                                      64, data["batch_p100_tf_train_b64"])
    target = published_results()[FIT_KEY]

    def efficiency(bw: float) -> float:
        achieved = Achieved(mfu, bw, reference_batch=scene.batch, half_batch=half)
        return float(scaling_efficiency(layers, target.gpus, scene.cluster, achieved,
                                        scaling="weak", batch=scene.batch,
                                        baseline_gpus=scene.baseline_gpus).efficiency)

    lo, hi = 1e-3, 1.0
    if efficiency(hi) < target.efficiency:
        raise ValueError("the model cannot reach Goyal's efficiency at full bandwidth")
    for _ in range(60):  # efficiency grows with bandwidth: bisect
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if efficiency(mid) < target.efficiency else (lo, mid)
    return Achieved(mfu, hi, reference_batch=scene.batch, half_batch=half)


@dataclass(frozen=True)
class Prediction:
    """Published against predicted efficiency for one row (fractions)."""

    key: str
    network: str
    system: str
    gpus: int
    scaling: str
    published: float
    predicted: float
    fitted: bool
    assumed: str

    @property
    def error_points(self) -> float:
        """Predicted minus published, in percentage points."""
        return 100 * (self.predicted - self.published)


def predict_published(achieved: Achieved | None = None) -> list[Prediction]:
    """The model's efficiency for every row :func:`scenarios` describes (fit row first)."""
    if achieved is not None and not isinstance(achieved, Achieved):
        raise TypeError(f"achieved must be an Achieved (or None), got {type(achieved).__name__}")
    achieved = achieved or fit_on_goyal()
    rows = published_results()
    out = []
    for key, scene in scenarios().items():
        row = rows[key]
        result = scaling_efficiency(scene.layers, row.gpus, scene.cluster, achieved,
                                    scaling=row.scaling, batch=scene.batch,
                                    baseline_gpus=scene.baseline_gpus,
                                    bytes_per_value=scene.bytes_per_value)
        out.append(Prediction(key, row.network, scene.cluster.name, row.gpus, row.scaling,
                              row.efficiency, float(np.asarray(result.efficiency)),
                              key == FIT_KEY, scene.assumed))
    return out
