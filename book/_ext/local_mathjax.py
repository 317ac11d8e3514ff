"""Serve MathJax 3 from the book itself, so math renders with no network access.

The MathJax files come from the PyPI package ``django-static-mathjax`` (pinned in
pyproject.toml; it is only a container for MathJax's static files). At the end of an
HTML build its ``es5/`` folder is copied to ``_static/mathjax/``, and ``mathjax_path``
(relative to ``_static``) points there. If the package is missing, the CDN is used.
"""

from __future__ import annotations

import shutil
from importlib.resources import files
from pathlib import Path

CDN = "https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-mml-chtml.js"


def _es5_dir() -> Path | None:
    try:
        path = Path(str(files("mathjax") / "static" / "mathjax" / "es5"))
    except ModuleNotFoundError:
        return None
    return path if (path / "tex-mml-chtml.js").exists() else None


def _config_inited(app, config) -> None:
    config.mathjax_path = "mathjax/tex-mml-chtml.js" if _es5_dir() else CDN


def _build_finished(app, exception) -> None:
    src = _es5_dir()
    if exception is None and src is not None and app.builder.format == "html":
        dst = Path(app.outdir) / "_static" / "mathjax"
        # only the tex-mml-chtml combined component and what it loads (fonts,
        # TeX extensions, accessibility); not the SVG and other combined builds
        skip = shutil.ignore_patterns("*svg*", "tex-chtml*", "mml-chtml*", "node-main*")
        shutil.copytree(src, dst, ignore=skip, dirs_exist_ok=True)


def setup(app):
    app.connect("config-inited", _config_inited, priority=900)
    app.connect("build-finished", _build_finished)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
