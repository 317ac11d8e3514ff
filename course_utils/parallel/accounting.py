"""A transformer as the workload: parameters, FLOPs and activation memory per layer, and MFU.

One transformer block (pre-norm or post-norm alike) with hidden size ``d``, ``a`` heads,
MLP width ``f = ffn_mult * d``, sequence length ``s`` and ``b`` sequences per micro-batch:

* **parameters**: ``4 d^2 + 4 d`` (Q, K, V and output projections with biases)
  ``+ 2 d f + f + d`` (the MLP) ``+ 4 d`` (two LayerNorms), exactly what
  ``torch.nn.TransformerEncoderLayer`` holds (:func:`check_against_torch` counts it);
  the block list is :func:`course_utils.parallel.networks.transformer`'s, reused here.
* **forward FLOPs per token**: ``2 (4 d^2 + 2 d f)`` for the weight matrices plus
  ``4 s d`` for the two attention products (Q Kᵀ and the weighted sum of V, over the
  whole ``s x s`` score matrix); training costs 3 x forward (backward = 2 x forward),
  4 x with full activation recomputation. ``6 N`` per token (Kaplan et al. 2020,
  https://arxiv.org/abs/2001.08361) is the weight-matrix part alone.
* **activation bytes per layer** (16-bit activations, Korthikanti et al. 2022,
  https://arxiv.org/abs/2205.05198, section 4.1): ``s b d (34 + 5 a s / d)``, built here
  from its pieces (:func:`activation_components`), with the paper's reductions for tensor
  parallelism ``t``, sequence parallelism and selective or full recomputation
  (:func:`activation_bytes_per_layer`).
* **MFU** (model-FLOPs utilisation, Chowdhery et al. 2022, PaLM,
  https://arxiv.org/abs/2204.02311, appendix B): the model's FLOPs per second (3 x
  forward, recomputation not counted) over the hardware's peak (:func:`mfu`). Counting
  the recomputed forward too gives the *hardware* FLOPs utilisation (HFU).

:func:`measure_training_step` times a small training step on this machine and reports
its MFU against :func:`measure_matmul_peak`, a *measured* matrix-multiply rate: a CPU
has no vendor tensor peak that applies, so the label says "measured peak".

Used in: :doc:`/notebooks/modern_transformer_parallelism`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from ..core.checks import check_choice, check_int, check_number
from ..core.measure import low_quantile
from . import networks

__all__ = [
    "TransformerConfig",
    "RECOMPUTE",
    "block_parameters",
    "model_parameters",
    "training_flops",
    "six_n_flops",
    "activation_components",
    "activation_bytes_per_layer",
    "mfu",
    "TorchCheck",
    "check_against_torch",
    "measure_matmul_peak",
    "StepMeasurement",
    "measure_training_step",
]

RECOMPUTE = ("none", "selective", "full")


@dataclass(frozen=True)
class TransformerConfig:
    """A GPT-style decoder: ``layers`` blocks of width ``d_model`` with ``heads`` heads,
    ``seq_len`` tokens per sequence, ``vocab`` tokens, MLP width ``ffn_mult * d_model``."""

    name: str
    layers: int
    d_model: int
    heads: int
    seq_len: int
    vocab: int
    ffn_mult: int = 4

    def __post_init__(self):
        check_int("layers", self.layers, minimum=1)
        check_int("d_model", self.d_model, minimum=1)
        check_int("heads", self.heads, minimum=1)
        check_int("seq_len", self.seq_len, minimum=1)
        check_int("vocab", self.vocab, minimum=1)
        check_int("ffn_mult", self.ffn_mult, minimum=1)
        if self.d_model % self.heads:
            raise ValueError(f"heads must divide d_model ({self.d_model}), got {self.heads}")


def _check_config(config: TransformerConfig) -> TransformerConfig:
    if not isinstance(config, TransformerConfig):
        raise TypeError(f"config must be a TransformerConfig, got {type(config).__name__}")
    return config


def block_parameters(d_model: int, ffn_mult: int = 4) -> int:
    """Parameters of one block (a count), from :func:`networks.transformer`'s block."""
    d = check_int("d_model", d_model, minimum=1)
    ffn = check_int("ffn_mult", ffn_mult, minimum=1)
    layers = networks.transformer(1, d, 1, 1, 1, ffn)
    return sum(layer.parameters for layer in layers if layer.name.startswith("h.0."))


def model_parameters(config: TransformerConfig, *, tied_embeddings: bool = True) -> int:
    """All parameters: blocks, token and position tables, final LayerNorm; an untied
    output layer adds ``vocab x d`` more."""
    c = _check_config(config)
    layers = networks.transformer(c.layers, c.d_model, c.heads, c.seq_len, c.vocab, c.ffn_mult)
    extra = 0 if tied_embeddings else c.vocab * c.d_model
    return networks.total_parameters(layers) + extra


