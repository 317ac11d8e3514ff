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


def _decimals(text: str) -> int:
    return len(text.split(".")[1]) if "." in text else 0


#: Rows whose FP32 peak cannot be recomputed, and why.
NO_CORES_OR_CLOCK = {"B200 HGX": "no FP32 core count or clock in our sources"}
#: Rows whose stated peak is not cores x 2 x clock to the digits stored, and why.
NOT_CORES_X2_X_CLOCK = {
    "Tesla K20X": "NVIDIA states 3.95 TFLOPS; 2688 cores x 2 x 732 MHz is 3.935, so the "
                  "datasheet rounds up (kept as stated, within 0.5%)",
}


def _clock(g: hw.GPU) -> float:
    """The clock of the catalogue's convention: boost, or the only clock of a GPU without
    GPU Boost (the K20X)."""
    return g.boost_clock if g.boost_clock is not None else g.base_clock


def test_peak_flops_is_cores_times_flops_per_cycle_times_clock():
    # multi-gpu-systems.md section 4: V100 5120 x 2 x 1.53 GHz = 15.67 TF
    assert hw.peak_flops(5120, 1.53e9) == pytest.approx(15.6672e12)
    assert hw.peak_flops(5120, 1.53e9, flops_per_core_per_cycle=4) == pytest.approx(31.3344e12)


def test_every_fp32_peak_is_cores_times_two_times_the_boost_clock():
    """The catalogue's one convention: FP32 peak at the boost clock. Each stored figure is
    cores x 2 x boost clock rounded to the digits the CSV holds, so a row stored at base
    clock (as the K80 once was, 5.6 instead of 8.74 TF) fails here."""
    rows = {r["name"]: r for r in hw.read_table("gpus.csv")}
    checked = []
    for name, g in hw.gpus().items():
        if g.cores is None or _clock(g) is None:
            assert name in NO_CORES_OR_CLOCK, f"{name}: add cores and clocks, or explain"
            continue
        stored = rows[name]["fp32_tflops"]
        computed = hw.peak_flops(g.cores, _clock(g)) / 1e12
        if name in NOT_CORES_X2_X_CLOCK:
            assert computed == pytest.approx(float(stored), rel=5e-3), name
            assert round(computed, _decimals(stored)) != pytest.approx(float(stored))
        else:
            assert round(computed, _decimals(stored)) == pytest.approx(float(stored)), (
                f"{name}: {g.cores} cores x 2 x {_clock(g) / 1e6:g} MHz = {computed:.3f} TF, "
                f"stored {stored}")
        checked.append(name)
    assert len(checked) == len(hw.gpus()) - len(NO_CORES_OR_CLOCK)


def test_base_clock_peaks_are_cores_times_two_times_the_base_clock():
    # stored where a source quotes the base figure: the Kepler GPUs (K80: 5.6 base, 8.74 boost)
    rows = {r["name"]: r for r in hw.read_table("gpus.csv")}
    with_base = {n for n, g in hw.gpus().items() if g.fp32_base_flops is not None}
    assert {"GTX 680", "GTX Titan", "Tesla K40", "Tesla K80"} <= with_base
    for name in with_base - set(NOT_CORES_X2_X_CLOCK):
        g, stored = hw.gpu(name), rows[name]["fp32_base_tflops"]
        computed = hw.peak_flops(g.cores, g.base_clock) / 1e12
        assert round(computed, _decimals(stored)) == pytest.approx(float(stored)), name
        assert g.fp32_base_flops < g.fp32_flops or g.boost_clock is None
    assert hw.gpu("Tesla K80").fp32_flops == pytest.approx(8.74e12)


def test_tensor_peaks_are_not_cuda_core_figures():
    """Tensor cores do a small matrix product per cycle, so tensor_tflops is no multiple of
    cores x 2 x clock; the P100 (no tensor cores) stores FP16, two FMAs per core per cycle."""
    p100 = hw.gpu("P100 SXM2")
    assert hw.peak_flops(p100.cores, p100.boost_clock, 4) == pytest.approx(
        p100.tensor_flops, rel=5e-3)
    h100 = hw.gpu("H100 SXM5")
    assert h100.tensor_flops > 10 * hw.peak_flops(h100.cores, h100.boost_clock)


def test_rows_with_cores_cite_where_the_cores_and_clocks_come_from():
    for g in hw.gpus().values():
        urls = [u.strip() for u in g.clock_source.split(";") if u.strip()]
        assert bool(urls) == (g.cores is not None), g.name
        assert all(URL.match(u) for u in urls), g.clock_source
        assert set(urls) <= set(g.sources)


MACHINE_PATH = re.compile(r"/work/|/home/|/tmp/|\.\./|shared/reference|reference/\S+\.md"
                          r"|\breference file\b")


@pytest.mark.parametrize("path", sorted(hw.DATA_DIR.glob("*")), ids=lambda p: p.name)
def test_data_files_cite_original_sources_not_machine_paths(path):
    text = path.read_text(encoding="utf-8")
    found = MACHINE_PATH.findall(text)
    assert not found, f"{path.name} points at {found}: cite the original source's URL"


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
    (lambda: hw.peak_flops(0, 1e9), ValueError, "cores must be >= 1"),
    (lambda: hw.peak_flops(2.5, 1e9), TypeError, "cores must be an integer"),
    (lambda: hw.peak_flops(128, 0), ValueError, "clock_hz must be > 0"),
    (lambda: hw.peak_flops(128, 1e9, 0), ValueError, "flops_per_core_per_cycle must be > 0"),
])
def test_bad_input_raises_clear_errors(call, exc, match):
    with pytest.raises(exc, match=match):
        call()
