from __future__ import annotations

import pytest

from course_utils.parallel import build_planner as bp
from course_utils.parallel import simulate_data_parallel
from course_utils.parallel.memory import fc_layer
from course_utils.parallel.paper_model import TOTAL_MS, alexnet_layers
from course_utils.systems import hardware as hw


@pytest.fixture(scope="module")
def alexnet():
    # effective work per example: the paper's 104.1 ms step of 128 examples at Titan X peak
    flops = TOTAL_MS["nervana"] * 1e-3 * hw.gpu("GTX Titan X").fp32_flops / 128
    return bp.Model("AlexNet", tuple(alexnet_layers()), flops, 128)


def test_electricity_price_from_the_tianhe2_figures():
    low, high = bp.electricity_price()
    assert low == pytest.approx(65e3 / (24e3 * 24))
    assert high == pytest.approx(100e3 / (24e3 * 24))
    assert 0.11 < low < high < 0.18  # brain-vs-deep-learning.md row 10: $0.11-0.17/kWh


def test_candidates_have_cited_price_and_power():
    old = {c.gpu.name for c in bp.candidates("2014")}
    new = {c.gpu.name for c in bp.candidates("today")}
    assert old == {"GTX 680", "GTX Titan"} and new == {"L4", "H100 SXM5"}
    for c in bp.candidates("2014") + bp.candidates("today"):
        assert c.gpu.power_w > 0 and 0 < c.price_usd[0] <= c.price_usd[1]


@pytest.mark.parametrize("era", list(bp.ERA_YEARS))
def test_an_era_offers_only_gpus_released_by_its_year(era):
    first, last = bp.ERA_YEARS[era]
    for c in bp.candidates(era):
        assert first <= c.gpu.year and (last is None or c.gpu.year <= last), c.gpu.name


def test_the_2014_planner_does_not_offer_the_2015_titan_x():
    assert hw.gpu("GTX Titan X").year == 2015
    assert "GTX Titan X" in {r["gpu"] for r in hw.read_table("prices.csv")}  # priced, powered
    assert hw.gpu("GTX Titan X").power_w is not None
    assert "GTX Titan X" not in {c.gpu.name for c in bp.candidates("2014")}
    assert "GTX Titan X" not in {c.gpu.name for c in bp.candidates("today")}


def test_2014_nodes_hold_three_gpus_and_an_fdr_card(alexnet):
    (c,) = [c for c in bp.candidates("2014") if c.gpu.name == "GTX Titan"]
    plan = bp.plan_build(20_000, alexnet, c)
    assert plan.feasible and plan.n_gpus == 20
    assert plan.gpus_per_node == 3 and plan.nodes == 7  # the paper's cluster: 3 GPUs per node
    assert plan.ring_bandwidth == pytest.approx(hw.link("ib_fdr").bandwidth)
    direct = simulate_data_parallel(params=alexnet.params,
                                    flops_per_example=alexnet.flops_per_example,
                                    gpu_flops=hw.gpu("GTX Titan").fp32_flops,
                                    bandwidth=hw.link("ib_fdr").bandwidth,
                                    latency=hw.link("ib_fdr").latency, n_gpus=20,
                                    batch_per_gpu=128)
    assert plan.speedup == pytest.approx(float(direct.speedup))
    assert plan.efficiency == pytest.approx(plan.speedup / 20)
    assert plan.power_w == 20 * 250
    assert plan.cost_per_hour_usd[0] == pytest.approx(5.0 * bp.electricity_price()[0])
    assert plan.usd_per_million_examples[1] > plan.usd_per_million_examples[0] > 0


def test_one_node_needs_no_network(alexnet):
    (c,) = [c for c in bp.candidates("today") if c.gpu.name == "H100 SXM5"]
    plan = bp.plan_build(100_000, alexnet, c, price="low")
    assert plan.n_gpus == 4 and plan.nodes == 1 and plan.inter_node == ""
    assert plan.ring_bandwidth == pytest.approx(450e9)


def test_the_nic_slot_limits_ndr_on_pcie4(alexnet):
    (c,) = [c for c in bp.candidates("today") if c.gpu.name == "L4"]
    plan = bp.plan_build(50_000, alexnet, c)
    assert plan.nodes > 1
    assert plan.ring_bandwidth == pytest.approx(hw.pcie_bandwidth("4.0", 16))
    assert any("slot" in n for n in plan.notes)


def test_infeasible_plans_say_why(alexnet):
    (c,) = [c for c in bp.candidates("today") if c.gpu.name == "H100 SXM5"]
    assert "buys no H100" in bp.plan_build(1_000, alexnet, c).reason
    big = bp.Model("dense 1B", (fc_layer("fc", 40_000, 25_000),), 6 * 1e9, 8,
                   training="fp32_adam")
    (titan,) = [c for c in bp.candidates("2014") if c.gpu.name == "GTX Titan"]
    plan = bp.plan_build(10_000, big, titan)
    assert not plan.feasible and "needs 16.0 GB per GPU" in plan.reason


def test_plans_are_sorted_fastest_feasible_first(alexnet):
    plans = bp.plan_builds(20_000, alexnet, "today")
    assert plans[0].feasible and not plans[-1].feasible  # no H100 for $20k
    feasible = [p.examples_per_second for p in plans if p.feasible]
    assert feasible == sorted(feasible, reverse=True)


@pytest.mark.parametrize("call, exc, match", [
    (lambda m: bp.plan_builds(-1, m), ValueError, "budget_usd must be > 0"),
    (lambda m: bp.plan_builds(1e4, m, "1990"), ValueError, "era must be one of"),
    (lambda m: bp.plan_builds(1e4, m, price="mid"), ValueError, "price must be one of"),
    (lambda m: bp.Model("x", (), 1.0, 1), TypeError, "layers must be a non-empty"),
    (lambda m: bp.Model("x", m.layers, 0.0, 1), ValueError, "flops_per_example must be > 0"),
    (lambda m: bp.Model("x", m.layers, 1.0, 1, precision="fp8"), ValueError,
     "precision must be one of"),
])
def test_bad_input_raises_clear_errors(alexnet, call, exc, match):
    with pytest.raises(exc, match=match):
        call(alexnet)
