"""The layout planner against published configurations, and its TP-inside-NVLink choice."""

from __future__ import annotations

from dataclasses import replace

import pytest

from course_utils.parallel import planner as pl
from course_utils.parallel.accounting import model_parameters

A100 = "A100 SXM 80GB"


def _gpt3_plan(**kw):
    f = pl.published_figures("megatron_gpt3")
    tp, pp = int(f["tp"]), int(f["pp"])
    dp = int(f["gpus"]) // (tp * pp)
    return pl.plan(pl.gpt3_175b(), A100, pl.dgx_topology("a100"), dp=dp, tp=tp, pp=pp,
                   global_batch=int(f["global_batch"]), **kw), dp


def test_gpt3_model_is_175b():
    assert model_parameters(pl.gpt3_175b()) / 1e9 == pytest.approx(175, rel=0.01)


def test_megatron_config_memory_per_gpu_within_10_percent():
    # README: 6 + 12/d bytes per parameter with the distributed optimizer; 175B over
    # tp * pp = 128 model-parallel GPUs. The planner counts the first stage, which also
    # holds the embeddings (about 5% more).
    p, dp = _gpt3_plan()
    f = pl.published_figures("megatron_dist_opt")
    g = pl.published_figures("megatron_gpt3")
    published = g["params"] / (g["tp"] * g["pp"]) * (
        f["bf16_fp32_fixed_bytes"] + f["bf16_fp32_sharded_bytes"] / dp)
    assert p.model_state_bytes == pytest.approx(published, rel=0.10)
    assert p.fits


def test_gpt3_step_at_published_efficiency_matches_published_time():
    # At the efficiency the README's 44% implies, the planner's step is near 32 s.
    f = pl.published_figures("megatron_gpt3")
    p, _ = _gpt3_plan(efficiency=f["fraction_of_peak"], recompute="full")
    assert p.step_s == pytest.approx(f["step_s"], rel=0.25)
    assert p.compute_s == pytest.approx(f["step_s"], rel=0.10)


def test_planner_keeps_tp_inside_the_nvlink_domain():
    topo = pl.dgx_topology("a100")
    plans = pl.enumerate_plans(pl.gpt3_175b(), A100, topo, 1024, 1536)
    best = plans[0]
    assert best.fits and best.tp <= topo.nvlink_domain
    by_tp = pl.best_by_tp(plans)
    assert by_tp[16].step_s > by_tp[8].step_s
    assert by_tp[16].tp_s > 2 * by_tp[8].tp_s
    # a domain of 16 GPUs makes tp 16 cheap again
    wide = pl.best_by_tp(pl.enumerate_plans(pl.gpt3_175b(), A100,
                                            replace(topo, nvlink_domain=16), 1024, 1536))
    assert wide[16].tp_s < by_tp[16].tp_s


def test_memory_falls_with_more_sharding():
    a, _ = _gpt3_plan(stage=0)
    b, _ = _gpt3_plan(stage=1)
    assert b.model_state_bytes < a.model_state_bytes


def test_figure_builds():
    fig = pl.planner_figure(pl.gpt3_175b(), A100, pl.dgx_topology("a100"), 1024, 1536,
                            domains=(8, 16))
    assert "plotly" in fig._repr_mimebundle_()["text/html"]


@pytest.mark.parametrize("call,exc", [
    (lambda: pl.dgx_topology("v100"), ValueError),
    (lambda: pl.plan("gpt", A100, pl.dgx_topology("a100"), dp=1, tp=1, pp=1,
                     global_batch=1), TypeError),
    (lambda: _gpt3_plan(efficiency=0), ValueError),
    (lambda: pl.plan(pl.gpt3_175b(), A100, pl.dgx_topology("a100"), dp=1, tp=5, pp=1,
                     global_batch=1), ValueError),
    (lambda: pl.plan(pl.gpt3_175b(), A100, pl.dgx_topology("a100"), dp=3, tp=1, pp=1,
                     global_batch=4), ValueError),
    (lambda: pl.plan(pl.gpt3_175b(), 3, pl.dgx_topology("a100"), dp=1, tp=1, pp=1,
                     global_batch=1), TypeError),
    (lambda: pl.enumerate_plans(pl.gpt3_175b(), A100, pl.dgx_topology("a100"), 0, 1),
     ValueError),
    (lambda: pl.published_figures("nope"), ValueError),
    (lambda: pl.best_by_tp([1]), TypeError),
    (lambda: pl.planner_figure(pl.gpt3_175b(), A100, pl.dgx_topology("a100"), 8, 8,
                               domains=()), ValueError),
])
def test_bad_inputs_raise(call, exc):
    with pytest.raises(exc):
        call()
