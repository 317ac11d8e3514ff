"""Checks on the built book in _build/html (built by `make test-book` first)."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlparse

import yaml

ROOT = Path(__file__).resolve().parents[2]
HTML = ROOT / "_build" / "html"
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())



def page(rel: str) -> str:
    path = HTML / rel
    assert path.exists(), f"{rel} missing from the built book"
    return path.read_text(encoding="utf-8")


def test_landing_page_and_redirect():
    assert "book/intro.html" in page("index.html")
    intro = page("book/intro.html")
    assert "GPUs for Deep Learning" in intro
    assert "notebooks/setup.html" in intro


def test_how_to_use_page():
    html = page("book/how_to_use.html")
    assert "How to use this course" in html
    assert "select_device" in html


def test_setup_notebook_has_executed_outputs():
    html = page("notebooks/setup.html")
    assert "[course_utils] kernels:" in html           # the device summary line
    assert "vector_add matches NumPy exactly" in html   # the kernel check
    assert "saxpy_2d on 40x50 matches NumPy to within 1e-6" in html
    assert re.search(r"Large-buffer copy rate on this machine: [0-9.]+ GB/s", html)
    assert html.count('<img alt="_images/') + html.count('src="../_images/') >= 2  # plots


def test_no_execution_errors_or_warnings_leak_into_pages():
    for path in HTML.rglob("*.html"):
        text = path.read_text(encoding="utf-8")
        assert "Traceback (most recent call last)" not in text, path
        assert "NumbaPerformanceWarning" not in text, path


def test_search_page_and_index():
    assert "searchindex.js" in page("search.html")
    index = page("searchindex.js")
    for term in ("bandwidth", "kernel", "simul"):
        assert term in index.lower()


def test_colab_binder_and_download_buttons_point_at_the_notebook_on_main():
    url = CONFIG["repository"]["url"].rstrip("/")
    branch = CONFIG["repository"]["branch"]
    org_repo = urlparse(url).path.strip("/")
    html = page("notebooks/setup.html")
    colab = f"https://colab.research.google.com/github/{org_repo}/blob/{branch}/notebooks/setup.ipynb"
    assert colab in html
    assert f"https://mybinder.org/v2/gh/{org_repo}/{branch}" in html
    assert "_sources/notebooks/setup.ipynb" in html       # download .ipynb
    assert (HTML / "_sources" / "notebooks" / "setup.ipynb").exists()
    assert url in html                                    # repository button


def test_copy_buttons_mathjax_and_bibliography():
    html = page("notebooks/setup.html")
    assert "copybutton" in html
    assert "mathjax" in html.lower()
    bib = page("book/bibliography.html")
    assert "8-bit approximations for parallelism in deep learning" in bib.lower()
