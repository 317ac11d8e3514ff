from __future__ import annotations

import pytest

from course_utils.systems import hardware as hw
from course_utils.systems import interconnects as ic


def test_nvl72_aggregate_matches_nvidias_published_figure():
    agg = ic.nvlink_domain_bandwidth(ic.NVL72_GPUS, "nvlink5")
    assert agg == pytest.approx(ic.NVL72_GPUS * 1.8e12)
    assert agg == pytest.approx(ic.NVL72_PUBLISHED_AGGREGATE, rel=0.01)
    # one NVLink 5 link per switch chip: 18 links of 100 GB/s (bidirectional) per GPU
    assert ic.NVL72_SWITCH_CHIPS * 100e9 == pytest.approx(2 * hw.link("nvlink5").bandwidth)


def test_switch_hops_rail_vs_top_of_rack():
    assert ic.switch_hops(3, 2, 3, 5) == 0  # same node: NVLink, no network switch
    assert ic.switch_hops(0, 2, 40, 2) == 1  # same rail, same group of 64
    assert ic.switch_hops(0, 2, 40, 3) == 3  # other rail: through a spine
    assert ic.switch_hops(0, 2, 64, 2) == 3  # other rail group
    assert ic.switch_hops(0, 2, 7, 2, layout="tor") == 1  # 64 ports / 8 GPUs = 8 nodes per leaf
    assert ic.switch_hops(0, 2, 8, 2, layout="tor") == 3


def test_spine_fraction_counts_pairs():
    assert ic.spine_fraction(64) == 0.0
    assert ic.spine_fraction(8, layout="tor") == 0.0
    # 128 nodes, two rail groups of 64: same-leaf ordered pairs 2 * 64 * 63
    assert ic.spine_fraction(128) == pytest.approx(1 - 2 * 64 * 63 / (128 * 127))
    for n in (16, 100, 512):
        assert ic.spine_fraction(n) < ic.spine_fraction(n, layout="tor")


def test_bytes_per_flop_uses_the_catalogue():
    h100 = hw.gpu("H100 SXM5")
    assert ic.bytes_per_flop("H100 SXM5") == pytest.approx(h100.memory_bandwidth / h100.fp32_flops)
    assert ic.bytes_per_flop("H100 SXM5", "bf16", "link") == pytest.approx(
        hw.link("nvlink4").bandwidth / h100.tensor_flops)
    k80 = ic.bytes_per_flop_trend("training", "link")[0]
    assert k80.gpu == "Tesla K80" and k80.bytes_per_flop == pytest.approx(15.75e9 / 8.74e12)
    for t in ic.bytes_per_flop_trend("training"):
        per_value = t.bytes_per_flop / ic.BYTES_PER_VALUE[t.precision]
        assert t.values_per_flop == pytest.approx(per_value)
    assert [t.gpu for t in ic.bytes_per_flop_trend("fp8")] == list(ic.FP8_TFLOPS)
    # FP8 doubles the FLOP/s of BF16 on both GPUs with an FP8 peak
    for name in ic.FP8_TFLOPS:
        assert ic.peak_flops_at(name, "fp8") == pytest.approx(2 * ic.peak_flops_at(name, "bf16"),
                                                             rel=1e-3)


@pytest.mark.parametrize("call, match", [
    (lambda: ic.nvlink_domain_bandwidth(0, "nvlink5"), "gpus"),
    (lambda: ic.nvlink_domain_bandwidth(8, "pcie5"), "link_name must be an NVLink"),
    (lambda: ic.nvlink_domain_bandwidth(8, "nvlink9"), "link_name"),
    (lambda: ic.switch_hops(0, 8, 1, 0), "rail_a"),
    (lambda: ic.switch_hops(0, 0, 1, 0, layout="mesh"), "layout"),
    (lambda: ic.spine_fraction(1), "nodes"),
    (lambda: ic.peak_flops_at("Tesla K80", "fp8"), "precision"),
    (lambda: ic.peak_flops_at("H100 SXM5", "fp64"), "precision"),
    (lambda: ic.bytes_per_flop("H100 SXM5", resource="disk"), "resource"),
    (lambda: ic.bytes_per_flop_trend("int4"), "precision"),
])
def test_bad_inputs_raise_naming_the_parameter(call, match):
    with pytest.raises(ValueError, match=match):
        call()
