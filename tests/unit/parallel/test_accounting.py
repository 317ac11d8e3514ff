"""Transformer accounting: parameters, FLOPs and activation bytes per layer, MFU."""

from __future__ import annotations

import pytest

from course_utils.parallel import accounting as tf
from course_utils.parallel.planner import gpt3_175b, published_figures

SMALL = tf.TransformerConfig("small", 2, 64, 4, 32, 100)


@pytest.mark.parametrize("d,heads,ffn", [(64, 4, 4), (48, 3, 2), (32, 8, 1)])
def test_parameters_equal_torch_exactly(d, heads, ffn):
    check = tf.check_against_torch(d, heads, 16, 2, ffn)
    assert check.params_model == check.params_torch


def test_flops_match_flop_counter_with_math_attention():
    # With PyTorch's math attention the counter sees every matrix product: exact.
    # With the fused CPU kernel it misses exactly the attention products.
    check = tf.check_against_torch(64, 4, 32, 2)
    assert check.flops_math == check.flops_model
    assert check.flops_model - check.flops_fused == check.attention_flops


def test_activation_components_add_up_to_korthikanti():
    s, b, d, a = 2048, 1, 12288, 96
    total = sum(tf.activation_components(s, b, d, a).values())
    assert total == s * b * d * (34 + 5 * a * s / d)
    assert tf.activation_bytes_per_layer(s, b, d, a) == total


def test_activation_reductions_follow_table_2():
    s, b, d, a, t = 2048, 2, 4096, 32, 8
    sbh = s * b * d
    assert tf.activation_bytes_per_layer(s, b, d, a, tp=t) == pytest.approx(
        sbh * (10 + 24 / t + 5 * a * s / (d * t)))
    assert tf.activation_bytes_per_layer(s, b, d, a, tp=t, sequence_parallel=True) == \
        pytest.approx(sbh / t * (34 + 5 * a * s / d))
    assert tf.activation_bytes_per_layer(s, b, d, a, tp=t, sequence_parallel=True,
                                         recompute="selective") == pytest.approx(34 * sbh / t)
    assert tf.activation_bytes_per_layer(s, b, d, a, recompute="full") == 2 * sbh


def test_six_n_is_the_weight_part_of_the_count():
    c = gpt3_175b()
    tokens = 2048
    exact = tf.training_flops(c, tokens)
    assert tf.six_n_flops(tf.model_parameters(c), tokens) == pytest.approx(exact, rel=0.05)
    assert tf.training_flops(c, tokens, recompute="full") == pytest.approx(4 / 3 * exact)


def test_megatron_gpt3_throughput_reproduced_within_10_percent():
    # README: 175B, 1024 A100, batch 1536, ~32 s per iteration -> 138 TFLOP/s per GPU
    # (counting the recomputed forward), 44% of the 312 TFLOP/s peak.
    f = published_figures("megatron_gpt3")
    c = gpt3_175b()
    flops = tf.training_flops(c, f["global_batch"] * c.seq_len, recompute="full")
    per_gpu = flops / (f["step_s"] * f["gpus"])
    assert per_gpu / 1e12 == pytest.approx(f["tflops_per_gpu"], rel=0.10)
    hfu = tf.mfu(flops, f["step_s"], int(f["gpus"]), 312e12)
    assert hfu == pytest.approx(f["fraction_of_peak"], rel=0.10)
    assert tf.mfu(tf.training_flops(c, f["global_batch"] * c.seq_len), f["step_s"],
                  int(f["gpus"]), 312e12) < hfu


def test_mfu_and_measurement():
    assert tf.mfu(1e12, 2.0, 4, 1e12) == pytest.approx(0.125)
    m = tf.measure_training_step(layers=1, d_model=32, heads=2, seq_len=16, batch=2,
                                 repeats=3)
    assert m.model_flops == m.counted_flops
    assert m.seconds > 0 and m.peak > 0 and 0 < m.mfu


@pytest.mark.parametrize("call,exc", [
    (lambda: tf.TransformerConfig("x", 1, 10, 3, 4, 5), ValueError),
    (lambda: tf.block_parameters(0), ValueError),
    (lambda: tf.model_parameters("gpt"), TypeError),
    (lambda: tf.training_flops(SMALL, -1), ValueError),
    (lambda: tf.training_flops(SMALL, 1, recompute="some"), ValueError),
    (lambda: tf.six_n_flops(-1, 1), ValueError),
    (lambda: tf.activation_components(0, 1, 8, 1), ValueError),
    (lambda: tf.activation_bytes_per_layer(8, 1, 8, 1, tp=0), ValueError),
    (lambda: tf.activation_bytes_per_layer(8, 1, 8, 1, sequence_parallel=1), TypeError),
    (lambda: tf.mfu(1, 0, 1, 1), ValueError),
    (lambda: tf.check_against_torch(10, 3), ValueError),
    (lambda: tf.measure_matmul_peak(4), ValueError),
    (lambda: tf.measure_training_step(heads=3), ValueError),
])
def test_bad_inputs_raise(call, exc):
    with pytest.raises(exc):
        call()
