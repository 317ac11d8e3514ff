"""Serve MathJax and plotly.js from the book itself: math and interactive figures
work on the static pages with no network access (and no CDN at reading time).

* MathJax 3 comes from the PyPI package ``django-static-mathjax`` (pinned in
  pyproject.toml; only a container for MathJax's static files). Its ``es5/`` folder
  is copied to ``_static/mathjax/`` and ``mathjax_path`` points there. If the package
  is missing, the CDN is used.
* Identical ``<script>`` tags are emitted once (works around a duplicate inline
  script from sphinx-thebe).
* plotly.js is plotly's *cartesian* partial bundle (scatter, bar, heatmap, histogram,
  box, contour, pie, ...: every trace type the course draws), 1.5 MB instead of the full
  bundle's 4.8 MB, so that no page ships more than 3 MB of JavaScript
  (tests/browser/test_audit.py). It is vendored as ``book/_static/plotly-cartesian.min.js``
  (MIT, licence beside it), served once as a static file (cached by the browser, never
  inlined in a figure). A page that contains a figure made by
  ``course_utils.core.plots.interactive`` gets its URL as ``window.COURSE_PLOTLY_URL``;
  the figures load it when the first of them comes near the viewport. Its version must equal the
  plotly.js version of the installed ``plotly`` package (the build stops otherwise);
  to update it after a plotly bump::

      npm pack plotly.js-cartesian-dist-min@<version>   # then copy plotly-cartesian.min.js

  A figure with a trace type outside the bundle fails the browser tests.
"""

from __future__ import annotations

import json
import re
import shutil
from importlib.resources import files
from pathlib import Path

from sphinx.errors import ExtensionError

MATHJAX_CDN = "https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-mml-chtml.js"
PLOTLY_MARKER = 'class="course-plotly"'


def _mathjax_dir() -> Path | None:
    try:
        path = Path(str(files("mathjax") / "static" / "mathjax" / "es5"))
    except ModuleNotFoundError:
        return None
    return path if (path / "tex-mml-chtml.js").exists() else None


PLOTLY_JS = "plotly-cartesian.min.js"  # in book/_static (html_static_path)


def _check_plotly_bundle(app) -> None:
    from plotly.offline import get_plotlyjs_version

    bundle = Path(app.confdir) / "book" / "_static" / PLOTLY_JS
    head = bundle.read_text(encoding="utf-8")[:200] if bundle.exists() else ""
    found = re.search(r"plotly\.js \(cartesian - minified\) v([0-9][^\s]*)", head)
    wanted = get_plotlyjs_version()
    if found is None or found.group(1) != wanted:
        raise ExtensionError(
            f"{bundle} must be plotly.js-cartesian-dist-min {wanted} (the installed plotly's "
            f"plotly.js), found {found.group(1) if found else 'no bundle'}: run `npm pack "
            f"plotly.js-cartesian-dist-min@{wanted}` and copy its {PLOTLY_JS} there")


def _config_inited(app, config) -> None:
    config.mathjax_path = "mathjax/tex-mml-chtml.js" if _mathjax_dir() else MATHJAX_CDN
    _check_plotly_bundle(app)


def _page_context(app, pagename, templatename, context, doctree) -> None:
    if PLOTLY_MARKER in context.get("body", ""):
        # the figures load it themselves, when the first comes into view
        # (course_utils.core.plots): the page loads without waiting for plotly.js
        url = context["pathto"](f"_static/{PLOTLY_JS}", 1)
        app.add_js_file(None, body=f"window.COURSE_PLOTLY_URL = {json.dumps(url)};",
                        priority=200)
    # sphinx-thebe 0.3.1 registers its inline config script once per read phase, so
    # pages can get it twice ("Identifier 'THEBE_JS_URL' has already been declared"
    # in the browser console). Keep the first copy of every identical script.
    seen, unique = set(), []
    for script in context.get("script_files", []):
        # one copy has filename None, the other "": both are inline scripts
        key = (getattr(script, "filename", script) or "", getattr(script, "priority", 0),
               repr(sorted(getattr(script, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    context["script_files"] = unique


def _build_finished(app, exception) -> None:
    if exception is not None or app.builder.format != "html":
        return
    static = Path(app.outdir) / "_static"
    src = _mathjax_dir()
    if src is not None:
        # only the tex-mml-chtml component and what it loads (fonts, TeX extensions,
        # accessibility), not the SVG and other combined builds
        skip = shutil.ignore_patterns("*svg*", "tex-chtml*", "mml-chtml*", "node-main*")
        shutil.copytree(src, static / "mathjax", ignore=skip, dirs_exist_ok=True)


def setup(app):
    app.connect("config-inited", _config_inited, priority=900)
    app.connect("html-page-context", _page_context)
    app.connect("build-finished", _build_finished)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