def training_flops(config: TransformerConfig, tokens: float, *,
                   recompute: str = "none") -> float:
    """FLOPs to train on ``tokens`` tokens: 3 x forward (4 x with ``recompute="full"``;
    ``"selective"`` recomputes only the attention products, Korthikanti et al. 2022)."""
    c = _check_config(config)
    n = check_number("tokens", tokens, minimum=0)
    check_choice("recompute", recompute, RECOMPUTE)
    fwd = networks.transformer_flops_per_token(c.layers, c.d_model, c.heads, c.seq_len,
                                               c.vocab, c.ffn_mult)
    passes = 4 if recompute == "full" else 3
    extra = 4 * c.layers * c.seq_len * c.d_model if recompute == "selective" else 0
    return n * (passes * fwd + extra)


def six_n_flops(n_params: float, tokens: float) -> float:
    """Kaplan et al.'s estimate of training FLOPs: ``6 N`` per token."""
    return 6 * check_number("n_params", n_params, minimum=0) * check_number(
        "tokens", tokens, minimum=0)


def activation_components(seq_len: int, micro_batch: int, d_model: int,
                          heads: int) -> dict[str, int]:
    """Bytes each stored activation of one block takes, 16-bit values, 1-byte dropout
    masks, no parallelism (Korthikanti et al. 2022, section 4.1). They add up to
    ``s b d (34 + 5 a s / d)``."""
    s = check_int("seq_len", seq_len, minimum=1)
    b = check_int("micro_batch", micro_batch, minimum=1)
    d = check_int("d_model", d_model, minimum=1)
    a = check_int("heads", heads, minimum=1)
    sbh, as2b = s * b * d, a * s * s * b
    return {
        "attention: QKV input": 2 * sbh,
        "attention: Q and K (for Q K^T)": 4 * sbh,
        "attention: softmax output": 2 * as2b,
        "attention: dropout mask": as2b,
        "attention: dropout output (for x V)": 2 * as2b,
        "attention: V": 2 * sbh,
        "attention: output projection input": 2 * sbh,
        "attention: output dropout mask": sbh,
        "MLP: first linear input": 2 * sbh,
        "MLP: GeLU input": 8 * sbh,
        "MLP: second linear input": 8 * sbh,
        "MLP: dropout mask": sbh,
        "LayerNorms: inputs": 4 * sbh,
    }


def activation_bytes_per_layer(seq_len: int, micro_batch: int, d_model: int, heads: int, *,
                               tp: int = 1, sequence_parallel: bool = False,
                               recompute: str = "none") -> float:
    """Activation bytes one block keeps per micro-batch (Korthikanti et al. 2022, Table 2).

    ``tp``: tensor-parallel ranks; ``sequence_parallel``: LayerNorm and dropout regions
    split along the sequence too; ``recompute``: ``"selective"`` drops the ``5 a s^2 b``
    attention terms, ``"full"`` keeps only the block's input (``2 s b d``, split ``tp``
    ways under sequence parallelism).
    """
    comps = activation_components(seq_len, micro_batch, d_model, heads)
    t = check_int("tp", tp, minimum=1)
    check_choice("recompute", recompute, RECOMPUTE)
    if not isinstance(sequence_parallel, bool):
        raise TypeError(f"sequence_parallel must be True or False, got "
                        f"{type(sequence_parallel).__name__}")
    sbh = seq_len * micro_batch * d_model
    if recompute == "full":
        return 2 * sbh / (t if sequence_parallel else 1)
    quad = 5 * heads * seq_len * seq_len * micro_batch   # softmax, its mask and output
    linear = sum(comps.values()) - quad                 # 34 s b d
    attn = 0 if recompute == "selective" else quad / t
    if sequence_parallel:
        return linear / t + attn
    replicated = 10 * sbh                         # LayerNorms, dropouts, block inputs
    return replicated + (linear - replicated) / t + attn


def mfu(model_flops: float, seconds: float, n_devices: int, peak_flops: float) -> float:
    """Model-FLOPs utilisation: ``model_flops / (seconds * n_devices * peak_flops)``."""
    f = check_number("model_flops", model_flops, minimum=0)
    t = check_number("seconds", seconds, minimum=0, strict_minimum=True)
    n = check_int("n_devices", n_devices, minimum=1)
    p = check_number("peak_flops", peak_flops, minimum=0, strict_minimum=True)
    return f / (t * n * p)


@dataclass(frozen=True)
class TorchCheck:
    """A ``TransformerEncoderLayer`` counted by torch and by the model (one step).

    ``flops_math``: forward + backward counted by ``FlopCounterMode`` with PyTorch's
    math attention (the products are plain ``bmm``); ``flops_fused``: the same with the
    default attention kernel, whose CPU version the counter does not see.
    """

    params_torch: int
    params_model: int
    flops_math: int
    flops_fused: int
    flops_model: int
    attention_flops: int


