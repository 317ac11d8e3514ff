"""The 8-bit paper's appendix speedup model, reproduced within the paper's own rounding."""

from __future__ import annotations

import pytest

from course_utils.parallel import paper_model as pm

P = pm.PRINTED


def test_printed_tolerance_is_half_a_unit_in_the_last_digit():
    assert pm.printed_tolerance("3.8") == pytest.approx(0.05)
    assert pm.printed_tolerance("61") == 0.5
    assert pm.agrees_with_printed(3.534, "3.53") and not pm.agrees_with_printed(3.54, "3.53")
    with pytest.raises(TypeError, match="printed must be a string"):
        pm.printed_tolerance(3.8)


def test_fc_times_are_the_sums_of_table_4():
    assert pm.agrees_with_printed(pm.fc_time_ms(), P["t_fc"])
    assert pm.agrees_with_printed(pm.fc_time_ms(model_parallel=True), P["t_fc_parallel"])
    # the listed rows sum to 94.5 ms of the 104.1 ms total
    assert sum(t.total for t in pm.TABLE4_BASELINE_MS.values()) == pytest.approx(94.5)


def test_conv_penalty_is_the_last_conv_sync():
    assert pm.conv_penalty_ms() == pytest.approx(0.05)
    assert pm.agrees_with_printed(pm.conv_penalty_ms(), P["conv_penalty"])


def test_fc_penalty_8_bit_as_printed_32_bit_terms_sum_to_7_01_not_6_81():
    assert pm.agrees_with_printed(pm.fc_penalty_ms(8), P["fc_penalty_8"])
    # Pinned disagreement (an erratum in the paper): the paper prints P_fc = 6.81 ms at
    # 32 bits, but its own eleven printed terms (Table 3 syncs not hidden under Table 4's
    # model-parallel times) add up to 7.01 ms. We compute the sum of the terms.
    assert P["fc_penalty_32"] == "6.81"
    ours = pm.fc_penalty_ms(32)
    assert ours == pytest.approx(7.01)
    assert not pm.agrees_with_printed(ours, P["fc_penalty_32"])  # the erratum
    assert len(pm.fc_penalty_terms(32)) == 11


@pytest.mark.parametrize("kernels", ["nervana", "convnet2"])
@pytest.mark.parametrize("bits", [32, 8])
def test_four_gpu_speedups_match_the_paper(kernels, bits):
    printed = P["speedup_4gpu"][(kernels, bits)]
    assert pm.agrees_with_printed(pm.four_gpu_speedup(bits, kernels), printed)
    # the printed penalty (6.81 ms at 32 bits, not our 7.01) rounds to the same speedup
    printed_penalty = float(P[f"fc_penalty_{bits}"])
    assert pm.agrees_with_printed(pm.four_gpu_speedup(bits, kernels, printed_penalty), printed)


def test_speedup_model_is_within_1_5_percent_of_krizhevskys_measurement():
    measured = float(P["krizhevsky_measured_4gpu"])
    assert abs(pm.four_gpu_speedup(32, "convnet2") / measured - 1) < 0.015


def test_the_formula_written_out():
    step = (104.1 - 6.5) + 0.05 + 4 * 3.34 + 2.55
    assert pm.four_gpu_speedup(8) == pytest.approx(4 * 104.1 / step)


def test_table6_full_pass_reconstruction():
    for sub, (p32, p8) in P["table6_full_pass"].items():
        assert pm.agrees_with_printed(pm.cluster_full_pass_ms(sub, 8), p8)
        ours = pm.cluster_full_pass_ms(sub, 32)
        if sub == 12288:
            # Pinned disagreement: the paper prints "7750" (its Table 6 sync "250(?)" carries
            # a question mark); our reading of the table, 31 nodes x (sync - 1.3 ms hidden
            # under the next matmul), gives 31 x (250 - 1.3) = 7709.7 ms.
            assert p32 == "7750"
            assert ours == pytest.approx(7709.7) and not pm.agrees_with_printed(ours, p32)
        else:
            assert pm.agrees_with_printed(ours, p32)


