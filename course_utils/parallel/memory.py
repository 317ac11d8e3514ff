"""How many bytes each GPU needs to train a network, under each kind of parallelism.

Four parts, all in bytes per GPU:

* **parameters** (the weights),
* **gradients** (one value per weight),
* **optimizer state** (SGD with momentum: one value per weight; Adam: two; mixed
  precision adds an FP32 master copy of the weights),
* **activations** (the layer outputs kept for the backward pass, per example).

Strategies, for ``n`` GPUs and a mini-batch of ``batch`` examples:

==========  ====================================================================
``data``    every GPU holds everything; activations for ``batch / n`` examples
``model``   every layer split ``n`` ways (parameters, gradients, optimizer
            state); activations of the whole batch, counted in full on every GPU
            (the layer inputs are replicated: an upper bound for split layers)
``hybrid``  Krizhevsky's scheme: ``conv`` layers as ``data``, ``fc`` layers as
            ``model``
``zero1``   ``data``, optimizer state sharded ``n`` ways (ZeRO stage 1)
``zero2``   ... and gradients sharded (stage 2); a layer's whole gradient exists
            until it is reduce-scattered (``transient``)
``zero3``   ... and parameters sharded (stage 3, like PyTorch FSDP): a layer's
            whole weights are also gathered while it runs, so the largest layer
            must fit whole (``transient``)
==========  ====================================================================

ZeRO: Rajbhandari et al. 2020, https://arxiv.org/abs/1910.02054. Counts only these
parts: no framework overhead, temporary buffers or fragmentation, so a real run needs
more. Sizes are rounded up per layer when a count does not divide by ``n``. GPU memory
sizes are in the hardware catalogue (``course_utils.hardware.gpu(name).memory_bytes``).

Used in: :doc:`/notebooks/mp_pipeline_memory`, :doc:`/notebooks/mgpu_hardware`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from ..core.checks import check_choice, check_int, check_number

__all__ = [
    "Layer",
    "Training",
    "TRAININGS",
    "STRATEGIES",
    "MemoryBreakdown",
    "memory_per_gpu",
    "min_gpus_to_fit",
    "fc_layer",
    "conv_layer",
]

STRATEGIES = ("data", "model", "hybrid", "zero1", "zero2", "zero3")

@dataclass(frozen=True)
class Layer:
    """One layer: ``parameters`` (weights and biases, a count), ``activations`` (values
    kept per example for the backward pass), ``kind`` (``"conv"`` or ``"fc"``; only the
    ``hybrid`` strategy looks at it) and ``flops``: forward FLOPs per example, counting
    a multiply-add as 2 FLOPs (matrix products and convolutions only, as
    ``torch.utils.flop_counter`` counts them; 0 = not given). The memory model ignores
    ``flops``; the data-parallel networks (:mod:`course_utils.parallel.networks`) use it."""

    name: str
    parameters: int
    activations: int
    kind: str = "fc"
    flops: int = 0

    def __post_init__(self):
        check_int("parameters", self.parameters, minimum=0)
        check_int("activations", self.activations, minimum=0)
        check_choice("kind", self.kind, ("conv", "fc"))
        check_int("flops", self.flops, minimum=0)


@dataclass(frozen=True)
class Training:
    """Bytes per weight (``param_bytes``, ``grad_bytes``, ``optimizer_bytes``) and per
    activation value (``activation_bytes``)."""

    name: str
    param_bytes: int
    grad_bytes: int
    optimizer_bytes: int
    activation_bytes: int


#: Common set-ups. FP32 = 4 bytes, FP16/BF16 = 2. Mixed-precision Adam keeps an FP32
#: master copy of the weights plus Adam's two FP32 moments: 4 + 4 + 4 = 12 bytes.
TRAININGS = {
    "fp32_sgd": Training("FP32, SGD", 4, 4, 0, 4),
    "fp32_momentum": Training("FP32, SGD with momentum", 4, 4, 4, 4),
    "fp32_adam": Training("FP32, Adam", 4, 4, 8, 4),
    "mixed_adam": Training("FP16/BF16 with FP32 master weights, Adam", 2, 2, 12, 2),
}


@dataclass(frozen=True)
class MemoryBreakdown:
    """Bytes per GPU; ``transient`` holds the largest layer's whole gradient (ZeRO-2)
    or whole weights and gradient (ZeRO-3) while that layer runs."""

    parameters: int
    gradients: int
    optimizer: int
    activations: int
    transient: int = 0

    @property
    def total(self) -> int:
        """All parts, bytes."""
        return (self.parameters + self.gradients + self.optimizer + self.activations
                + self.transient)

    def fits(self, capacity: float) -> bool:
        """Whether :attr:`total` is at most ``capacity`` bytes."""
        return self.total <= check_number("capacity", capacity, minimum=0, strict_minimum=True)


def fc_layer(name: str, n_in: int, n_out: int, bias: bool = True) -> Layer:
    """A fully connected layer: ``n_in * n_out (+ n_out)`` weights, keeps its
    ``n_out`` outputs per example, ``2 * n_in * n_out`` forward FLOPs per example."""
    n_in = check_int("n_in", n_in, minimum=1)
    n_out = check_int("n_out", n_out, minimum=1)
    return Layer(name, n_in * n_out + (n_out if bias else 0), n_out, "fc", 2 * n_in * n_out)


def conv_layer(name: str, c_in: int, c_out: int, kernel: int | tuple[int, int],
               out_size: int, bias: bool = True, batchnorm: bool = False) -> Layer:
    """A convolution ``c_in -> c_out`` channels whose output is ``out_size x out_size``.

    ``kernel`` is square (an int) or ``(height, width)`` (Inception's 1x7 and 7x1).
    Weights: ``c_in * c_out * kh * kw``, plus ``c_out`` biases if ``bias``, plus a
    BatchNorm's ``2 * c_out`` (scale and shift) if ``batchnorm``; BatchNorm's running
    mean and variance are buffers, not parameters, and are not counted. Keeps its
    ``c_out * out_size**2`` outputs per example; forward FLOPs per example
    ``2 * c_in * c_out * kh * kw * out_size**2`` (bias and BatchNorm not counted).
    """
    c_in = check_int("c_in", c_in, minimum=1)
    c_out = check_int("c_out", c_out, minimum=1)
    if isinstance(kernel, tuple):
        if len(kernel) != 2:
            raise ValueError(f"kernel must be an int or a (height, width) pair, got {kernel}")
        kh, kw = (check_int("kernel", k, minimum=1) for k in kernel)
    else:
        kh = kw = check_int("kernel", kernel, minimum=1)
    out_size = check_int("out_size", out_size, minimum=1)
    weights = c_in * c_out * kh * kw
    extra = (c_out if bias else 0) + (2 * c_out if batchnorm else 0)
    return Layer(name, weights + extra, c_out * out_size**2, "conv",
                 2 * weights * out_size**2)


def _split(count: int, n: int) -> int:
    return math.ceil(count / n)


def memory_per_gpu(layers: Sequence[Layer], batch: int, n_gpus: int, strategy: str,
                   training: str | Training = "fp32_momentum") -> MemoryBreakdown:
    """Bytes per GPU to train ``layers`` on mini-batches of ``batch`` examples.

    Args:
        layers: the network (see :class:`Layer`, :func:`fc_layer`, :func:`conv_layer`).
        batch: examples per mini-batch, all GPUs together.
        n_gpus: GPUs (1 gives single-GPU training under every strategy).
        strategy: one of :data:`STRATEGIES` (see the module docstring).
        training: a key of :data:`TRAININGS` or a :class:`Training`.
    """
    layers = list(layers)
    if not layers or not all(isinstance(layer, Layer) for layer in layers):
        raise TypeError("layers must be a non-empty sequence of memory.Layer")
    batch = check_int("batch", batch, minimum=1)
    n = check_int("n_gpus", n_gpus, minimum=1)
    check_choice("strategy", strategy, STRATEGIES)
    if isinstance(training, str):
        training = TRAININGS[check_choice("training", training, tuple(TRAININGS))]
    elif not isinstance(training, Training):
        raise TypeError(f"training must be a key of TRAININGS or a Training, got "
                        f"{type(training).__name__}")
    t = training
    params = grads = opt = acts = 0
    local_batch = _split(batch, n)
    for layer in layers:
        p = layer.parameters
        split = strategy == "model" or (strategy == "hybrid" and layer.kind == "fc")
        if split:
            params += _split(p, n) * t.param_bytes
            grads += _split(p, n) * t.grad_bytes
            opt += _split(p, n) * t.optimizer_bytes
            acts += batch * layer.activations * t.activation_bytes
            continue
        params += (_split(p, n) if strategy == "zero3" else p) * t.param_bytes
        grads += (_split(p, n) if strategy in ("zero2", "zero3") else p) * t.grad_bytes
        opt += (_split(p, n) if strategy.startswith("zero") else p) * t.optimizer_bytes
        acts += local_batch * layer.activations * t.activation_bytes
    transient = 0
    if strategy in ("zero2", "zero3") and n > 1:
        whole = t.grad_bytes + (t.param_bytes if strategy == "zero3" else 0)
        transient = max(layer.parameters for layer in layers) * whole
    return MemoryBreakdown(params, grads, opt, acts, transient)


def min_gpus_to_fit(layers: Sequence[Layer], batch: int, strategy: str, capacity: float,
                    training: str | Training = "fp32_momentum",
                    max_gpus: int = 4096) -> int | None:
    """Fewest GPUs (up to ``max_gpus``) with which ``strategy`` fits in ``capacity``
    bytes per GPU, or ``None`` if no count does."""
    max_gpus = check_int("max_gpus", max_gpus, minimum=1)
    check_number("capacity", capacity, minimum=0, strict_minimum=True)

    def fits(n: int) -> bool:
        return memory_per_gpu(layers, batch, n, strategy, training).fits(capacity)

    if not fits(max_gpus):
        return None
    low, high = 1, max_gpus  # every part shrinks or stays as n grows: bisect
    while low < high:
        mid = (low + high) // 2
        low, high = (low, mid) if fits(mid) else (mid + 1, high)
    return low