def _encoder(d_model: int, heads: int, ffn_mult: int, layers: int = 1):
    import torch
    from torch import nn

    torch.manual_seed(0)
    layer = nn.TransformerEncoderLayer(d_model, heads, ffn_mult * d_model, dropout=0.0,
                                       batch_first=True)
    if layers == 1:
        return layer
    return nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)


def _counted(module, x, backend=None) -> int:
    import contextlib

    from torch.nn.attention import sdpa_kernel
    from torch.utils.flop_counter import FlopCounterMode

    ctx = sdpa_kernel(backend) if backend is not None else contextlib.nullcontext()
    with ctx, FlopCounterMode(display=False) as counter:
        module(x).sum().backward()
    return int(counter.get_total_flops())


def check_against_torch(d_model: int = 64, heads: int = 4, seq_len: int = 32,
                        batch: int = 2, ffn_mult: int = 4) -> TorchCheck:
    """Count one ``torch.nn.TransformerEncoderLayer`` (no dropout) both ways: parameters,
    and forward + backward FLOPs of ``batch`` sequences of ``seq_len`` tokens (the input
    requires a gradient, so every matrix product has both backward products)."""
    import torch
    from torch.nn.attention import SDPBackend

    d = check_int("d_model", d_model, minimum=1, maximum=4096)
    a = check_int("heads", heads, minimum=1)
    s = check_int("seq_len", seq_len, minimum=1, maximum=4096)
    b = check_int("batch", batch, minimum=1, maximum=1024)
    ffn = check_int("ffn_mult", ffn_mult, minimum=1)
    if d % a:
        raise ValueError(f"heads must divide d_model ({d}), got {a}")
    layer = _encoder(d, a, ffn)
    x = torch.randn(b, s, d, requires_grad=True)
    per_token = 2 * (4 * d * d + 2 * d * ffn * d) + 4 * s * d
    return TorchCheck(
        params_torch=sum(p.numel() for p in layer.parameters()),
        params_model=block_parameters(d, ffn),
        flops_math=_counted(layer, x, SDPBackend.MATH),
        flops_fused=_counted(layer, x),
        flops_model=3 * b * s * per_token,
        attention_flops=3 * b * s * 4 * s * d)


def measure_matmul_peak(n: int = 512, repeats: int = 10) -> float:
    """Measured float32 matrix-multiply rate of this machine's CPU (FLOP/s): ``2 n^3``
    per product, the 10th-percentile time of ``repeats`` products. A *measured* peak, not
    a vendor's."""
    import torch

    n = check_int("n", n, minimum=16, maximum=8192)
    repeats = check_int("repeats", repeats, minimum=3, maximum=1000)
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b  # warm-up
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        a @ b
        samples.append(time.perf_counter() - t0)
    return 2 * n**3 / low_quantile(samples)


@dataclass(frozen=True)
class StepMeasurement:
    """One timed training step: ``seconds`` (10th percentile), ``model_flops`` (3 x
    forward by the model), ``counted_flops`` (``FlopCounterMode``, math attention),
    ``peak`` (measured matmul FLOP/s) and ``mfu``."""

    seconds: float
    model_flops: float
    counted_flops: int
    peak: float
    mfu: float


def measure_training_step(layers: int = 2, d_model: int = 128, heads: int = 4,
                          seq_len: int = 64, batch: int = 8, ffn_mult: int = 4,
                          repeats: int = 8) -> StepMeasurement:
    """Time forward + backward + Adam step of a ``TransformerEncoder`` on the CPU and
    compute its MFU against :func:`measure_matmul_peak`."""
    import torch
    from torch.nn.attention import SDPBackend

    layers = check_int("layers", layers, minimum=1, maximum=48)
    d = check_int("d_model", d_model, minimum=8, maximum=2048)
    a = check_int("heads", heads, minimum=1)
    s = check_int("seq_len", seq_len, minimum=1, maximum=2048)
    b = check_int("batch", batch, minimum=1, maximum=256)
    repeats = check_int("repeats", repeats, minimum=3, maximum=100)
    if d % a:
        raise ValueError(f"heads must divide d_model ({d}), got {a}")
    model = _encoder(d, a, check_int("ffn_mult", ffn_mult, minimum=1), layers)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    x = torch.randn(b, s, d, requires_grad=True)
    counted = _counted(model, x, SDPBackend.MATH)
    samples = []
    for i in range(repeats + 1):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        model(x).sum().backward()
        opt.step()
        if i:  # the first step is a warm-up
            samples.append(time.perf_counter() - t0)
    seconds = low_quantile(samples)
    model_flops = 3.0 * b * s * layers * (2 * (4 * d * d + 2 * d * ffn_mult * d) + 4 * s * d)
    peak = measure_matmul_peak()
    return StepMeasurement(seconds, model_flops, counted, peak,
                           mfu(model_flops, seconds, 1, peak))
