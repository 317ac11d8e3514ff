"""The AI-compute side of the brain comparison: training clusters and training runs.

Chapter 5, ``notebooks/brain_then_now``. Dettmers' post (2015) compared its brain
estimate, 1.075e21 FLOP/s, with supercomputers. Since then deep learning has its own
machines. This module loads two small tables, each row with its source:

* ``data/ai_clusters.csv``: AI training clusters (GPU model and count). Their peak is
  computed, count x the GPU's dense 16-bit tensor peak from the course's GPU catalogue
  (:func:`course_utils.systems.hardware.gpu`), never typed in (:func:`cluster_peak`);
* ``data/ai_training_compute.csv``: total training compute (FLOP) of notable models.

It compares both with a brain rate in FLOP/s: a training run as seconds of brain time
(:func:`brain_seconds`), a brain "lifetime" of compute (:func:`lifetime_flop`), how many
GPUs match a rate (:func:`gpus_to_match`), the first cluster above a rate
(:func:`first_cluster_reaching`) and the year a fitted cluster trend crosses it
(:func:`crossing_year`). Rates in FLOP/s, amounts in FLOP, times in seconds.

Used in: :doc:`/notebooks/brain_then_now`, :doc:`/notebooks/brain_timeline`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from types import MappingProxyType

from ..core.checks import check_choice, check_int, check_number
from ..systems import hardware
from ..systems.hardware import Growth

__all__ = [
    "PRECISIONS", "FP8_PER_BF16", "AICluster", "TrainingRun", "cluster_peak",
    "load_ai_clusters", "load_training_runs", "brain_seconds", "lifetime_flop",
    "gpus_to_match", "first_cluster_reaching", "fit_cluster_growth", "crossing_year",
]

#: Precisions a cluster peak can be asked for: "bf16" is the catalogue's dense 16-bit
#: tensor peak (FP16 on the V100, which has no BF16); "fp8" is that times FP8_PER_BF16.
PRECISIONS = ("bf16", "fp8")

#: Dense FP8 tensor peak / dense BF16 tensor peak, for the GPUs that have FP8. From the
#: catalogue rows' notes (course_utils/data/gpus.csv): H100 SXM5 FP8 1,978.9 vs BF16 989.4
#: TFLOP/s; B200 HGX FP8 4,500 vs 2,250; the H200 has the H100's compute. GPUs missing
#: here (V100, A100) have no FP8 tensor cores.
FP8_PER_BF16 = MappingProxyType({"H100 SXM5": 2.0, "H200 SXM": 2.0, "B200 HGX": 2.0})


def cluster_peak(gpu: str, gpu_count: int, precision: str = "bf16") -> float:
    """Peak FLOP/s of ``gpu_count`` GPUs named ``gpu`` in the catalogue at ``precision``:
    count x the catalogue's dense tensor peak (x FP8_PER_BF16 for "fp8")."""
    gpu_count = check_int("gpu_count", gpu_count, minimum=1)
    precision = check_choice("precision", precision, PRECISIONS)
    entry = hardware.gpu(gpu)
    if entry.tensor_flops is None:
        raise ValueError(f"gpu must have a tensor peak in the catalogue, got {gpu!r}")
    per_gpu = entry.tensor_flops
    if precision == "fp8":
        if gpu not in FP8_PER_BF16:
            raise ValueError(f"precision 'fp8' needs a GPU with FP8 tensor cores "
                             f"{tuple(FP8_PER_BF16)}, got gpu={gpu!r}")
        per_gpu *= FP8_PER_BF16[gpu]
    return gpu_count * per_gpu


def _year(date: str) -> float:
    yy, mm = (int(x) for x in date.split("-"))
    return yy + (mm - 1) / 12


@dataclass(frozen=True)
class AICluster:
    """One AI training cluster. ``year`` is decimal (from ``date``, "YYYY-MM")."""

    name: str
    date: str
    year: float
    gpu: str  # a name in the GPU catalogue
    gpu_count: int
    provenance: str
    sources: tuple[str, ...]
    note: str

    def peak(self, precision: str = "bf16") -> float:
        """Peak FLOP/s at ``precision`` (:func:`cluster_peak`); "fp8" on a GPU without
        FP8 raises ValueError."""
        return cluster_peak(self.gpu, self.gpu_count, precision)

    @property
    def peak_bf16(self) -> float:
        """Dense 16-bit tensor peak, FLOP/s."""
        return self.peak("bf16")


