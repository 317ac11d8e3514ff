"""Interactive Plotly figures that work everywhere the course is used.

``interactive(fig)`` returns an object that Jupyter displays as

* ``application/vnd.plotly.v1+json``: JupyterLab renders it natively; and
* ``text/html``: a ``<div>`` plus a script that draws the figure with ``window.Plotly``
  when it comes near the viewport (so a page loads fast: plotly.js is fetched, once per
  page, and figures are drawn as the reader scrolls to them; also before printing).
  On the published book, plotly.js is served from the book's own ``_static`` folder
  (``book/_ext/offline_assets.py`` sets ``window.COURSE_PLOTLY_URL``; never inlined),
  so sliders and buttons work on the static page with no kernel and no network.
  Anywhere else (Colab, classic Jupyter) the script loads the matching plotly.js from
  the Plotly CDN first.

Sliders and buttons must be pre-computed (Plotly ``steps``/``frames``), because the
static page has no Python behind it.

Used in: :doc:`/notebooks/mgpu_hardware`, :doc:`/notebooks/dp_communication`,
:doc:`/notebooks/mp_speedup_model`, :doc:`/notebooks/mp_pipeline_memory`,
:doc:`/notebooks/conv_1_mixing`, :doc:`/notebooks/conv_2_fourier`,
:doc:`/notebooks/conv_3_cuda`, :doc:`/notebooks/brain_timeline`.
"""

from __future__ import annotations

import html
import json
import uuid

__all__ = ["interactive", "InteractiveFigure"]


def _plotlyjs_version() -> str:
    from plotly.offline import get_plotlyjs_version

    return get_plotlyjs_version()


class InteractiveFigure:
    """Display wrapper for a Plotly figure; see the module docstring."""

    def __init__(self, fig, *, height: int | None = None, title: str | None = None,
                 post_script: str | None = None):
        self.fig = fig
        self.height = height
        self.title = title
        self.post_script = post_script

    def _spec(self) -> dict:
        spec = json.loads(self.fig.to_json())
        spec.setdefault("config", {})
        spec["config"].update({"responsive": True, "displaylogo": False})
        return spec

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        spec = self._spec()
        div_id = "plotly-" + uuid.uuid5(uuid.NAMESPACE_OID, json.dumps(spec)).hex[:12]
        height = self.height or spec.get("layout", {}).get("height") or 480
        label = html.escape(self.title or spec.get("layout", {}).get("title", {}).get("text", "")
                            or "interactive figure")
        cdn = f"https://cdn.plot.ly/plotly-{_plotlyjs_version()}.min.js"
        payload = json.dumps(spec).replace("</", "<\\/")
        post = (self.post_script or "").replace("{plot_id}", div_id).replace("</", "<\\/")
        # role="figure", not "img": an img's content is presentational, yet the figure
        # holds focusable controls (sliders, buttons, the mode bar); axe-core flags that
        page = f"""<div id="{div_id}" class="course-plotly" role="figure" aria-label="{label}"
 style="width:100%;height:{int(height)}px;"></div>
<script type="text/javascript">
(function() {{
  var spec = {payload};
  function draw() {{
    Plotly.newPlot("{div_id}", spec.data, spec.layout, spec.config).then(function() {{
      if (spec.frames) {{ Plotly.addFrames("{div_id}", spec.frames); }}
{post}
    }});
  }}
  var drawn = false;
  function load() {{
    if (drawn) {{ return; }}
    drawn = true;
    if (window.Plotly) {{ draw(); return; }}
    // one download of plotly.js for all the figures of the page
    window.coursePlotlyLoading = window.coursePlotlyLoading || new Promise(function(ok) {{
      var s = document.createElement("script");
      s.src = window.COURSE_PLOTLY_URL || "{cdn}";
      s.onload = ok;
      document.head.appendChild(s);
    }});
    window.coursePlotlyLoading.then(draw);
  }}
  var div = document.getElementById("{div_id}");
  if ("IntersectionObserver" in window) {{
    var seen = new IntersectionObserver(function(entries) {{
      if (entries.some(function(e) {{ return e.isIntersecting; }})) {{
        seen.disconnect();
        load();
      }}
    }}, {{rootMargin: "800px 0px"}});
    seen.observe(div);
    window.addEventListener("beforeprint", load);
  }} else {{ load(); }}
}})();
</script>"""
        bundle = {"text/html": page, "text/plain": f"<interactive figure: {label}>"}
        if not self.post_script:  # JupyterLab's native renderer cannot run a post_script
            bundle["application/vnd.plotly.v1+json"] = {
                k: v for k, v in spec.items() if k != "config"}
        return bundle


def interactive(fig, *, height: int | None = None, title: str | None = None,
                post_script: str | None = None) -> InteractiveFigure:
    """Wrap a ``plotly.graph_objects.Figure`` for display in the book, JupyterLab and Colab.

    Args:
        fig: the Plotly figure; sliders/buttons must use pre-computed steps or frames.
        height: height of the figure in CSS pixels (default: the layout's, else 480).
        title: accessible label for the figure (default: the layout's title).
        post_script: JavaScript run once the figure is drawn; ``{plot_id}`` in it is
            replaced by the figure's element id (as in ``plotly.io.to_html``).
    """
    if not hasattr(fig, "to_json"):
        raise TypeError(f"fig must be a plotly Figure, got {type(fig).__name__}")
    if height is not None and (not isinstance(height, int) or height <= 0):
        raise ValueError(f"height must be a positive integer (CSS pixels), got {height!r}")
    return InteractiveFigure(fig, height=height, title=title, post_script=post_script)
