"""Browser tests: the built book (_build/html) served from 127.0.0.1, driven by
Playwright in a system Chromium (headless).

Without Chromium (or the playwright package) the tests skip and say why; under
``CI=true`` they fail instead, because CI must run them (``.ci/run`` installs
Debian's ``chromium`` first).
"""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import threading
import time
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
HTML = ROOT / "_build" / "html"
SCREENSHOTS = ROOT / "_build" / "screenshots"
IN_CI = os.environ.get("CI", "").lower() == "true"


def _missing(reason: str):
    if IN_CI:
        pytest.fail(f"CI=true and {reason}: browser tests must run in CI", pytrace=False)
    pytest.skip(f"{reason}; browser tests skipped (Debian: apt-get install chromium)")


def chromium_path() -> str | None:
    for candidate in (os.environ.get("CHROMIUM"), "chromium", "chromium-browser",
                      "google-chrome", "/usr/bin/chromium"):
        if candidate and shutil.which(candidate):
            return shutil.which(candidate)
    return None


def toc_pages() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    pages = [toc["root"]]

    def walk(node):
        if isinstance(node, dict):
            if "file" in node:
                pages.append(node["file"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(toc.get("parts", toc.get("chapters", [])))
    return pages


def notebook_pages() -> list[str]:
    return [p for p in toc_pages() if (ROOT / f"{p}.ipynb").exists()]


@pytest.fixture(scope="session")
def site():
    if not (HTML / "index.html").exists():
        pytest.fail("the book is not built: run `make build` first", pytrace=False)
    handler = functools.partial(_QuietHandler, directory=str(HTML))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest output readable
        pass


@pytest.fixture(scope="session")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("the playwright package is not installed")
    path = chromium_path()
    if path is None:
        _missing("no Chromium executable was found")
    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=path,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"],
        )
        yield b
        b.close()


def built_pages() -> list[str]:
    """Every HTML page of the built book (not theme fragments, not page sources, not the
    root index.html, which only redirects to the landing page)."""
    return sorted(str(p.relative_to(HTML).with_suffix("")) for p in HTML.rglob("*.html")
                  if not {"_static", "_sources"} & set(p.relative_to(HTML).parts)
                  and 'http-equiv="refresh"' not in p.read_text(errors="replace").lower())


def settle(page) -> None:
    """Wait until MathJax has typeset and every interactive figure is drawn."""
    page.wait_for_load_state("load")      # images and scripts; MathJax and figures below
    if page.evaluate("!!(window.MathJax && MathJax.startup)"):
        page.evaluate("MathJax.startup.promise")
    for div in page.locator(".course-plotly").all():
        div.scroll_into_view_if_needed()  # figures are drawn when they come into view
        div.locator(".main-svg").first.wait_for(timeout=15000)


# Bytes of JavaScript the page loaded: every .js resource (script tags, preloads, and
# what MathJax loads on demand), uncompressed, once per URL, plus inline scripts.
JS_BYTES = """() => {
  const seen = new Map();
  for (const r of performance.getEntriesByType('resource')) {
    const path = new URL(r.name).pathname;
    if (path.endsWith('.js')) seen.set(r.name, r.decodedBodySize || r.encodedBodySize || 0);
  }
  const inline = Array.from(document.scripts).filter(s => !s.src)
    .reduce((n, s) => n + s.text.length, 0);
  const files = Array.from(seen.values()).reduce((a, b) => a + b, 0);
  return {files: files, inline: inline, total: files + inline,
          largest_inline: Math.max(0, ...Array.from(document.scripts).filter(s => !s.src)
                                                   .map(s => s.text.length))};
}"""

# What the site tests check on a page, read once after it settled (test_site.py).
PAGE_FACTS = """() => {
  const article = document.querySelector('article.bd-article');
  const items = (window.MathJax && MathJax.startup && MathJax.startup.document)
    ? Array.from(MathJax.startup.document.math || []) : [];
  return {
    broken_images: Array.from(document.images)
      .filter(i => !i.complete || i.naturalWidth === 0).map(i => i.src),
    images: Array.from(document.querySelectorAll('article img'))
      .map(i => [i.getAttribute('src'), i.getAttribute('alt') || '']),
    figure_labels: Array.from(document.querySelectorAll('.course-plotly'))
      .map(d => d.getAttribute('aria-label') || ''),
    figures: Array.from(document.querySelectorAll('.course-plotly')).map(gd => ({
      drawn: gd.querySelectorAll('.main-svg').length > 0,
      missing_traces: (window.Plotly && gd.data) ? gd.data.map(t => t.type || 'scatter')
        .filter(t => !Object.keys(Plotly.PlotSchema.get().traces).includes(t)) : ['?'],
    })),
    math: {
      typeset: article ? article.querySelectorAll('mjx-container').length : 0,
      merror: document.querySelectorAll('mjx-merror').length,
      raw: Array.from(document.querySelectorAll('article .math'))
        .filter(e => !e.querySelector('mjx-container')).length,
      count: items.length,
      control: items.map(m => m.math).filter(t => /[\\x00-\\x08\\x0b-\\x1f\\x7f]/.test(t)),
    },
  };
}"""


def axe_script() -> str:
    try:
        from axe_playwright_python.base import AXE_SCRIPT
    except ImportError:
        pytest.fail("axe-playwright-python is not installed: pip install -e '.[dev]'",
                    pytrace=False)
    return AXE_SCRIPT


# Rules whose outcome changes between the light and the dark theme (colours only)
COLOUR_RULES = ["color-contrast", "link-in-text-block"]

# The API page repeats one autodoc template for every module (about 38,000 elements);
# axe's colour-contrast rule alone takes over a minute there on 2 cores. On that page the
# colour rules run on its first section (the same markup and CSS as the rest) and every
# other rule on the whole page.
COLOUR_SAMPLE = {"book/api": "#shared-core-device-checks-measurement-launchers-figures"}


def run_axe(page, script: str, options: dict, context: dict | None = None) -> list[dict]:
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(script)
    return page.evaluate("([c, o]) => axe.run(c || document, o).then(r => r.violations.map("
                         "v => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map("
                         "n => n.target.join(' '))})))", [context, options])


def audit_page(page, script: str, name: str, colour_only: bool = False) -> list[dict]:
    """axe-core's violations on the loaded page ``name``: every rule, or the colour rules."""
    base = {"resultTypes": ["violations"]}
    sample = COLOUR_SAMPLE.get(name)
    found = []
    if not colour_only:
        others = {rule: {"enabled": False} for rule in COLOUR_RULES} if sample else {}
        found += run_axe(page, script, {**base, "rules": others})
    if colour_only or sample:
        context = {"include": [[sample]]} if sample else None
        found += run_axe(page, script, {**base, "runOnly": COLOUR_RULES}, context)
    return found


def mode_context(browser, mode: str):
    """A browser context whose pages open in the theme's ``mode`` ("light" or "dark")."""
    context = browser.new_context(viewport={"width": 1280, "height": 900},
                                  color_scheme=mode)
    # the theme reads the reader's choice from localStorage before it draws
    context.add_init_script(f"localStorage.setItem('mode', '{mode}');"
                            f"localStorage.setItem('theme', '{mode}');")
    return context


@pytest.fixture(scope="session")
def visits(site, browser) -> dict[str, dict]:
    """Every built page visited once, in light mode: {page: facts}.

    One load per page serves every per-page check: console errors and failed requests,
    images, math, figures (``PAGE_FACTS``), the axe-core audit with all its rules, and
    the JavaScript weight. Screenshots of the landing page and the chapters go to
    ``_build/screenshots``.
    """
    script = axe_script()
    chapters = set(toc_pages())
    context = mode_context(browser, "light")
    page = context.new_page()
    page.set_default_timeout(60_000)
    problems = PageProblems(page)
    found: dict[str, dict] = {}
    for name in built_pages():
        problems.errors.clear()
        start = time.perf_counter()
        page.goto(f"{site}/{name}.html")
        settle(page)
        facts = page.evaluate(PAGE_FACTS)
        facts["theme"] = page.evaluate("document.documentElement.dataset.theme")
        facts["js"] = page.evaluate(JS_BYTES)
        # the page's own errors, read before axe-core runs: axe fetches stylesheets
        # itself (an XHR for basic.css from the site root, a 404 that is not the page's)
        facts["errors"] = list(problems.errors)
        facts["violations"] = audit_page(page, script, name)
        facts["seconds"] = time.perf_counter() - start
        if name in chapters and (name.startswith("notebooks/") or name == toc_pages()[0]):
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOTS / f"{name.replace('/', '__')}.png"))
        found[name] = facts
    context.close()
    return found


#: Lines that tests add for the end of the run (axe counts, page weights, load times):
#: printed by pytest_terminal_summary below, whether the tests pass or fail.
REPORT: list[str] = []


def pytest_terminal_summary(terminalreporter):
    if REPORT:
        terminalreporter.section("browser audit: accessibility, page weight, page speed")
        for line in REPORT:
            terminalreporter.write_line(line)


class PageProblems:
    """Console errors, page errors and failed requests seen while a page loads."""

    def __init__(self, page):
        self.errors: list[str] = []
        page.on("console", lambda m: m.type == "error" and self.errors.append(
            f"console: {m.text}"))
        page.on("pageerror", lambda e: self.errors.append(f"page error: {e}"))
        page.on("requestfailed", lambda r: self.errors.append(f"failed: {r.url}"))
        page.on("response", lambda r: r.status >= 400 and self.errors.append(
            f"HTTP {r.status}: {r.url}"))


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900},
                                  color_scheme="light")
    pg = context.new_page()
    pg.problems = PageProblems(pg)
    yield pg
    context.close()