@dataclass(frozen=True)
class TrainingRun:
    """Total training compute of one model, in FLOP."""

    model: str
    date: str
    year: float
    flop: float
    provenance: str
    sources: tuple[str, ...]
    note: str


def load_ai_clusters() -> tuple[AICluster, ...]:
    """The bundled AI training clusters (``data/ai_clusters.csv``), oldest first."""
    rows = [AICluster(name=r["cluster"], date=r["date"], year=_year(r["date"]), gpu=r["gpu"],
                      gpu_count=int(r["gpu_count"]), provenance=r["provenance"],
                      sources=tuple(r["source"].split()), note=r["note"])
            for r in hardware.read_table("ai_clusters.csv")]
    return tuple(sorted(rows, key=lambda c: c.year))


def load_training_runs() -> tuple[TrainingRun, ...]:
    """The bundled training-compute table (``data/ai_training_compute.csv``), oldest first."""
    rows = [TrainingRun(model=r["model"], date=r["date"], year=_year(r["date"]),
                        flop=float(r["flop"]), provenance=r["provenance"],
                        sources=tuple(r["source"].split()), note=r["note"])
            for r in hardware.read_table("ai_training_compute.csv")]
    return tuple(sorted(rows, key=lambda t: t.year))


def brain_seconds(training_flop: float, brain_flops: float) -> float:
    """Seconds a brain running at ``brain_flops`` FLOP/s takes to do ``training_flop`` FLOP."""
    training_flop = check_number("training_flop", training_flop, minimum=0.0)
    brain_flops = check_number("brain_flops", brain_flops, minimum=0.0, strict_minimum=True)
    return training_flop / brain_flops


def lifetime_flop(brain_flops: float, seconds: float = 1e9) -> float:
    """FLOP a brain at ``brain_flops`` FLOP/s does in ``seconds`` (default 1e9 s, about
    32 years): the idea of Cotra's (2020) "lifetime anchor"; her own figures are in her
    report."""
    brain_flops = check_number("brain_flops", brain_flops, minimum=0.0, strict_minimum=True)
    seconds = check_number("seconds", seconds, minimum=0.0, strict_minimum=True)
    return brain_flops * seconds


def gpus_to_match(target_flops: float, gpu: str, precision: str = "bf16") -> int:
    """Whole GPUs named ``gpu`` whose summed peak at ``precision`` reaches ``target_flops``."""
    target_flops = check_number("target_flops", target_flops, minimum=0.0,
                                strict_minimum=True)
    one = cluster_peak(gpu, 1, precision)
    return max(1, math.ceil(target_flops / one - 1e-9))


def first_cluster_reaching(clusters: Iterable[AICluster], target_flops: float,
                           precision: str = "bf16") -> AICluster | None:
    """The earliest cluster whose peak at ``precision`` reaches ``target_flops``, or None
    if none does. Clusters whose GPU lacks ``precision`` are skipped."""
    target_flops = check_number("target_flops", target_flops, minimum=0.0,
                                strict_minimum=True)
    precision = check_choice("precision", precision, PRECISIONS)
    for c in sorted(clusters, key=lambda c: c.year):
        if precision == "fp8" and c.gpu not in FP8_PER_BF16:
            continue
        if c.peak(precision) >= target_flops:
            return c
    return None


def fit_cluster_growth(clusters: Iterable[AICluster], precision: str = "bf16") -> Growth:
    """Doubling time of the clusters' peak at ``precision``: a least-squares fit of log2
    peak against the year (:func:`course_utils.systems.hardware.growth`)."""
    precision = check_choice("precision", precision, PRECISIONS)
    pts = [(c.year, c.peak(precision)) for c in clusters
           if precision == "bf16" or c.gpu in FP8_PER_BF16]
    return hardware.growth([y for y, _ in pts], [v for _, v in pts])


def crossing_year(fit: Growth, target: float) -> float:
    """Year in which the fitted line ``fit`` reaches ``target`` (same unit as the fit):
    year0 + log2(target / value0) x doubling_years."""
    if not isinstance(fit, Growth):
        raise TypeError(f"fit must be a Growth, got {type(fit).__name__}")
    target = check_number("target", target, minimum=0.0, strict_minimum=True)
    return fit.year0 + math.log2(target / fit.value0) * fit.doubling_years
