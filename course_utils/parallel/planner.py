"""The layout planner: memory per GPU and step time of every (dp, tp, pp) layout.

Given a model (:class:`~course_utils.parallel.accounting.TransformerConfig`), a GPU
(peak FLOP/s, memory) and a :class:`~course_utils.parallel.sharding.Topology`,
:func:`plan` prices one layout of ``n = dp * tp * pp`` GPUs (Megatron-LM's rank order:
tensor-parallel ranks adjacent, then data-parallel, then pipeline stages) and
:func:`enumerate_plans` every layout, fastest first. Per GPU:

* **memory**: the first pipeline stage's parameters (``L / pp`` blocks plus the
  embeddings) split ``tp`` ways, under ZeRO ``stage`` over ``dp``
  (:func:`course_utils.parallel.sharding.model_state_bytes`), plus activations: 1F1B keeps
  ``min(pp, M)`` micro-batches in flight on the first stage, each with ``L / pp`` layers
  (:func:`course_utils.parallel.accounting.activation_bytes_per_layer`); about ``L``
  layers' worth in all (Korthikanti et al. 2022, section 4.2.3). Interleaving's extra
  in-flight micro-batches, buffers and fragmentation are not counted.
* **time**: compute = training FLOPs / (``n`` x peak x ``efficiency``), where
  ``efficiency`` is the matrix-multiply rate a GPU reaches on the layer's products (an
  input, not a prediction); plus the pipeline bubble
  (:func:`course_utils.parallel.pipeline.interleaved_bubble_fraction`); plus
  tensor-parallel all-reduces (four per layer and micro-batch, never hidden); plus
  pipeline sends (two per micro-batch and boundary); plus the data-parallel gradient
  all-reduce, minus the last micro-batch's backward pass, which it overlaps.

The planner shows why tensor parallelism stays inside the NVLink domain: its four
all-reduces per layer and micro-batch are on the critical path, so once ``tp`` crosses
the domain they run at InfiniBand speed.

:func:`published_figures` reads ``course_utils/data/published_parallel_configs.csv`` (the
ZeRO paper's memory example, Megatron-LM's bytes per parameter and GPT-3 run, a published
MFU), each row with its source.

Used in: :doc:`/notebooks/modern_transformer_parallelism`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..core.checks import check_choice, check_int, check_number
from ..systems import hardware as hw
from .accounting import (
    RECOMPUTE,
    TransformerConfig,
    activation_bytes_per_layer,
    block_parameters,
    training_flops,
)
from .figures import DGX_H100_GPUS
from .memory import Training
from .pipeline import interleaved_bubble_fraction
from .sharding import (
    Topology,
    dp_comm_time,
    model_state_bytes,
    p2p_time,
    pp_p2p_bytes,
    tp_comm_time,
)

__all__ = [
    "DGX_A100_GPUS",
    "MEGATRON_BF16",
    "LayoutPlan",
    "dgx_topology",
    "plan",
    "enumerate_plans",
    "published_figures",
    "gpt3_175b",
    "best_by_tp",
    "planner_figure",
]

#: A DGX A100 has 8 A100 GPUs on NVLink 3 (NVSwitch) and eight 200 Gb/s HDR InfiniBand
#: ports for the compute network, one per GPU [external, re-check]:
#: https://docs.nvidia.com/dgx/dgxa100-user-guide/introduction-to-dgxa100.html
DGX_A100_GPUS = 8

#: Megatron-LM's bf16 parameters with fp32 gradients and Adam (fp32 master weights and
#: two moments): 2 + 4 + 12 = 18 bytes per parameter, the README's table
#: (``published_parallel_configs.csv``, key ``megatron_dist_opt``).
MEGATRON_BF16 = Training("bf16 params, fp32 grads, Adam", 2, 4, 12, 2)


def dgx_topology(generation: str) -> Topology:
    """``"a100"``: DGX A100 (NVLink 3, one HDR port per GPU); ``"h100"``: DGX H100
    (NVLink 4, one NDR port per GPU). Bandwidths from the link catalogue."""
    check_choice("generation", generation, ("a100", "h100"))
    if generation == "a100":
        return Topology("DGX A100 (NVLink 3, HDR InfiniBand)", DGX_A100_GPUS,
                        hw.link("nvlink3").bandwidth, hw.link("ib_hdr").bandwidth)
    return Topology("DGX H100 (NVLink 4, NDR InfiniBand)", DGX_H100_GPUS,
                    hw.link("nvlink4").bandwidth, hw.link("ib_ndr").bandwidth)


@dataclass(frozen=True)
class LayoutPlan:
    """One priced layout. Bytes per GPU; seconds per step."""

    dp: int
    tp: int
    pp: int
    stage: int
    micro_batches: int
    params_per_gpu: float
    model_state_bytes: float
    activation_bytes: float
    capacity: float
    compute_s: float
    bubble_s: float
    tp_s: float
    pp_s: float
    dp_s: float
    model_flops: float
    peak_flops: float

    @property
    def memory_bytes(self) -> float:
        """Model state plus activations."""
        return self.model_state_bytes + self.activation_bytes

    @property
    def fits(self) -> bool:
        """Whether :attr:`memory_bytes` fits the GPU's memory."""
        return self.memory_bytes <= self.capacity

    @property
    def step_s(self) -> float:
        """Seconds per step: compute, bubble and exposed communication."""
        return self.compute_s + self.bubble_s + self.tp_s + self.pp_s + self.dp_s

    @property
    def mfu(self) -> float:
        """Model FLOPs (3 x forward) per second over all GPUs' peak."""
        return self.model_flops / (self.step_s * self.dp * self.tp * self.pp * self.peak_flops)

    @property
    def label(self) -> str:
        """``"dp x tp x pp"``."""
        return f"dp{self.dp} tp{self.tp} pp{self.pp}"


