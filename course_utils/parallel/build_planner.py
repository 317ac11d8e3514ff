"""Plan a multi-GPU build: a budget and a model in; GPUs, interconnect, speedup, power out.

For each candidate GPU with a cited price (``data/prices.csv``) and a cited board power
(``data/gpus.csv``) the planner

1. buys as many GPUs as the budget allows (GPUs only: hosts, network cards and
   switches have no cited price here, so a real build gets fewer);
2. checks that the model trains data-parallel in one GPU's memory
   (:func:`course_utils.parallel.memory.memory_per_gpu`);
3. packs the GPUs into nodes: a PCIe platform of ``data/platforms.csv`` whose lane
   budget (:func:`course_utils.lanes.lane_budget`) decides how many GPUs a node holds
   and at what width, or an 8-GPU NVLink board for SXM GPUs;
4. picks the interconnect: NVLink or PCIe inside a node, InfiniBand between nodes
   (FDR in 2014, NDR today), limited by the network card's PCIe slot;
5. predicts the data-parallel step with
   :func:`course_utils.parallel.simulate_data_parallel` (ring all-reduce over the
   slowest link of the ring);
6. adds up board power and the electricity cost of running it.

Electricity price: the only cited figure in the course's sources is the one implied
by Dettmers' Tianhe-2 numbers (24 MW including cooling, $65,000-$100,000 a day;
http://timdettmers.com/2015/07/27/brain-vs-deep-learning-singularity/), i.e. about
$0.11-0.17 per kWh [inferred]. Units: US dollars, watts, seconds, bytes/s, FLOP/s.

Used in: :doc:`/notebooks/mgpu_hardware`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from ..core.checks import check_choice, check_int, check_number
from ..systems import hardware as hw
from ..systems.lanes import BuildError, lane_budget
from .data_parallel import simulate_data_parallel
from .memory import Layer, memory_per_gpu

__all__ = [
    "TIANHE2_POWER_W",
    "TIANHE2_COST_PER_DAY_USD",
    "PLATFORM",
    "ERA_YEARS",
    "electricity_price",
    "Model",
    "Candidate",
    "candidates",
    "Plan",
    "plan_build",
    "plan_builds",
]

# Dettmers 2015 (brain post) [stated]: Tianhe-2 draws 24 MW including cooling and costs
# $65k-$100k per day to run. http://timdettmers.com/2015/07/27/brain-vs-deep-learning-singularity/
TIANHE2_POWER_W = 24e6
TIANHE2_COST_PER_DAY_USD = (65e3, 100e3)
NVLINK_NODE_GPUS = 8  # HGX/DGX boards: 14.4 TB/s aggregate / 1.8 TB/s per B200 [inferred]
#: Host platform (a platforms.csv row name) for PCIe GPUs of each era.
PLATFORM = {"2014": "LGA 2011 Core i7 / Xeon (40 lanes)", "today": "AMD EPYC 7002 Rome (128 lanes)"}
#: (first, last) release year of the GPUs each era offers (``None``: no upper bound). A GPU
#: is offered only if it was released by the era's year: the post appeared in September
#: 2014, so its era ends in 2014 (the GTX Titan X came out in 2015); "today" is the current
#: generation, released from 2020 on.
ERA_YEARS: dict[str, tuple[int, int | None]] = {"2014": (2012, 2014), "today": (2020, None)}


def electricity_price() -> tuple[float, float]:
    """(low, high) US dollars per kWh implied by the Tianhe-2 figures [inferred]."""
    kwh_per_day = TIANHE2_POWER_W / 1e3 * 24
    low, high = TIANHE2_COST_PER_DAY_USD
    return low / kwh_per_day, high / kwh_per_day


@dataclass(frozen=True)
class Model:
    """What is trained.

    Attributes:
        name: a label.
        layers: the network, for parameter count and memory (:mod:`parallel.memory`).
        flops_per_example: forward + backward FLOPs per example.
        batch_per_gpu: examples per GPU per step.
        precision: "fp32" (FP32 peak, FP32 gradients) or "bf16" (tensor peak, BF16
            gradients; GPUs without tensor cores fall back to FP32).
        training: memory layout, a key of :data:`parallel.memory.TRAININGS`.
    """

    name: str
    layers: tuple[Layer, ...]
    flops_per_example: float
    batch_per_gpu: int
    precision: str = "fp32"
    training: str = "fp32_momentum"

    def __post_init__(self) -> None:
        if not self.layers or not all(isinstance(x, Layer) for x in self.layers):
            raise TypeError("layers must be a non-empty tuple of parallel.memory.Layer")
        check_number("flops_per_example", self.flops_per_example, minimum=0,
                     strict_minimum=True)
        check_int("batch_per_gpu", self.batch_per_gpu, minimum=1)
        check_choice("precision", self.precision, ("fp32", "bf16"))

    @property
    def params(self) -> int:
        """Number of parameters (= gradient values per step)."""
        return sum(x.parameters for x in self.layers)


@dataclass(frozen=True)
class Candidate:
    """A GPU the planner may buy, with the host it goes into and the network between hosts."""

    gpu: hw.GPU
    price_usd: tuple[float, float]
    era: str
    platform: dict[str, str] | None  # a platforms.csv row (PCIe GPUs); None: NVLink board
    network: str                     # link name between nodes
    nic_lanes: int = 16


def candidates(era: str) -> list[Candidate]:
    """GPUs with a cited price and power released in ``era`` (:data:`ERA_YEARS`).

    ``era`` "2014" (GPUs released 2012-2014, FDR InfiniBand, x8 network cards) or "today"
    (released 2020 or later, NDR InfiniBand).
    """
    check_choice("era", era, tuple(ERA_YEARS))
    first, last = ERA_YEARS[era]
    prices = {r["gpu"]: r for r in hw.read_table("prices.csv")}
    platforms = {r["name"]: r for r in hw.read_table("platforms.csv")}
    out = []
    for name, row in prices.items():
        g = hw.gpu(name)
        if g.power_w is None:
            continue  # no cited board power: cannot cost it
        if g.year < first or (last is not None and g.year > last):
            continue
        old = era == "2014"
        platform = None if g.nvlink else platforms[PLATFORM[era]]
        out.append(Candidate(g, (float(row["price_usd_low"]), float(row["price_usd_high"])),
                             era, platform, "ib_fdr" if old else "ib_ndr",
                             nic_lanes=8 if old else 16))
    return out


@dataclass(frozen=True)
class Plan:
    """One build. ``feasible`` is False when ``reason`` says why it cannot work."""

    gpu: str
    n_gpus: int
    feasible: bool
    reason: str = ""
    nodes: int = 0
    gpus_per_node: int = 0
    intra_node: str = ""
    inter_node: str = ""
    ring_bandwidth: float = 0.0       # bytes/s per direction, slowest link of the ring
    gpu_cost_usd: float = 0.0
    memory_per_gpu: float = 0.0       # bytes needed / bytes available below
    gpu_memory: float = 0.0
    step_time: float = 0.0            # seconds
    speedup: float = 0.0
    efficiency: float = 0.0
    examples_per_second: float = 0.0
    power_w: float = 0.0
    cost_per_hour_usd: tuple[float, float] = (0.0, 0.0)
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def usd_per_million_examples(self) -> tuple[float, float]:
        """Electricity cost (low, high) of training on one million examples."""
        hours = 1e6 / self.examples_per_second / 3600
        return tuple(c * hours for c in self.cost_per_hour_usd)


def _node_layout(c: Candidate, n_gpus: int) -> tuple[int, float, str, float, list[str]]:
    """(GPUs per node, intra-node bandwidth, its label, NIC slot bandwidth, notes)."""
    if c.platform is None:
        nv = hw.link(c.gpu.nvlink)
        pcie = hw.link(c.gpu.host_link) if c.gpu.host_link else hw.link("pcie5")
        return NVLINK_NODE_GPUS, nv.bandwidth, nv.label, pcie.bandwidth, [
            f"{NVLINK_NODE_GPUS}-GPU NVLink board, one network port per GPU"]
    p = c.platform
    gen = hw.pcie_generation(p["pcie"])
    lanes, slots = int(p["cpu_lanes"]), int(p["slots"])
    per_node = min(n_gpus, slots - 1)
    while True:  # most GPUs the platform takes beside one network card
        try:
            budget = lane_budget(lanes, per_node, generation=gen, n_nics=1,
                                 nic_lanes=c.nic_lanes, slots=slots)
            break
        except BuildError:
            per_node -= 1
            if per_node == 0:
                raise
    gpu_bw = budget.min_gpu_host_bandwidth()
    nic_bw = hw.pcie_bandwidth(gen, c.nic_lanes)
    width = min(d.lanes for d in budget.gpus)
    return per_node, gpu_bw, f"PCIe {gen} x{width}", nic_bw, [
        f"{p['name']}: {per_node} GPUs and one x{c.nic_lanes} network card per node",
        *budget.notes]


def plan_build(budget_usd: float, model: Model, c: Candidate, *, price: str = "high",
               overlap: float = 0.0) -> Plan:
    """The build ``budget_usd`` buys of candidate ``c`` for ``model`` (see module docstring).

    Args:
        budget_usd: money for GPUs, US dollars.
        model: what is trained.
        c: the GPU, platform and network (from :func:`candidates`).
        price: "low" or "high" end of the cited price range.
        overlap: fraction of the backward pass that hides communication (0 = 2014 style).
    """
    budget_usd = check_number("budget_usd", budget_usd, minimum=0, strict_minimum=True)
    check_choice("price", price, ("low", "high"))
    if not isinstance(model, Model):
        raise TypeError(f"model must be a build_planner.Model, got {type(model).__name__}")
    if not isinstance(c, Candidate):
        raise TypeError(f"c must be a build_planner.Candidate, got {type(c).__name__}")
    unit = c.price_usd[0 if price == "low" else 1]
    n = math.floor(budget_usd / unit)
    if n < 1:
        return Plan(c.gpu.name, 0, False, f"${budget_usd:,.0f} buys no {c.gpu.name} "
                    f"(${unit:,.0f} each)")
    mem = memory_per_gpu(model.layers, model.batch_per_gpu * n, n, "data", model.training)
    if not mem.fits(c.gpu.memory_bytes):
        return Plan(c.gpu.name, n, False, f"model needs {mem.total / 1e9:.1f} GB per GPU, "
                    f"{c.gpu.name} has {c.gpu.memory_bytes / 1e9:.0f} GB",
                    memory_per_gpu=mem.total, gpu_memory=c.gpu.memory_bytes)
    per_node, intra_bw, intra_label, nic_bw, notes = _node_layout(c, n)
    nodes = math.ceil(n / per_node)
    net = hw.link(c.network)
    ring_bw, latency, inter = intra_bw, 0.0, ""
    if nodes > 1:
        ring_bw = min(intra_bw, net.bandwidth, nic_bw)
        latency = net.latency or hw.link("ib_fdr").latency
        inter = net.label
        if nic_bw < net.bandwidth:
            notes.append(f"the network card's PCIe slot ({nic_bw / 1e9:.1f} GB/s) is slower "
                         f"than {net.label} ({net.bandwidth / 1e9:.1f} GB/s)")
    use_tensor = model.precision == "bf16" and c.gpu.tensor_flops is not None
    if model.precision == "bf16" and not use_tensor:
        notes.append(f"{c.gpu.name} has no tensor cores in our sources: FP32 peak and gradients")
    step = simulate_data_parallel(
        params=model.params, flops_per_example=model.flops_per_example,
        gpu_flops=c.gpu.tensor_flops if use_tensor else c.gpu.fp32_flops,
        bandwidth=ring_bw, latency=latency, n_gpus=n, batch_per_gpu=model.batch_per_gpu,
        algorithm="ring", compression="bf16" if use_tensor else "fp32", overlap=overlap)
    power = n * c.gpu.power_w
    kwh_price = electricity_price()
    return Plan(
        gpu=c.gpu.name, n_gpus=n, feasible=True, nodes=nodes, gpus_per_node=per_node,
        intra_node=intra_label, inter_node=inter, ring_bandwidth=ring_bw,
        gpu_cost_usd=n * unit, memory_per_gpu=mem.total, gpu_memory=c.gpu.memory_bytes,
        step_time=float(step.step_time), speedup=float(step.speedup),
        efficiency=float(step.efficiency), examples_per_second=float(step.examples_per_second),
        power_w=power, cost_per_hour_usd=tuple(power / 1e3 * p for p in kwh_price),
        notes=tuple(notes))


def plan_builds(budget_usd: float, model: Model, era: str = "today", *, price: str = "high",
                overlap: float = 0.0) -> list[Plan]:
    """:func:`plan_build` for every candidate of ``era``, fastest feasible build first."""
    plans = [plan_build(budget_usd, model, c, price=price, overlap=overlap)
             for c in candidates(era)]
    return sorted(plans, key=lambda p: (not p.feasible, -p.examples_per_second))
