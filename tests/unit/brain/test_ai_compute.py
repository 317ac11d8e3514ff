"""course_utils.brain.ai_compute: AI training clusters (peaks computed from the GPU
catalogue) and training runs, compared with the brain estimate."""

from __future__ import annotations

import math
import re

import pytest

from course_utils.brain import ai_compute as ac
from course_utils.brain.estimate import POST_ESTIMATE_FLOPS
from course_utils.systems import hardware


def test_cluster_peak_is_count_times_catalogue_peak():
    assert ac.cluster_peak("H100 SXM5", 1) == hardware.gpu("H100 SXM5").tensor_flops
    assert ac.cluster_peak("H100 SXM5", 16384) == pytest.approx(16384 * 989.4e12)
    assert ac.cluster_peak("H100 SXM5", 10, "fp8") == pytest.approx(2 * 10 * 989.4e12)
    # the catalogue notes give H100 FP8 1,978.9 TFLOP/s and B200 FP8 4,500 TFLOP/s
    assert ac.cluster_peak("H100 SXM5", 1, "fp8") == pytest.approx(1978.9e12, rel=1e-4)
    assert ac.cluster_peak("B200 HGX", 1, "fp8") == pytest.approx(4500e12)


def test_bundled_clusters_have_sources_and_computed_peaks():
    clusters = ac.load_ai_clusters()
    assert len(clusters) >= 4
    assert [c.year for c in clusters] == sorted(c.year for c in clusters)
    for c in clusters:
        assert c.sources and all(re.match(r"https?://", s) for s in c.sources), c.name
        assert c.provenance and c.note
        assert c.peak_bf16 == c.gpu_count * hardware.gpu(c.gpu).tensor_flops
    rsc = next(c for c in clusters if "RSC" in c.name)
    assert rsc.peak_bf16 == pytest.approx(5e18, rel=0.01)  # Meta: "almost 5 exaflops"
    colossus = next(c for c in clusters if "Colossus" in c.name)
    assert colossus.gpu_count == 100_000 and colossus.peak_bf16 == pytest.approx(9.894e19)


def test_training_runs_match_their_primary_sources():
    runs = {r.model: r for r in ac.load_training_runs()}
    assert runs["GPT-3 175B"].flop == 3.14e23  # Brown et al. 2020
    assert runs["Llama 3.1 405B"].flop == 3.8e25  # Meta 2024
    for r in runs.values():
        assert r.sources[0].startswith("https://") and 1e20 < r.flop < 1e28


def test_comparisons_with_the_brain_estimate():
    # GPT-3 = about 292 seconds of Dettmers' brain; 1e15 FLOP/s (Carlsmith) = about 10 years
    assert ac.brain_seconds(3.14e23, POST_ESTIMATE_FLOPS) == pytest.approx(292.1, abs=0.1)
    assert ac.brain_seconds(3.14e23, 1e15) / (365.25 * 86400) == pytest.approx(9.95, abs=0.01)
    assert ac.lifetime_flop(1e15) == 1e24
    assert ac.lifetime_flop(POST_ESTIMATE_FLOPS, 10) == pytest.approx(1.075e22)
    n = ac.gpus_to_match(POST_ESTIMATE_FLOPS, "H100 SXM5")
    assert n == math.ceil(POST_ESTIMATE_FLOPS / 989.4e12) == 1_086_518
    assert ac.gpus_to_match(1.0, "H100 SXM5") == 1
    assert ac.gpus_to_match(ac.cluster_peak("A100 SXM 80GB", 7), "A100 SXM 80GB") == 7


def test_first_cluster_reaching_and_the_crossing_year():
    clusters = ac.load_ai_clusters()
    assert ac.first_cluster_reaching(clusters, POST_ESTIMATE_FLOPS) is None
    assert ac.first_cluster_reaching(clusters, POST_ESTIMATE_FLOPS, "fp8") is None
    first = ac.first_cluster_reaching(clusters, 1e19)
    assert first is not None and first.gpu == "H100 SXM5" and first.gpu_count == 16384
    # V100 and A100 have no FP8: skipped, not counted as zero
    assert ac.first_cluster_reaching(clusters, 1.0, "fp8").gpu == "H100 SXM5"
    fit = ac.fit_cluster_growth(clusters)
    assert fit.n_points == len(clusters) and 0.5 < fit.doubling_years < 1.5
    year = ac.crossing_year(fit, POST_ESTIMATE_FLOPS)
    assert fit.predict(year) == pytest.approx(POST_ESTIMATE_FLOPS)
    assert year > max(c.year for c in clusters)
    fp8 = ac.fit_cluster_growth(clusters, "fp8")
    assert fp8.n_points == sum(c.gpu in ac.FP8_PER_BF16 for c in clusters)


@pytest.mark.parametrize("call, exc, match", [
    (lambda: ac.cluster_peak("H100 SXM5", 0), ValueError, "gpu_count must be >= 1"),
    (lambda: ac.cluster_peak("H100 SXM5", 2.5), TypeError, "gpu_count"),
    (lambda: ac.cluster_peak("H100 SXM5", 1, "fp4"), ValueError, "precision must be one of"),
    (lambda: ac.cluster_peak("A100 SXM 80GB", 1, "fp8"), ValueError, "FP8"),
    (lambda: ac.cluster_peak("H1000", 1), ValueError, "name must be one of"),
    (lambda: ac.cluster_peak("GTX 680", 1), ValueError, "gpu must have a tensor peak"),
    (lambda: ac.brain_seconds(-1, 1e21), ValueError, "training_flop must be >= 0"),
    (lambda: ac.brain_seconds(1e23, 0), ValueError, "brain_flops must be > 0"),
    (lambda: ac.lifetime_flop(1e15, 0), ValueError, "seconds must be > 0"),
    (lambda: ac.gpus_to_match(0, "H100 SXM5"), ValueError, "target_flops must be > 0"),
    (lambda: ac.first_cluster_reaching([], -1), ValueError, "target_flops must be > 0"),
    (lambda: ac.first_cluster_reaching([], 1.0, "int8"), ValueError, "precision"),
    (lambda: ac.fit_cluster_growth(ac.load_ai_clusters()[:1]), ValueError, "two different"),
    (lambda: ac.crossing_year(None, 1e21), TypeError, "fit must be a Growth"),
    (lambda: ac.crossing_year(ac.fit_cluster_growth(ac.load_ai_clusters()), 0), ValueError,
     "target must be > 0"),
])
def test_bad_input_raises_naming_the_parameter(call, exc, match):
    with pytest.raises(exc, match=match):
        call()
