"""The networks of the data-parallel model: the registry, the totals, and the
transformer family against a GPT built from torch.nn modules (parameters by ``numel``,
FLOPs by ``torch.utils.flop_counter.FlopCounterMode``)."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from course_utils.parallel import networks as nets
from course_utils.parallel import networks_cnn as cnn
from course_utils.parallel.memory import Layer
from course_utils.parallel.paper_model import alexnet_layers
from course_utils.parallel.workloads import ALEXNET_PAPER


def test_the_registry_names_six_networks():
    assert list(nets.NETWORKS) == ["alexnet", "alexnet_paper", "vgg16", "resnet50",
                                   "resnet101", "inception_v3"]
    for name, layers in nets.NETWORKS.items():
        got = nets.get(name)
        assert got == list(layers) and got is not layers
        assert len({x.name for x in got}) == len(got), f"{name}: duplicate layer names"
        assert all(x.flops > 0 and x.parameters > 0 for x in got)
    assert nets.get("resnet50") == cnn.resnet50()
    assert nets.get("inception_v3") == cnn.inception_v3()  # with the auxiliary classifier


def test_the_papers_alexnet_reuses_paper_model():
    layers = nets.get("alexnet_paper")
    assert layers == alexnet_layers()
    assert nets.total_parameters(layers) == ALEXNET_PAPER.parameters
    # same conv layers as torchvision's AlexNet; FC width 3072 instead of 4096
    assert layers[:5] == nets.get("alexnet")[:5]
    assert layers[5].flops == 2 * 9216 * 3072 and layers[5].parameters == 9216 * 3072 + 3072


def test_totals_add_up_the_layers():
    layers = [Layer("a", 10, 1, flops=100), Layer("b", 0, 1, flops=7), Layer("c", 5, 1)]
    assert nets.total_parameters(layers) == 15
    assert nets.total_forward_flops(tuple(layers)) == 107
    assert nets.total_parameters(nets.NETWORKS["resnet50"]) == 25_557_032


def test_conv_layer_flops_and_batchnorm():
    """2 FLOPs per multiply-add; BatchNorm adds scale and shift, not FLOPs."""
    conv = cnn.resnet50()[0]  # 7x7 stride 2, 3 -> 64, 112 x 112 output, BatchNorm
    assert conv.parameters == 3 * 64 * 49 + 2 * 64
    assert conv.flops == 2 * 3 * 64 * 49 * 112 * 112
    assert conv.activations == 64 * 112 * 112


# ---- the transformer family against torch.nn
class Embed(nn.Module):
    def __init__(self, vocab, seq, d):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(vocab, d), nn.Embedding(seq, d)

    def forward(self, idx):
        return self.wte(idx) + self.wpe(torch.arange(idx.shape[1], device=idx.device))


class Core(nn.Module):
    """Causal attention products: softmax(Q Kᵀ / sqrt(d_head)) V, per head."""

    def __init__(self, heads):
        super().__init__()
        self.heads = heads

    def forward(self, qkv):
        b, t, d3 = qkv.shape
        q, k, v = (x.reshape(b, t, self.heads, -1).transpose(1, 2)
                   for x in qkv.split(d3 // 3, dim=2))
        scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
        mask = torch.ones(t, t, dtype=torch.bool, device=qkv.device).triu(1)
        return (scores.masked_fill(mask, float("-inf")).softmax(-1) @ v).transpose(
            1, 2).reshape(b, t, d3 // 3)


class Attention(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.qkv, self.core, self.out = nn.Linear(d, 3 * d), Core(heads), nn.Linear(d, d)

    def forward(self, x):
        return self.out(self.core(self.qkv(x)))


class MLP(nn.Module):
    def __init__(self, d, f):
        super().__init__()
        self.fc, self.proj = nn.Linear(d, f), nn.Linear(f, d)

    def forward(self, x):
        return self.proj(nn.functional.gelu(self.fc(x)))


class Block(nn.Module):
    def __init__(self, d, heads, f):
        super().__init__()
        self.ln_1, self.attn = nn.LayerNorm(d), Attention(d, heads)
        self.ln_2, self.mlp = nn.LayerNorm(d), MLP(d, f)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class Head(nn.Module):
    """Logits with the token table's weights (tied, as GPT-2): no parameters of its own."""

    def forward(self, x, weight):
        return x @ weight.T


