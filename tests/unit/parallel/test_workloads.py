"""course_utils.parallel.workloads: each network's figures, defined once."""

from __future__ import annotations

import pytest

from course_utils.parallel import paper_model, workloads


def test_the_papers_alexnet_is_the_43m_variant_with_the_table_4_step():
    a = workloads.ALEXNET_PAPER
    assert a.parameters == sum(lay.parameters for lay in paper_model.alexnet_layers())
    assert 43.2e6 < a.parameters < 43.4e6
    assert a.step_seconds == pytest.approx(0.1041) and a.batch == 128
    assert a.seconds_per_example == pytest.approx(0.1041 / 128)
    assert a.fp32_bytes == 4 * a.parameters


def test_the_2012_alexnet_reproduces_the_papers_section_2_3_example():
    """60M float32 parameters = 0.223 GB in the paper's binary units."""
    b = workloads.ALEXNET_2012
    assert b.fp32_bytes / 2**30 == pytest.approx(0.2235, abs=1e-4)  # printed "0.223 GB"
    with pytest.raises(ValueError, match="has no measured step time"):
        _ = b.seconds_per_example


def test_every_workload_cites_its_source():
    assert all("http" in w.source for w in workloads.WORKLOADS.values())
