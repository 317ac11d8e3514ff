"""Memory per GPU under data, model, hybrid and ZeRO-style sharded parallelism."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from course_utils.parallel import memory as mem
from course_utils.parallel.paper_model import alexnet_layers
from course_utils.systems import hardware

NET = [mem.conv_layer("conv", 3, 8, 3, 10), mem.fc_layer("fc1", 800, 1000),
       mem.fc_layer("fc2", 1000, 10)]


def test_layer_sizes():
    assert mem.fc_layer("fc", 1000, 500).parameters == 1000 * 500 + 500
    assert mem.fc_layer("fc", 1000, 500, bias=False).activations == 500
    conv = mem.conv_layer("c", 3, 64, 11, 55)
    assert (conv.parameters, conv.activations) == (3 * 64 * 121 + 64, 64 * 55 * 55)


def test_data_parallelism_by_hand():
    b = mem.memory_per_gpu(NET, batch=64, n_gpus=4, strategy="data", training="fp32_momentum")
    params = sum(layer.parameters for layer in NET)
    acts = sum(layer.activations for layer in NET)
    assert (b.parameters, b.gradients, b.optimizer) == (4 * params,) * 3
    assert b.activations == 16 * acts * 4
    assert b.total == 12 * params + 64 * acts and b.transient == 0


def test_mixed_precision_adam_is_16_bytes_per_parameter():
    b = mem.memory_per_gpu(NET, 1, 1, "data", "mixed_adam")
    params = sum(layer.parameters for layer in NET)
    assert b.parameters + b.gradients + b.optimizer == 16 * params


@pytest.mark.parametrize("strategy", mem.STRATEGIES)
def test_one_gpu_is_the_same_under_every_strategy(strategy):
    assert (mem.memory_per_gpu(NET, 32, 1, strategy)
            == mem.memory_per_gpu(NET, 32, 1, "data"))


def test_zero_stages_shard_one_more_part_each():
    n = 8
    d, z1, z2, z3 = (mem.memory_per_gpu(NET, 64, n, s, "fp32_adam")
                     for s in ("data", "zero1", "zero2", "zero3"))
    assert z1.optimizer < d.optimizer and z1.gradients == d.gradients
    assert z2.gradients < z1.gradients and z2.parameters == d.parameters
    assert z3.parameters < z2.parameters
    largest = max(layer.parameters for layer in NET)
    assert z1.transient == 0 and z2.transient == largest * 4  # fc1's whole FP32 gradient
    assert z3.transient == largest * 8  # ... and its whole FP32 weights
    assert d.activations == z1.activations == z2.activations == z3.activations


def test_hybrid_splits_only_the_fc_layers():
    h = mem.memory_per_gpu(NET, 64, 4, "hybrid", "fp32_sgd")
    conv, fc1, fc2 = NET
    expected = 4 * (conv.parameters + -(-fc1.parameters // 4) + -(-fc2.parameters // 4))
    assert h.parameters == expected
    assert h.activations == 4 * (16 * conv.activations + 64 * (fc1.activations + fc2.activations))


def test_only_splitting_the_model_fits_a_layer_larger_than_the_gpu():
    wide = alexnet_layers()[:5] + [mem.fc_layer("fc6", 9216, 40960),
                                   mem.fc_layer("fc7", 40960, 40960),
                                   mem.fc_layer("fc8", 40960, 1000)]
    titan_x = hardware.gpu("GTX Titan X").memory_bytes  # 12 GB, the 8-bit paper's GPU
    assert mem.min_gpus_to_fit(wide, 128, "data", titan_x) is None
    for stage in ("zero1", "zero2", "zero3"):
        assert mem.min_gpus_to_fit(wide, 128, stage, titan_x) is None, stage
    assert mem.min_gpus_to_fit(wide, 128, "model", titan_x) in range(2, 9)
    assert mem.min_gpus_to_fit(wide, 128, "hybrid", titan_x) in range(2, 9)


@given(batch=st.integers(1, 512), capacity=st.floats(1e5, 1e8),
       strategy=st.sampled_from(mem.STRATEGIES))
def test_min_gpus_to_fit_is_the_smallest_count_that_fits(batch, capacity, strategy):
    n = mem.min_gpus_to_fit(NET, batch, strategy, capacity, max_gpus=64)
    fits = [mem.memory_per_gpu(NET, batch, k, strategy).fits(capacity) for k in range(1, 65)]
    assert n == (fits.index(True) + 1 if any(fits) else None)


@pytest.mark.parametrize("call, exc, match", [
    (lambda: mem.memory_per_gpu(NET, 0, 1, "data"), ValueError, "batch must be >= 1"),
    (lambda: mem.memory_per_gpu(NET, 8, 0, "data"), ValueError, "n_gpus must be >= 1"),
    (lambda: mem.memory_per_gpu(NET, 8, 2, "pipeline"), ValueError, "strategy must be one of"),
    (lambda: mem.memory_per_gpu(NET, 8, 2, "data", "fp8"), ValueError, "training must be one"),
    (lambda: mem.memory_per_gpu([], 8, 2, "data"), TypeError, "non-empty sequence"),
    (lambda: mem.Layer("x", -1, 0), ValueError, "parameters must be >= 0"),
    (lambda: mem.Layer("x", 1, 0, "lstm"), ValueError, "kind must be one of"),
    (lambda: mem.min_gpus_to_fit(NET, 8, "data", 0), ValueError, "capacity must be > 0"),
])
def test_bad_inputs_raise_clear_errors(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_layers_carry_forward_flops():
    """2 FLOPs per multiply-add; a (height, width) kernel; BatchNorm's scale and shift."""
    assert mem.fc_layer("fc", 1000, 500).flops == 2 * 1000 * 500
    conv = mem.conv_layer("c", 3, 64, 11, 55)
    assert conv.flops == 2 * 3 * 64 * 121 * 55 * 55
    factorised = mem.conv_layer("c", 128, 192, (7, 1), 17, bias=False, batchnorm=True)
    assert factorised.parameters == 128 * 192 * 7 + 2 * 192
    assert factorised.flops == 2 * 128 * 192 * 7 * 17 * 17
    assert mem.Layer("x", 1, 1).flops == 0  # not given
    with pytest.raises(ValueError, match="flops must be >= 0"):
        mem.Layer("x", 1, 1, "fc", -1)
    with pytest.raises(ValueError, match=r"kernel must be an int or a \(height, width\) pair"):
        mem.conv_layer("c", 3, 8, (3, 3, 3), 16)
    with pytest.raises(ValueError, match="kernel must be >= 1"):
        mem.conv_layer("c", 3, 8, (0, 3), 16)
