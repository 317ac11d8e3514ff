"""The networks of the data-parallel scaling model: layers in forward order, with sizes.

A data-parallel step all-reduces each layer's gradient as soon as the backward pass
has produced it; PyTorch DDP groups the gradients into buckets and sends a bucket when
all of its gradients are ready. To simulate that, as the Ultra-Scale Playbook
(https://huggingface.co/spaces/nanotron/ultrascale-playbook) and "How to Scale Your
Model" (https://jax-ml.github.io/scaling-book/) do, a network is an ordered list of
:class:`~course_utils.parallel.memory.Layer` in **forward** order, each with

* ``name``;
* ``parameters``: weights and biases (a count; BatchNorm's scale and shift included
  with their convolution, its running statistics excluded: they are buffers);
* ``flops``: forward FLOPs per example, **2 FLOPs per multiply-add** (matrix products
  and convolutions; the backward pass costs about twice the forward);
* ``activations``: outputs kept per example.

The backward pass visits the list in reverse. A layer with no parameters (the
attention products of a transformer) takes time but produces no gradient.

:data:`NETWORKS` holds the fixed networks by name (:func:`get`); the convolutional
ones are built in :mod:`course_utils.parallel.networks_cnn`; :func:`transformer`
builds a GPT-style decoder of any size. :func:`total_parameters` and
:func:`total_forward_flops` add a network up.

Used in: :doc:`/notebooks/dp_scaling`.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..core.checks import check_choice, check_int
from .memory import Layer
from .networks_cnn import alexnet, inception_v3, resnet50, resnet101, vgg16
from .paper_model import alexnet_layers

__all__ = [
    "NETWORKS",
    "get",
    "alexnet_paper",
    "transformer",
    "transformer_flops_per_token",
    "total_parameters",
    "total_forward_flops",
]


def alexnet_paper() -> list[Layer]:
    """The AlexNet of the 8-bit paper's tables (Dettmers 2016,
    https://arxiv.org/abs/1511.04561): Krizhevsky 2014's variant
    (https://arxiv.org/abs/1404.5997) with FC width 3072, 224x224 inputs, as
    :func:`course_utils.parallel.paper_model.alexnet_layers` counts it (conv layers
    with bias, no BatchNorm)."""
    return alexnet_layers()


def _check_layers(layers: Sequence[Layer]) -> list[Layer]:
    if isinstance(layers, (str, bytes)) or not isinstance(layers, Sequence):
        raise TypeError(f"layers must be a sequence of memory.Layer, got "
                        f"{type(layers).__name__}")
    layers = list(layers)
    if not layers:
        raise ValueError("layers must be a non-empty sequence of memory.Layer, got none")
    for layer in layers:
        if not isinstance(layer, Layer):
            raise TypeError(f"layers must hold memory.Layer, got {type(layer).__name__}")
    return layers


def total_parameters(layers: Sequence[Layer]) -> int:
    """All the network's parameters (a count)."""
    return sum(layer.parameters for layer in _check_layers(layers))


def total_forward_flops(layers: Sequence[Layer]) -> int:
    """Forward FLOPs per example, 2 per multiply-add (for a transformer, per sequence)."""
    return sum(layer.flops for layer in _check_layers(layers))


def _transformer_sizes(layers: int, d_model: int, heads: int, seq_len: int, vocab: int,
                       ffn_mult: int) -> tuple[int, int, int, int, int, int]:
    layers = check_int("layers", layers, minimum=1)
    d = check_int("d_model", d_model, minimum=1)
    heads = check_int("heads", heads, minimum=1)
    seq = check_int("seq_len", seq_len, minimum=1)
    vocab = check_int("vocab", vocab, minimum=1)
    ffn_mult = check_int("ffn_mult", ffn_mult, minimum=1)
    if d % heads:
        raise ValueError(f"heads must divide d_model ({d}), got {heads}")
    return layers, d, heads, seq, vocab, ffn_mult


def transformer_flops_per_token(layers: int, d_model: int, heads: int, seq_len: int,
                                vocab: int, ffn_mult: int = 4) -> int:
    """Forward FLOPs per token of :func:`transformer`, by the closed formula

    ``2 * L * (4 + 2 * ffn_mult) * d**2`` (the weight matrices: QKV 3 d², output
    projection d², MLP 2 ffn_mult d²) ``+ 4 * L * seq_len * d`` (attention scores
    Q Kᵀ, 2 seq d per layer, and the weighted sum of V, 2 seq d) ``+ 2 * d * vocab``
    (the output logits). Kaplan et al. 2020 (https://arxiv.org/abs/2001.08361,
    section 2.1) write C_forward ≈ 2N + 2 L n_ctx d; here both attention products are
    counted over the whole seq x seq score matrix, as a dense kernel computes them
    and ``FlopCounterMode`` counts them (a causal kernel that skips the masked half
    does about half of that term), and the logits are counted too.
    """
    n, d, _, seq, vocab, ffn = _transformer_sizes(layers, d_model, heads, seq_len, vocab,
                                                  ffn_mult)
    return 2 * n * (4 + 2 * ffn) * d * d + 4 * n * seq * d + 2 * d * vocab


def transformer(layers: int, d_model: int, heads: int, seq_len: int, vocab: int,
                ffn_mult: int = 4) -> list[Layer]:
    """A GPT-style decoder (Radford et al. 2019, GPT-2,
    https://cdn.openai.com/better-language-models/language_models_are_unsupervised_multitask_learners.pdf;
    Vaswani et al. 2017, https://arxiv.org/abs/1706.03762), one example = one
    sequence of ``seq_len`` tokens, FLOPs per example = per token x ``seq_len``.

    Entries in forward order: ``embed`` (token table ``vocab x d`` and learned
    positions ``seq_len x d``; a look-up, 0 FLOPs), then for each block ``h.i``:
    ``ln_1`` (LayerNorm, 2d), ``attn.qkv`` (d -> 3d, with bias), ``attn.core`` (no
    parameters: Q Kᵀ and the weighted sum of V, 4 seq d FLOPs per token; keeps the
    ``heads x seq x seq`` attention probabilities), ``attn.out`` (d -> d), ``ln_2``,
    ``mlp.fc`` (d -> ffn_mult d), ``mlp.proj`` (ffn_mult d -> d); then ``ln_f`` and
    ``lm_head`` (d -> vocab, weights tied to the token table as in GPT-2, so no
    parameters of its own: the shared gradient is complete only when the embedding's
    backward is done, at the end of the backward pass). LayerNorm, softmax and GELU
    FLOPs are not counted. Totals: :func:`transformer_flops_per_token`.

    ``heads`` must divide ``d_model``; every size must be >= 1.
    """
    n, d, heads, seq, vocab, ffn = _transformer_sizes(layers, d_model, heads, seq_len,
                                                      vocab, ffn_mult)
    f = ffn * d
    out = [Layer("embed", vocab * d + seq * d, seq * d)]
    for i in range(n):
        p = f"h.{i}"
        out += [
            Layer(f"{p}.ln_1", 2 * d, seq * d),
            Layer(f"{p}.attn.qkv", d * 3 * d + 3 * d, seq * 3 * d, flops=seq * 2 * d * 3 * d),
            Layer(f"{p}.attn.core", 0, heads * seq * seq + seq * d,
                  flops=seq * (2 * seq * d + 2 * seq * d)),
            Layer(f"{p}.attn.out", d * d + d, seq * d, flops=seq * 2 * d * d),
            Layer(f"{p}.ln_2", 2 * d, seq * d),
            Layer(f"{p}.mlp.fc", d * f + f, seq * f, flops=seq * 2 * d * f),
            Layer(f"{p}.mlp.proj", f * d + d, seq * d, flops=seq * 2 * f * d),
        ]
    out += [Layer("ln_f", 2 * d, seq * d),
            Layer("lm_head", 0, seq * vocab, flops=seq * 2 * d * vocab)]
    return out


#: The fixed networks by name, each a tuple of layers in forward order. Inputs:
#: 224x224 images, except inception_v3 (299x299, with its auxiliary classifier).
NETWORKS: dict[str, tuple[Layer, ...]] = {
    "alexnet": tuple(alexnet()),
    "alexnet_paper": tuple(alexnet_paper()),
    "vgg16": tuple(vgg16()),
    "resnet50": tuple(resnet50()),
    "resnet101": tuple(resnet101()),
    "inception_v3": tuple(inception_v3()),
}


def get(name: str) -> list[Layer]:
    """The layers of network ``name`` (a key of :data:`NETWORKS`), in forward order."""
    return list(NETWORKS[check_choice("name", name, tuple(NETWORKS))])
