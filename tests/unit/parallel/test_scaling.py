"""course_utils.parallel.scaling: DDP buckets and their overlap with the backward pass,
pinned against timelines computed by hand."""

from __future__ import annotations

import numpy as np
import pytest

from course_utils.parallel import scaling


def test_an_exactly_full_bucket_is_launched_at_once():
    # reverse order: layer 2 (30 B, half the FLOPs) fills a 30 B bucket exactly
    b = scaling.buckets([10, 20, 30], [1, 1, 2], bytes_per_value=1, bucket_bytes=30)
    np.testing.assert_array_equal(b.nbytes, [30, 30])
    np.testing.assert_array_equal(b.ready, [0.5, 1.0])
    assert len(b) == 2


def test_the_last_bucket_waits_for_the_end_of_the_backward_pass():
    b = scaling.buckets([10, 20, 30], [1, 1, 2], bytes_per_value=1, bucket_bytes=100)
    np.testing.assert_array_equal(b.nbytes, [60])
    np.testing.assert_array_equal(b.ready, [1.0])


def test_a_layer_without_flops_is_ready_with_the_layer_after_it():
    b = scaling.buckets([10, 20, 30], [1, 0, 3], bytes_per_value=1, bucket_bytes=20)
    # layer 2: 30 B at 3/4 of the backward pass; layer 1 (no FLOPs): 20 B, also at 3/4
    np.testing.assert_array_equal(b.nbytes, [30, 20, 10])
    np.testing.assert_array_equal(b.ready, [0.75, 0.75, 1.0])


def test_a_tensor_larger_than_the_cap_is_not_split():
    b = scaling.buckets([5, 100], [1, 1], bytes_per_value=4, bucket_bytes=64)
    np.testing.assert_array_equal(b.nbytes, [400, 20])


def test_compression_shrinks_the_buckets_bytes():
    b = scaling.buckets([8, 8], [1, 1], bytes_per_value=1 / 8, bucket_bytes=1)
    np.testing.assert_array_equal(b.nbytes, [1, 1])


def test_overlap_timeline_by_hand():
    # F = 1 s, backward 2 s; buckets ready at 2 s and 3 s
    out = scaling.overlap_step(1.0, np.array([0.5, 1.0]), np.array([0.5, 0.5]))
    assert out["step"] == 3.5 and out["compute"] == 3.0 and out["exposed"] == 0.5
    assert out["comm"] == 1.0
    # a slow first bucket delays the second: 2 + 2 = 4, then 4 + 0.5
    out = scaling.overlap_step(1.0, np.array([0.5, 1.0]), np.array([2.0, 0.5]))
    assert out["step"] == 4.5 and out["exposed"] == 1.5


def test_communication_that_fits_under_the_backward_pass_still_costs_the_last_bucket():
    out = scaling.overlap_step(1.0, np.array([0.0, 1.0]), np.array([0.1, 0.2]))
    assert out["step"] == pytest.approx(3.2)


def test_overlap_broadcasts_over_configurations():
    seconds = np.array([[0.5, 2.0], [0.5, 0.5]])  # 2 buckets x 2 configurations
    out = scaling.overlap_step(np.array([1.0, 1.0]), np.array([0.5, 1.0]), seconds)
    np.testing.assert_allclose(out["step"], [3.5, 4.5])


def test_batch_efficiency_is_half_at_the_half_batch():
    assert scaling.batch_efficiency(32, 32) == 0.5
    assert scaling.batch_efficiency(64, 0) == 1.0


@pytest.mark.parametrize("call, match", [
    (lambda: scaling.buckets([], []), "empty model"),
    (lambda: scaling.buckets([1, 2], [1]), "one entry per layer"),
    (lambda: scaling.buckets([0, 0], [1, 1]), "at least one layer with parameters"),
    (lambda: scaling.buckets([1], [1], bucket_bytes=0), "bucket_bytes must be > 0"),
    (lambda: scaling.buckets([-1], [1]), "parameters must be >= 0"),
    (lambda: scaling.overlap_step(1.0, [0.5, 1.5], [[1.0], [1.0]]), r"fractions in \[0, 1\]"),
    (lambda: scaling.overlap_step(1.0, [1.0], [1.0, 2.0]), "one row per bucket"),
    (lambda: scaling.batch_efficiency(0, 1), "batch must be > 0"),
])
def test_bad_input_names_the_parameter(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_each_buckets_all_reduce_starts_when_it_is_full_and_the_link_is_free():
    out = scaling.overlap_step(1.0, np.array([0.5, 1.0]), np.array([2.0, 0.5]))
    np.testing.assert_array_equal(out["starts"], [2.0, 4.0])
    np.testing.assert_array_equal(out["ends"], [4.0, 4.5])


def test_compression_shrinks_the_all_reduces_but_not_the_bucket_boundaries():
    """DDP buckets the fp32 gradients; a hook compresses each bucket on its way out."""
    from course_utils.parallel import networks, scaling_fit

    fit = scaling_fit.fit_on_goyal()
    scene = scaling_fit.scenarios()[scaling_fit.FIT_KEY]
    fp32 = scaling.step_time(scene.layers, 256, 32, scene.cluster, fit)
    int8 = scaling.step_time(scene.layers, 256, 32, scene.cluster, fit, bytes_per_value=1)
    assert fp32["starts"].shape == int8["starts"].shape  # same buckets
    assert float(int8["comm"]) < float(fp32["comm"]) / 3
    assert networks.total_parameters(scene.layers) > 0