def test_full_pass_from_a_given_sync_time():
    assert pm.cluster_full_pass_ms(128, 32, sync_ms=1.0) == 1.0  # hidden but the first
    assert pm.cluster_full_pass_ms(128, 32, sync_ms=2.3) == pytest.approx(31.0)


# Table 7 cells that our arithmetic does not round to (all within 0.6 %): cell ->
# (the paper's printed speedup, the speedup we compute, why they differ). The formula
# is cluster_speedup's: 96 T / [(T - T_fc) + (12288 / sub_batch) T_fc + full_pass]
# (the paper's constant FC time per pass).
TABLE7_OFF = {
    (512, "nervana", 8): (
        "39.3", 39.232,
        "sync 1.13 ms is hidden (< 1.3 ms), so full_pass = 1.13 ms as Table 6 prints it; "
        "the printed terms give 39.23, the paper's unstated intermediate rounding 39.3"),
    (1024, "nervana", 8): (
        "48.6", 48.737,
        "full_pass 31 x (2.25 - 1.3) = 29.45 ms (printed 29.5, which gives 48.73 too); "
        "the printed terms do not give the printed 48.6"),
    (2048, "convnet2", 8): (
        "62.8", 62.873,
        "full_pass 31 x (3.26 - 1.3) = 60.76 ms (printed 60.8, which gives 62.86 too); "
        "the printed terms do not give the printed 62.8"),
    (12288, "nervana", 8): (
        "9.7", 9.752,
        "our full_pass 31 x (31 - 1.3) = 920.7 ms gives 9.752 -> 9.8; Table 6's printed "
        "921 ms gives 9.749 -> 9.7: the paper used its rounded full pass"),
}


@pytest.mark.parametrize("sub", pm.CLUSTER_SUB_BATCHES)
def test_table7_cluster_speedups(sub):
    for (kernels, bits), printed in P["table7"][sub].items():
        ours = pm.cluster_speedup(sub, bits, kernels)
        cell = (sub, kernels, bits)
        if cell in TABLE7_OFF:
            # Pinned disagreement: the printed value is still the one recorded, ours is
            # still the value computed above, and the reason is in TABLE7_OFF. If the model
            # is corrected, these fail and say which value moved.
            paper, computed, reason = TABLE7_OFF[cell]
            assert printed == paper, (cell, "PRINTED changed", printed, paper)
            assert ours == pytest.approx(computed, abs=5e-4), (cell, ours, computed, reason)
            assert not pm.agrees_with_printed(ours, printed), (cell, reason)
            assert abs(ours / float(printed) - 1) < 0.006
        else:
            assert pm.agrees_with_printed(ours, printed), (sub, kernels, bits, ours, printed)


def test_table7_12288_nervana_8_bit_agrees_with_the_printed_full_pass():
    """The reason recorded in TABLE7_OFF for (12288, nervana, 8): with Table 6's printed
    921 ms instead of our 920.7 ms the paper's 9.7 comes out."""
    printed_full = float(P["table6_full_pass"][12288][1])
    assert printed_full == 921.0 and pm.cluster_full_pass_ms(12288, 8) == pytest.approx(920.7)
    assert pm.agrees_with_printed(pm.cluster_speedup(12288, 8, "nervana", full_pass=921.0),
                                  P["table7"][12288][("nervana", 8)])


def test_printed_7750_gives_2_14_not_the_printed_2_15():
    # Pinned disagreement inside the paper: Table 7 prints 2.15 for 12288 / convnet2 /
    # 32 bits, but Table 6's printed full pass of 7750 ms gives 2.1436; our 7709.7 ms
    # gives 2.1545, which rounds to the printed 2.15.
    assert P["table7"][12288][("convnet2", 32)] == "2.15"
    printed_full = float(P["table6_full_pass"][12288][0])
    assert printed_full == 7750.0
    with_printed = pm.cluster_speedup(12288, 32, "convnet2", full_pass=printed_full)
    assert with_printed == pytest.approx(2.1436, abs=5e-4)
    assert not pm.agrees_with_printed(with_printed, "2.15")
    ours = pm.cluster_speedup(12288, 32, "convnet2")
    assert ours == pytest.approx(2.1545, abs=5e-4)
    assert pm.agrees_with_printed(ours, "2.15")


