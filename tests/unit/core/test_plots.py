from __future__ import annotations

import json
import re

import plotly.graph_objects as go
import pytest

from course_utils.core.plots import interactive


def slider_figure() -> go.Figure:
    fig = go.Figure()
    for k in range(3):
        fig.add_scatter(x=[0, 1, 2], y=[0, k, 2 * k], visible=(k == 0), name=f"k={k}")
    steps = [{"method": "update", "label": str(k),
              "args": [{"visible": [j == k for j in range(3)]}]} for k in range(3)]
    fig.update_layout(title="demo", sliders=[{"steps": steps}])
    return fig


def test_bundle_has_plotly_json_and_self_loading_html():
    bundle = interactive(slider_figure(), height=300)._repr_mimebundle_()
    spec = bundle["application/vnd.plotly.v1+json"]
    assert len(spec["data"]) == 3 and spec["layout"]["sliders"][0]["steps"]
    page = bundle["text/html"]
    assert 'class="course-plotly"' in page and "height:300px" in page
    assert "if (window.Plotly)" in page and "cdn.plot.ly/plotly-" in page
    assert 'aria-label="demo"' in page
    # a labelled figure, not role="img" (whose content would hide the slider from
    # assistive technology: axe-core's nested-interactive rule)
    assert 'role="figure"' in page and 'role="img"' not in page
    # plotly.js is never inlined: the page's own copy (or the CDN) draws the figure, once
    # it comes into view (IntersectionObserver), from one download for all the figures
    assert len(page) < 20_000
    assert "window.COURSE_PLOTLY_URL" in page and "IntersectionObserver" in page
    assert "window.coursePlotlyLoading" in page
    # the embedded spec is valid JSON and carries the slider steps
    payload = re.search(r"var spec = (\{.*\});\n", page).group(1)
    assert json.loads(payload.replace("<\\/", "</"))["layout"]["sliders"][0]["steps"]


def test_same_figure_same_div_id():
    a = interactive(slider_figure())._repr_mimebundle_()["text/html"]
    b = interactive(slider_figure())._repr_mimebundle_()["text/html"]
    assert re.search(r'id="(plotly-[0-9a-f]+)"', a).group(1) == \
        re.search(r'id="(plotly-[0-9a-f]+)"', b).group(1)


def test_bad_input():
    with pytest.raises(TypeError, match="fig must be a plotly Figure"):
        interactive({"data": []})
    with pytest.raises(ValueError, match="height must be a positive integer"):
        interactive(slider_figure(), height=0)


def test_post_script_runs_after_drawing_with_the_div_id():
    bundle = interactive(slider_figure(), post_script="console.log('{plot_id}');")
    page = bundle._repr_mimebundle_()["text/html"]
    div_id = re.search(r'id="(plotly-[0-9a-f]+)"', page).group(1)
    assert f"console.log('{div_id}');" in page
    assert page.index("Plotly.newPlot") < page.index(f"console.log('{div_id}')")
    assert "application/vnd.plotly.v1+json" not in bundle._repr_mimebundle_()