class GPT(nn.Module):
    def __init__(self, layers, d, heads, seq, vocab, ffn_mult):
        super().__init__()
        self.embed = Embed(vocab, seq, d)
        self.h = nn.ModuleList(Block(d, heads, ffn_mult * d) for _ in range(layers))
        self.ln_f, self.lm_head = nn.LayerNorm(d), Head()

    def forward(self, idx):
        x = self.embed(idx)
        for block in self.h:
            x = block(x)
        return self.lm_head(self.ln_f(x), self.embed.wte.weight)


@pytest.mark.parametrize("config", [
    (2, 64, 4, 16, 100, 4),
    (3, 48, 6, 10, 37, 3),
    (12, 768, 12, 1024, 50257, 4),  # GPT-2 small's configuration
])
def test_transformer_layer_by_layer(config):
    layers = nets.transformer(*config)
    seq = config[3]
    with torch.device("meta"):  # no memory, no initialisation, no arithmetic
        model = GPT(*config)
    modules = dict(model.named_modules())
    called = []
    for layer in layers:
        modules[layer.name].register_forward_pre_hook(
            lambda m, a, name=layer.name: called.append(name))
    with FlopCounterMode(display=False) as counter:
        model(torch.zeros(1, seq, dtype=torch.long, device="meta"))
    counts = counter.get_flop_counts()
    for layer in layers:  # attn.core and lm_head: no parameters of their own
        expected = sum(p.numel() for p in modules[layer.name].parameters())
        assert layer.parameters == expected, layer.name
        assert layer.flops == sum(counts.get(f"GPT.{layer.name}", {}).values()), layer.name
    assert called == [x.name for x in layers]
    assert nets.total_parameters(layers) == sum(p.numel() for p in model.parameters())
    assert nets.total_forward_flops(layers) == counter.get_total_flops()
    assert nets.total_forward_flops(layers) == seq * nets.transformer_flops_per_token(*config)


def test_heads_change_only_the_attention_probabilities():
    one, many = nets.transformer(2, 64, 1, 16, 100), nets.transformer(2, 64, 8, 16, 100)
    for a, b in zip(one, many, strict=True):
        assert (a.parameters, a.flops) == (b.parameters, b.flops)
        if a.name.endswith("attn.core"):
            assert b.activations - a.activations == 7 * 16 * 16
        else:
            assert a == b


def test_attention_grows_with_the_square_of_the_sequence():
    short, long = (nets.transformer(1, 64, 4, s, 100) for s in (16, 32))
    core = {x.name: x for x in short}["h.0.attn.core"], {x.name: x for x in long}["h.0.attn.core"]
    assert core[1].flops == 4 * core[0].flops
    assert {x.name: x for x in long}["h.0.attn.qkv"].flops == 2 * {
        x.name: x for x in short}["h.0.attn.qkv"].flops


@pytest.mark.parametrize("call, error, message", [
    (lambda: nets.transformer(0, 64, 4, 16, 100), ValueError, r"layers must be >= 1, got 0"),
    (lambda: nets.transformer(2, -64, 4, 16, 100), ValueError, r"d_model must be >= 1, got -64"),
    (lambda: nets.transformer(2, 64, 5, 16, 100), ValueError,
     r"heads must divide d_model \(64\), got 5"),
    (lambda: nets.transformer(2, 64, 0, 16, 100), ValueError, r"heads must be >= 1, got 0"),
    (lambda: nets.transformer(2, 64, 4, 0, 100), ValueError, r"seq_len must be >= 1, got 0"),
    (lambda: nets.transformer(2, 64, 4, 16, 0), ValueError, r"vocab must be >= 1, got 0"),
    (lambda: nets.transformer(2, 64, 4, 16, 100, ffn_mult=0), ValueError,
     r"ffn_mult must be >= 1, got 0"),
    (lambda: nets.transformer_flops_per_token(2, 64, 3, 16, 100), ValueError,
     r"heads must divide d_model"),
    (lambda: nets.transformer(2.5, 64, 4, 16, 100), TypeError, r"layers must be an integer"),
    (lambda: nets.get("resnet18"), ValueError, r"name must be one of \('alexnet'"),
    (lambda: nets.total_parameters([]), ValueError, r"layers must be a non-empty sequence"),
    (lambda: nets.total_forward_flops([]), ValueError, r"layers must be a non-empty sequence"),
    (lambda: nets.total_forward_flops([1, 2]), TypeError, r"layers must hold memory.Layer"),
    (lambda: nets.total_parameters("resnet50"), TypeError, r"layers must be a sequence"),
])
def test_bad_input(call, error, message):
    with pytest.raises(error, match=message):
        call()
