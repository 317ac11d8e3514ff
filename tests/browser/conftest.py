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
    """Every HTML page of the built book (not theme fragments, not page sources)."""
    return sorted(str(p.relative_to(HTML).with_suffix("")) for p in HTML.rglob("*.html")
                  if not {"_static", "_sources"} & set(p.relative_to(HTML).parts))


def settle(page) -> None:
    """Wait until MathJax has typeset and every interactive figure is drawn."""
    page.wait_for_load_state("networkidle")
    if page.evaluate("!!(window.MathJax && MathJax.startup)"):
        page.evaluate("MathJax.startup.promise")
    for div in page.locator(".course-plotly").all():
        div.scroll_into_view_if_needed()  # figures are drawn when they come into view
        div.locator(".main-svg").first.wait_for(timeout=15000)


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
