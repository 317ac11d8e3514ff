"""Serve MathJax and plotly.js from the book itself: math and interactive figures
work on the static pages with no network access (and no CDN at reading time).

* MathJax 3 comes from the PyPI package ``django-static-mathjax`` (pinned in
  pyproject.toml; only a container for MathJax's static files). Its ``es5/`` folder
  is copied to ``_static/mathjax/`` and ``mathjax_path`` points there. If the package
  is missing, the CDN is used.
* Identical ``<script>`` tags are emitted once (works around a duplicate inline
  script from sphinx-thebe).
* plotly.js comes from the installed ``plotly`` package. It is copied to
  ``_static/plotly.min.js`` and loaded (in ``<head>``, not deferred) on the pages
  that contain a figure made by ``course_utils.plots.interactive``.
"""

from __future__ import annotations

import shutil
from importlib.resources import files
from pathlib import Path

MATHJAX_CDN = "https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-mml-chtml.js"
PLOTLY_MARKER = 'class="course-plotly"'


def _mathjax_dir() -> Path | None:
    try:
        path = Path(str(files("mathjax") / "static" / "mathjax" / "es5"))
    except ModuleNotFoundError:
        return None
    return path if (path / "tex-mml-chtml.js").exists() else None


def _plotly_js() -> Path:
    return Path(str(files("plotly") / "package_data" / "plotly.min.js"))


def _config_inited(app, config) -> None:
    config.mathjax_path = "mathjax/tex-mml-chtml.js" if _mathjax_dir() else MATHJAX_CDN


def _page_context(app, pagename, templatename, context, doctree) -> None:
    if PLOTLY_MARKER in context.get("body", ""):
        app.add_js_file("plotly.min.js", priority=200)
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
    shutil.copy2(_plotly_js(), static / "plotly.min.js")


def setup(app):
    app.connect("config-inited", _config_inited, priority=900)
    app.connect("html-page-context", _page_context)
    app.connect("build-finished", _build_finished)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
