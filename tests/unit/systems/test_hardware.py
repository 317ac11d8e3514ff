from __future__ import annotations

import re

import numpy as np
import pytest

from course_utils.systems import hardware as hw

URL = re.compile(r"^https?://\S+$")


@pytest.mark.parametrize("table", ["gpus.csv", "links.csv", "systems.csv", "prices.csv",
                                   "platforms.csv"])
def test_every_catalogue_row_has_a_source_url_and_a_known_tag(table):
    rows = hw.read_table(table)
    assert rows
    for row in rows:
        urls = [u.strip() for u in row["source"].split(";") if u.strip()]
        assert urls, f"{table}: {row} has no source"
        assert all(URL.match(u) for u in urls), f"{table}: bad URL in {row['source']!r}"
        assert row["tag"] in hw.TAGS, f"{table}: unknown tag {row['tag']!r}"
        extra = row.get("extra_source", "")
        assert bool(extra) == bool(row.get("extra_note", "")), "extra_source needs extra_note"


def test_gpu_figures_match_the_reference_file():
    g = hw.gpus()
    assert g["H100 SXM5"].fp32_flops == pytest.approx(66.9e12)
    assert g["H100 SXM5"].memory_bandwidth == pytest.approx(3.35e12)
    assert g["H100 SXM5"].power_w == 700
    assert g["A100 SXM 80GB"].tensor_flops == pytest.approx(312e12)
    assert g["GTX Titan"].memory_bandwidth == pytest.approx(288.4e9)
    assert g["B200 HGX"].memory_bytes == pytest.approx(180e9)
    assert [x.year for x in g.values()] == sorted(x.year for x in g.values())
    for x in g.values():
        assert x.host_link is None or x.host_link in hw.links()
        assert x.nvlink is None or hw.link(x.nvlink).kind == "nvlink"


def test_peak_fp32_is_cores_times_two_times_clock():
    # multi-gpu-systems.md section 4: V100 5120*2*1.53 GHz, A100 6912*2*1.41, H100 16896*2*1.98
    for name, cores, ghz in [("V100 SXM2", 5120, 1.53), ("A100 SXM 80GB", 6912, 1.41),
                             ("H100 SXM5", 16896, 1.98)]:
        assert cores * 2 * ghz * 1e9 == pytest.approx(hw.gpu(name).fp32_flops, rel=0.003)


def test_memory_bandwidth_is_bus_width_times_data_rate():
    assert 256 * 6.008e9 / 8 == pytest.approx(hw.gpu("GTX 680").memory_bandwidth, rel=1e-3)


def test_nvlink_is_half_the_published_bidirectional_total():
    for name, total in [("nvlink1", 160), ("nvlink2", 300), ("nvlink3", 600), ("nvlink4", 900),
                        ("nvlink5", 1800)]:
        assert hw.link(name).bandwidth == pytest.approx(total / 2 * 1e9)


@pytest.mark.parametrize("gen, x16", [("2.0", 8.0), ("3.0", 15.75), ("4.0", 31.5), ("5.0", 63.0)])
def test_pcie_formula_reproduces_the_catalogue(gen, x16):
    assert hw.pcie_bandwidth(gen) == pytest.approx(x16 * 1e9, rel=2e-3)
    assert hw.pcie_bandwidth(gen) == pytest.approx(hw.link("pcie" + gen[0]).bandwidth, rel=2e-3)
    assert hw.pcie_bandwidth(gen, 8) == pytest.approx(hw.pcie_bandwidth(gen) / 2)


def test_pcie6_uses_the_tabulated_flit_figure():
    assert hw.pcie_bandwidth("6.0", 4) == pytest.approx(121e9 / 4)


def test_transfer_time_is_alpha_plus_bytes_over_bandwidth():
    # parallelism.md section 1: 4 MB gradient -> ~0.25 ms at 15.75 GB/s (PCIe 3.0 x16)
    assert hw.transfer_time(4e6, "pcie3") == pytest.approx(4e6 / 15.754e9, rel=1e-3)
    assert hw.transfer_time(4e6, "pcie3", lanes=8) == pytest.approx(2 * 4e6 / 15.754e9, rel=1e-3)
    fdr = hw.transfer_time(0, "ib_fdr")
    assert fdr == pytest.approx(6e-6)  # the catalogue latency when nbytes = 0
    assert hw.transfer_time(1e6, "ib_fdr", latency=0, efficiency=0.5) == pytest.approx(
        2 * 1e6 / 6.75e9)


def test_growth_recovers_a_known_doubling_time():
    years = np.arange(2012, 2025)
    fit = hw.growth(years, 3.0 * 2 ** ((years - 2012) / 2.5))
    assert fit.doubling_years == pytest.approx(2.5)
    assert fit.annual_factor == pytest.approx(2 ** (1 / 2.5))
    assert fit.predict(2017) == pytest.approx(12.0)  # two doublings in 5 years
    assert fit.n_points == years.size


def test_catalogue_growth_is_faster_for_flops_than_for_networks():
    flagship = [g for g in hw.gpus().values() if g.role in ("consumer", "datacenter")
                and g.fp32_flops]
    flops = hw.growth([g.year for g in flagship], [g.fp32_flops for g in flagship])
    net = hw.growth([s.year for s in hw.systems()], [s.node_injection for s in hw.systems()])
    assert 1.0 < flops.doubling_years < 4.0
    assert net.doubling_years > 0


@pytest.mark.parametrize("call, exc, match", [
    (lambda: hw.gpu("GTX 9999"), ValueError, "name must be one of"),
    (lambda: hw.link("ib_zdr"), ValueError, "name must be one of"),
    (lambda: hw.pcie_bandwidth("7.0"), ValueError, "generation must be one of"),
    (lambda: hw.pcie_bandwidth("3.0", 3), ValueError, "lanes must be one of"),
    (lambda: hw.pcie_bandwidth("3.0", 32), ValueError, "lanes must be <= 16"),
    (lambda: hw.transfer_time(-1, "pcie3"), ValueError, "nbytes must be >= 0"),
    (lambda: hw.transfer_time("1", "pcie3"), TypeError, "nbytes must be a real number"),
    (lambda: hw.transfer_time(1, "ib_fdr", lanes=8), ValueError, "lanes applies to PCIe"),
    (lambda: hw.transfer_time(1, "pcie3", efficiency=0), ValueError, "efficiency must be > 0"),
    (lambda: hw.transfer_time(1, "pcie3", latency=-1), ValueError, "latency must be >= 0"),
    (lambda: hw.growth([2012], [1.0]), ValueError, "two different years"),
    (lambda: hw.growth([2012, 2013], [1.0, -1.0]), ValueError, "positive"),
    (lambda: hw.growth([2012, 2013], [2.0, 1.0]), ValueError, "do not grow"),
    (lambda: hw.growth([2012, 2013], [1.0]), ValueError, "same length"),
    (lambda: hw.read_table("nope.csv"), ValueError, "filename must name a file"),
])
def test_bad_input_raises_clear_errors(call, exc, match):
    with pytest.raises(exc, match=match):
        call()
