"""The published book as a reader sees it, in a real (headless) Chromium."""

from __future__ import annotations

import json
import re
from urllib.parse import urlparse

import pytest
import yaml

from .conftest import HTML, ROOT, notebook_pages, toc_pages

CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
PAGES = toc_pages()
NOTEBOOKS = notebook_pages()


def _has_math(name: str) -> bool:
    """Whether the built page has math to typeset (a page not built yet counts: its test fails)."""
    built = HTML / f"{name}.html"
    return not built.exists() or 'class="math' in built.read_text(errors="replace")


MATH_PAGES = [name for name in PAGES if _has_math(name)]


@pytest.mark.parametrize("name", PAGES)
def test_page_loads_without_errors_or_missing_assets(visits, name):
    facts = visits[name]
    assert facts["errors"] == []
    assert facts["broken_images"] == []     # every image actually loaded


def test_most_chapters_have_math():
    assert len(MATH_PAGES) >= len(NOTEBOOKS) // 2, MATH_PAGES


@pytest.mark.parametrize("name", MATH_PAGES)
def test_math_renders(visits, name):
    math = visits[name]["math"]
    assert math["typeset"] > 0, "MathJax did not typeset"
    assert math["merror"] == 0, "MathJax reported a TeX error"
    assert math["raw"] == 0, "some math was left as raw TeX"
    # MathJax's own view of every expression on the page: none failed to compile, and no
    # TeX source holds a control character (a TAB from "\t" in "\text" typesets without
    # an error, as "ext", so only the source shows it).
    assert math["count"] > 0, "MathJax lists no math on a page that has math"
    assert math["control"] == [], f"control characters in TeX: {math['control']!r}"


@pytest.mark.parametrize("name", PAGES)
def test_every_figure_has_alt_text(visits, name):
    for src, alt in visits[name]["images"]:
        assert alt.strip(), f"{src} has no alt text"
        assert not re.search(r"\.(png|jpe?g|svg|gif)$", alt.strip(), re.I), (
            f"{src}: alt text is a file name ({alt!r}); set mystnb.image.alt in the cell")
    for label in visits[name]["figure_labels"]:
        assert label.strip() and label != "interactive figure", "interactive figure unlabelled"


def test_search_finds_a_chapter_term(site, page):
    page.goto(f"{site}/search.html?q=bandwidth")
    # Sphinx's search fills the list progressively, then writes a summary line
    page.locator("#search-results p.search-summary").wait_for(timeout=30000)
    hrefs = page.evaluate("""Array.from(document.querySelectorAll(
        '#search-results ul.search li a')).map(a => a.getAttribute('href'))""")
    assert any("notebooks/setup" in h for h in hrefs), hrefs
    assert any("notebooks/mgpu_" in h for h in hrefs), hrefs


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_colab_and_download_buttons_point_at_this_notebook(site, page, name):
    repo = CONFIG["repository"]
    org_repo = urlparse(repo["url"]).path.strip("/")
    page.goto(f"{site}/{name}.html")
    colab = page.locator("a[href*='colab.research.google.com']")
    assert colab.count() == 1
    assert colab.get_attribute("href") == (
        f"https://colab.research.google.com/github/{org_repo}/blob/{repo['branch']}/{name}.ipynb")
    download = page.locator("a[href$='.ipynb'][href*='_sources']")
    assert download.count() >= 1
    response = page.request.get(f"{site}/{name}.html".rsplit("/", 1)[0] + "/"
                                + download.first.get_attribute("href"))
    assert response.ok
    served = json.loads(response.body())
    source = json.loads((ROOT / f"{name}.ipynb").read_text())
    assert [c["source"] for c in served["cells"]] == [c["source"] for c in source["cells"]]


def test_previous_next_navigation_follows_the_toc(site, page):
    page.goto(f"{site}/{PAGES[0]}.html")
    visited = [PAGES[0]]
    for _ in range(len(PAGES) - 1):
        page.locator("a.right-next").click()
        page.wait_for_load_state("domcontentloaded")
        visited.append(urlparse(page.url).path.strip("/").removesuffix(".html"))
    assert visited == PAGES
    assert page.locator("a.right-next").count() == 0
    page.locator("a.left-prev").click()
    page.wait_for_load_state("domcontentloaded")
    assert urlparse(page.url).path.strip("/").removesuffix(".html") == PAGES[-2]


def test_dark_mode_switches(site, page):
    page.goto(f"{site}/{PAGES[0]}.html")
    html = page.locator("html")
    assert html.get_attribute("data-theme") == "light"
    light_background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    button = page.locator("button.theme-switch-button").first
    for _ in range(3):  # the switch cycles auto -> light -> dark (order depends on start)
        if html.get_attribute("data-theme") == "dark":
            break
        button.click()
    assert html.get_attribute("data-theme") == "dark", "the theme switch never reached dark"
    dark_background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert dark_background != light_background


def test_interactive_figures_respond_on_the_static_page(visits):
    found = 0
    for name in NOTEBOOKS:
        for figure in visits[name]["figures"]:
            found += 1
            assert figure["drawn"], f"{name}: figure not drawn"
            # the site serves plotly's cartesian bundle (book/_ext/offline_assets.py):
            # every trace type a figure uses must be in it, or that trace is not drawn
            assert figure["missing_traces"] == [], (
                f"{name}: trace types not in the served plotly.js: {figure['missing_traces']}")
    # the data-parallel explorer, the brain timeline and the conv roofline at least
    assert found >= 3, f"only {found} interactive figures drawn"