def _gpu(gpu: str | hw.GPU) -> hw.GPU:
    if isinstance(gpu, str):
        return hw.gpu(gpu)
    if not isinstance(gpu, hw.GPU):
        raise TypeError(f"gpu must be a catalogue name or hardware.GPU, got {type(gpu).__name__}")
    return gpu


def plan(model: TransformerConfig, gpu: str | hw.GPU, topology: Topology, *, dp: int,
         tp: int, pp: int, global_batch: int, micro_batch: int = 1, stage: int = 1,
         chunks: int = 1, efficiency: float = 0.6, sequence_parallel: bool = True,
         recompute: str = "selective", training: Training = MEGATRON_BF16) -> LayoutPlan:
    """Price one layout (see the module docstring).

    Args:
        model: the transformer. gpu: a catalogue name or row (``tensor_flops`` peak and
            ``memory_bytes`` used). topology: the cluster.
        dp, tp, pp: data-, tensor- and pipeline-parallel sizes (``tp`` must divide the
            heads, ``pp`` the layers).
        global_batch: sequences per step; must be a multiple of ``dp * micro_batch``.
        micro_batch: sequences per micro-batch. stage: ZeRO stage over ``dp`` (1 =
            Megatron's distributed optimizer). chunks: interleaved model chunks per GPU.
        efficiency: fraction of peak the matrix products reach (0, 1].
        sequence_parallel, recompute: activation-memory options (Korthikanti et al. 2022).
        training: bytes per parameter.
    """
    if not isinstance(model, TransformerConfig):
        raise TypeError(f"model must be a TransformerConfig, got {type(model).__name__}")
    g = _gpu(gpu)
    if not isinstance(topology, Topology):
        raise TypeError(f"topology must be a sharding.Topology, got {type(topology).__name__}")
    dp = check_int("dp", dp, minimum=1)
    tp = check_int("tp", tp, minimum=1)
    pp = check_int("pp", pp, minimum=1, maximum=model.layers)
    gb = check_int("global_batch", global_batch, minimum=1)
    mb = check_int("micro_batch", micro_batch, minimum=1)
    chunks = check_int("chunks", chunks, minimum=1)
    eff = check_number("efficiency", efficiency, minimum=0, maximum=1, strict_minimum=True)
    check_choice("recompute", recompute, RECOMPUTE)
    if model.heads % tp:
        raise ValueError(f"tp must divide the heads ({model.heads}), got {tp}")
    if model.layers % (pp * chunks):
        raise ValueError(f"pp * chunks must divide the layers ({model.layers}), "
                         f"got {pp} * {chunks}")
    if gb % (dp * mb):
        raise ValueError(f"global_batch must be a multiple of dp * micro_batch "
                         f"({dp} * {mb}), got {gb}")
    if g.tensor_flops is None or g.memory_bytes is None:
        raise ValueError(f"gpu {g.name!r} has no tensor peak or memory size in the catalogue")
    n = dp * tp * pp
    m = gb // (dp * mb)
    d, s, L = model.d_model, model.seq_len, model.layers
    blocks = L // pp * block_parameters(d, model.ffn_mult)
    params = (blocks + model.vocab * d + s * d) / tp       # first stage holds the embeddings
    state = model_state_bytes(params, dp, stage, training).total
    act_layer = activation_bytes_per_layer(s, mb, d, model.heads, tp=tp,
                                           sequence_parallel=sequence_parallel,
                                           recompute=recompute)
    acts = min(pp, m) * (L // pp) * act_layer
    tokens = gb * s
    hw_flops = training_flops(model, tokens, recompute=recompute)
    compute = hw_flops / (n * g.tensor_flops * eff)
    bubble_frac = float(interleaved_bubble_fraction(pp, m, chunks))
    bubble = compute * bubble_frac / (1 - bubble_frac)
    tp_s = (L // pp) * m * tp_comm_time(mb * s, d, tp, topology) if tp > 1 else 0.0
    pp_s = 0.0
    if pp > 1:
        across = tp * dp >= topology.nvlink_domain
        pp_s = m * chunks * p2p_time(pp_p2p_bytes(mb * s, d), topology, across=across)
    dp_s = 0.0
    if dp > 1:
        sync = dp_comm_time(params, dp, topology, stage=stage, stride=tp,
                            bytes_per_value=training.grad_bytes)
        dp_s = max(0.0, sync - compute / m * 2 / 3)
    return LayoutPlan(dp, tp, pp, stage, m, params, state, acts, g.memory_bytes, compute, bubble,
                tp_s, pp_s, dp_s, training_flops(model, tokens), g.tensor_flops)


def _powers_of_two(limit: int) -> list[int]:
    out, k = [], 1
    while k <= limit:
        out.append(k)
        k *= 2
    return out


def enumerate_plans(model: TransformerConfig, gpu: str | hw.GPU, topology: Topology,
                    n_gpus: int, global_batch: int, *, max_tp: int = 64,
                    **options) -> list[LayoutPlan]:
    """Every layout of ``n_gpus`` GPUs with power-of-two ``tp <= max_tp`` dividing the
    heads and ``pp`` dividing the layers, fastest first; those that do not fit come
    after those that do. ``options`` go to :func:`plan`."""
    n = check_int("n_gpus", n_gpus, minimum=1)
    check_int("global_batch", global_batch, minimum=1)
    max_tp = check_int("max_tp", max_tp, minimum=1)
    mb = options.get("micro_batch", 1)
    plans = []
    for tp in _powers_of_two(min(n, max_tp)):
        if model.heads % tp or n % tp:
            continue
        for pp in range(1, model.layers + 1):
            if model.layers % pp or (n // tp) % pp:
                continue
            dp = n // (tp * pp)
            if global_batch % (dp * mb):
                continue
            plans.append(plan(model, gpu, topology, dp=dp, tp=tp, pp=pp,
                              global_batch=global_batch, **options))
    if not plans:
        raise ValueError(f"no layout of n_gpus={n} divides the model and global_batch="
                         f"{global_batch}")
    return sorted(plans, key=lambda p: (not p.fits, p.step_s))


def published_figures(key: str | None = None) -> dict:
    """Rows of ``published_parallel_configs.csv`` as ``{key: {quantity: value}}`` (or one
    key's ``{quantity: value}``), values as floats; sources in the file."""
    table: dict[str, dict[str, float]] = {}
    for row in hw.read_table("published_parallel_configs.csv"):
        table.setdefault(row["key"], {})[row["quantity"]] = float(row["value"])
    if key is None:
        return table
    check_choice("key", key, tuple(table))
    return table[key]


def gpt3_175b() -> TransformerConfig:
    """GPT-3 175B (Brown et al. 2020, Table 2.1) with Megatron-LM's padded vocabulary."""
    f = published_figures("gpt3_175b")
    return TransformerConfig("GPT-3 175B", int(f["layers"]), int(f["d_model"]),
                             int(f["heads"]), int(f["seq_len"]), int(f["vocab"]))


def best_by_tp(plans: list[LayoutPlan]) -> dict[int, LayoutPlan]:
    """The fastest layout that fits for each tensor-parallel size."""
    best: dict[int, LayoutPlan] = {}
    for p in plans:
        if not isinstance(p, LayoutPlan):
            raise TypeError(f"plans must hold LayoutPlan, got {type(p).__name__}")
        if p.fits and (p.tp not in best or p.step_s < best[p.tp].step_s):
            best[p.tp] = p
    return dict(sorted(best.items()))


def planner_figure(model: TransformerConfig, gpu: str | hw.GPU, topology: Topology,
                   n_gpus: int, global_batch: int, domains: tuple[int, ...] = (4, 8, 16, 32),
                   **options):
    """Interactive figure (Plotly, works on the static page): the best step time for each
    tensor-parallel size, split into compute + bubble, tensor-parallel and other
    communication, with a slider over the NVLink domain size (``domains``, GPUs)."""
    import plotly.graph_objects as go

    from ..core.plots import interactive

    if isinstance(domains, (str, bytes)) or not domains:
        raise ValueError(f"domains must list NVLink domain sizes >= 1, got {domains!r}")
    for k in domains:
        check_int("domains", k, minimum=1)
    series = []
    for k in domains:
        best = best_by_tp(enumerate_plans(model, gpu, replace(topology, nvlink_domain=k),
                                          n_gpus, global_batch, **options))
        series.append((k, best))
    tps = sorted({tp for _, best in series for tp in best})
    labels = [f"tp {tp}" for tp in tps]

    def ys(best: dict[int, LayoutPlan]) -> list[list[float | None]]:
        pick = [best.get(tp) for tp in tps]
        return [[p and p.compute_s + p.bubble_s for p in pick],
                [p and p.tp_s for p in pick],
                [p and p.pp_s + p.dp_s for p in pick]]

    first = ys(series[0][1])
    fig = go.Figure([go.Bar(x=labels, y=y, name=name) for y, name in zip(
        first, ("compute + bubble", "tensor-parallel all-reduces", "pipeline + data-parallel"),
        strict=True)])
    steps = [dict(method="update", label=str(k),
                  args=[{"y": ys(best)},
                        {"title.text": f"{model.name} on {n_gpus} {_gpu(gpu).name}: "
                                       f"NVLink domain of {k} GPUs"}])
             for k, best in series]
    fig.update_layout(
        barmode="stack", height=520, margin=dict(t=70, b=140),
        title=dict(text=f"{model.name} on {n_gpus} {_gpu(gpu).name}: NVLink domain of "
                        f"{domains[0]} GPUs", font_size=14),
        xaxis_title="tensor-parallel size (best fitting dp, pp for each)",
        yaxis_title="seconds per step",
        sliders=[dict(active=0, y=-0.25, len=1.0, currentvalue=dict(
            prefix="GPUs per NVLink domain: "), steps=steps)])
    return interactive(fig, title="Layout planner: step time by tensor-parallel size")