def test_cluster_conv_sync():
    assert pm.agrees_with_printed(pm.cluster_conv_sync_ms(), P["cluster_conv_sync"])
    assert pm.cluster_conv_sync_ms(latency_includes_transfer=False) == pytest.approx(3.0048)


def test_table3_transfer_sizes_from_the_layer_shapes():
    ours = pm.table3_transfer_mib()
    # Pinned disagreements: the paper prints conv1 0.045 MiB (its 23,232 float32 weights
    # split 4 ways are 0.0222 MiB; the printed figure is about twice that, 0.0443, and
    # the paper does not say why) and conv4 0.85 MiB (384 x 256 x 3 x 3 / 4 x 4 B = 0.84375 MiB,
    # which rounds to 0.84). Every other row is the layer shapes' size.
    off = {"conv1": (0.045, 0.0222), "conv4": (0.85, 0.8438)}
    for name, (printed, computed) in off.items():
        assert pm.TABLE3_TRANSFER_MIB[name] == printed
        assert ours[name] == pytest.approx(computed, abs=1e-4), name
    for name, printed in pm.TABLE3_TRANSFER_MIB.items():
        assert pm.agrees_with_printed(ours[name], str(printed)) != (name in off), name
    assert ours["conv1"] * 2 == pytest.approx(0.0443, abs=1e-4)
    assert sum(layer.parameters for layer in pm.alexnet_layers()) == 43_297_576


def test_cluster_fc_time_constant_is_table6_forward_column_proportional_is_96_t_fc():
    # Table 6's "forward" column, as printed: (12288 / sub-batch) x 6.5 ms
    forward = {128: 624, 256: 312, 512: 156, 1024: 78, 2048: 39, 12288: 6.5}
    for sub, printed in forward.items():
        assert pm.cluster_fc_ms(sub) == pytest.approx(printed)
        # proportional: each pass costs 6.5 ms x sub / 128, so every sub-batch gives 96 x 6.5
        assert pm.cluster_fc_ms(sub, "proportional") == pytest.approx(96 * 6.5)


def test_the_two_fc_models_agree_at_sub_batch_128_and_part_above():
    for bits in (32, 8):
        assert pm.cluster_speedup(128, bits, fc_scaling="proportional") == pytest.approx(
            pm.cluster_speedup(128, bits))
        for sub in pm.CLUSTER_SUB_BATCHES[1:]:
            assert (pm.cluster_speedup(sub, bits, fc_scaling="proportional")
                    < pm.cluster_speedup(sub, bits))


def test_with_free_transfers_the_full_batch_reaches_96_only_if_fc_time_is_constant():
    t, t_fc = pm.TOTAL_MS["nervana"], pm.fc_time_ms()
    assert pm.cluster_speedup(12288, full_pass=0.0) == pytest.approx(96)
    limit = pm.cluster_speedup(12288, full_pass=0.0, fc_scaling="proportional")
    assert limit == pytest.approx(96 * t / (t - t_fc + 96 * t_fc))
    assert limit == pytest.approx(13.85, abs=0.01)


@pytest.mark.parametrize("call, exc, match", [
    (lambda: pm.four_gpu_speedup(16), ValueError, "bits must be 32 or 8"),
    (lambda: pm.four_gpu_speedup(32, "cudnn"), ValueError, "kernels must be one of"),
    (lambda: pm.cluster_speedup(100), ValueError, "sub_batch must be one of"),
    (lambda: pm.cluster_full_pass_ms(128, 8.0), TypeError, "bits must be an integer"),
    (lambda: pm.cluster_full_pass_ms(128, 8, -1.0), ValueError, "sync_ms must be >= 0"),
    (lambda: pm.cluster_fc_ms(128, "linear"), ValueError, "fc_scaling must be one of"),
    (lambda: pm.cluster_fc_ms(100), ValueError, "sub_batch must be one of"),
    (lambda: pm.cluster_speedup(256, fc_scaling="x"), ValueError, "fc_scaling must be one of"),
])
def test_bad_inputs_raise_clear_errors(call, exc, match):
    with pytest.raises(exc, match=match):
        call()
