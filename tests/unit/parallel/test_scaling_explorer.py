"""course_utils.parallel.scaling_explorer: every curve precomputed, three sliders."""

from __future__ import annotations

import json

from course_utils.parallel import scaling_explorer as ex
from course_utils.parallel import scaling_fit


def test_the_table_holds_every_combination_and_efficiencies_are_fractions():
    table = ex.explorer_table(scaling_fit.fit_on_goyal())
    assert len(table) == len(ex.EXPLORER_NETWORKS) * len(ex.explorer_systems()) * len(ex.FORMATS)
    for weak, strong in table.values():
        assert weak[0] == strong[0] == 1.0  # one GPU is the baseline
        assert all(0 < e <= 1.0 + 1e-12 for e in weak + strong)
    # fewer bytes never scale worse
    for net in ex.EXPLORER_NETWORKS:
        for system in ex.explorer_systems():
            assert table[net, system, "1-bit"][0][-1] >= table[net, system, "fp32"][0][-1] - 1e-12


def test_the_figure_has_three_sliders_and_a_lookup_script():
    fig = ex.explorer_figure(scaling_fit.fit_on_goyal())
    spec = json.loads(fig.fig.to_json())
    assert [s["name"] for s in spec["layout"]["sliders"]] == ["network", "system", "gradients"]
    html = fig._repr_mimebundle_()["text/html"]
    assert "plotly_sliderchange" in html and "TITLES" in html
