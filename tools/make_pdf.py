"""Print the whole book to one PDF with headless Chromium: ``make pdf``.

``make pdf`` first builds the book as one HTML page (``jupyter-book build . --builder
singlehtml``, into ``_build/singlehtml``; notebooks come from the same jupyter-cache as
the HTML book, nothing is executed twice). This script then serves that page on
127.0.0.1, opens it in Debian's Chromium through Playwright (no browser download), waits
until MathJax has typeset and every interactive (Plotly) figure is drawn, opens the
folded cells (worked answers, solutions), and prints it to ``_build/pdf/book.pdf``. A copy
goes to ``_build/html/book.pdf``, which the landing page links (``../book.pdf``), so the
published site offers the PDF beside the pages.

Jupyter Book's own ``pdfhtml`` builder needs pyppeteer, which downloads its own Chromium;
this does the same with the system one.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import os
import re
import shutil
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SINGLE = ROOT / "_build" / "singlehtml"
OUT = ROOT / "_build" / "pdf" / "book.pdf"
SITE_COPY = ROOT / "_build" / "html" / "book.pdf"

# A4 at 96 CSS px per inch, less the margins below: figures are laid out at this width
PAGE_WIDTH_PX = 720
PREPARE = """() => {
  // folded cells (hide-input/-output/-cell: worked answers, solutions) are open in print
  document.querySelectorAll('details').forEach(d => { d.open = true; });
  document.querySelectorAll('.toggle-hidden').forEach(e => e.classList.remove('toggle-hidden'));
  document.querySelectorAll('button.toggle-button').forEach(b => b.remove());
  // plotly figures: no mode bar in print; redraw at the printed width
  document.querySelectorAll('.course-plotly .modebar-container').forEach(e => e.remove());
  if (window.Plotly) {
    return Promise.all(Array.from(document.querySelectorAll('.course-plotly'))
      .map(d => Plotly.Plots.resize(d)));
  }
}"""


def chromium_path() -> str | None:
    """The system Chromium, looked up as tests/browser/conftest.py does."""
    for candidate in (os.environ.get("CHROMIUM"), "chromium", "chromium-browser",
                      "google-chrome", "/usr/bin/chromium"):
        if candidate and shutil.which(candidate):
            return shutil.which(candidate)
    return None


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def print_pdf(single: Path = SINGLE, out: Path = OUT, timeout_ms: int = 120_000) -> Path:
    """Print ``single/index.html`` to ``out``; returns ``out``."""
    from playwright.sync_api import sync_playwright

    if not (single / "index.html").exists():
        raise SystemExit(f"{single}/index.html missing: run "
                         "`jupyter-book build . --builder singlehtml` (make pdf does)")
    chromium = chromium_path()
    if chromium is None:
        raise SystemExit("no Chromium found (Debian: apt-get install chromium)")
    # Jupyter Book writes the one page as <root doc>.html (book/intro.html) with links
    # relative to the folder's root, and index.html redirecting to it: print a copy at
    # the root, where its links resolve
    redirect = re.search(r'url=([^"]+)"', (single / "index.html").read_text())
    source = single / (redirect.group(1) if redirect else "index.html")
    shutil.copy2(source, single / "_print.html")
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_Quiet, directory=str(single)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium,
                                        args=["--no-sandbox", "--disable-gpu"])
            errors: list[str] = []
            page = browser.new_page(viewport={"width": PAGE_WIDTH_PX, "height": 1000},
                                    color_scheme="light")
            page.set_default_timeout(timeout_ms)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("requestfailed", lambda r: errors.append(f"failed: {r.url}"))
            page.goto(f"http://127.0.0.1:{server.server_address[1]}/_print.html")
            page.wait_for_load_state("networkidle")
            if page.evaluate("!!(window.MathJax && MathJax.startup)"):
                page.evaluate("MathJax.startup.promise")
            figures = page.locator(".course-plotly")
            for i in range(figures.count()):  # drawn when they come into view
                figures.nth(i).scroll_into_view_if_needed()
                figures.nth(i).locator(".main-svg").first.wait_for()
            if errors:
                raise SystemExit("the book page did not load cleanly:\n" + "\n".join(errors))
            page.evaluate(PREPARE)
            page.emulate_media(media="print")
            out.parent.mkdir(parents=True, exist_ok=True)
            # tagged: an accessible PDF (structure, reading order), which Chromium needs
            # for outline: the headings become bookmarks. About twice the size untagged.
            page.pdf(path=str(out), format="A4", print_background=True, outline=True,
                     tagged=True,
                     margin={"top": "16mm", "bottom": "16mm", "left": "14mm", "right": "14mm"},
                     display_header_footer=True, header_template="<span></span>",
                     footer_template='<div style="font-size:8px;width:100%;text-align:center">'
                                     '<span class="pageNumber"></span> / '
                                     '<span class="totalPages"></span></div>')
            browser.close()
    finally:
        server.shutdown()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--single", type=Path, default=SINGLE, help="singlehtml build folder")
    parser.add_argument("--out", type=Path, default=OUT, help="the PDF to write")
    args = parser.parse_args(argv)
    out = print_pdf(args.single, args.out)
    if (ROOT / "_build" / "html").is_dir() and args.out == OUT:
        shutil.copy2(out, SITE_COPY)
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB)"
          + (f" and {SITE_COPY.relative_to(ROOT)}" if SITE_COPY.exists() else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
