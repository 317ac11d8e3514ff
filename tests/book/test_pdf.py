"""The PDF of the whole book (``make pdf``: _build/pdf/book.pdf, offered on the landing
page as ../book.pdf): every page of the table of contents is in it, with a bookmark, and
so is every figure: the images, and the interactive figures drawn as vector graphics."""

from __future__ import annotations

import json
import re
from functools import lru_cache
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
HTML = ROOT / "_build" / "html"
PDF = ROOT / "_build" / "pdf" / "book.pdf"
SITE_PDF = HTML / "book.pdf"


def _toc_pages() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    pages = [toc["root"]]
    for part in toc["parts"]:
        pages += [chapter["file"] for chapter in part["chapters"]]
    return pages


class _Page(HTMLParser):
    """The first <h1> of a built page, and the images and interactive figures in it."""

    def __init__(self):
        super().__init__()
        self.title, self._in_h1, self.images, self.figures = None, False, set(), 0
        self._in_article = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "article":
            self._in_article = True
        if tag == "h1" and self.title is None and self._in_article:
            self._in_h1, self.title = True, ""
        if self._in_article and tag == "img" and "_images/" in (attrs.get("src") or ""):
            self.images.add(attrs["src"].rsplit("/", 1)[-1])
        if "course-plotly" in (attrs.get("class") or "").split():
            self.figures += 1

    def handle_endtag(self, tag):
        if tag == "h1":
            self._in_h1 = False
        if tag == "article":
            self._in_article = False

    def handle_data(self, data):
        if self._in_h1:
            self.title += data


def _built(name: str) -> _Page:
    path = HTML / f"{name}.html"
    assert path.exists(), f"{name}.html is not built: run `make build`"
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


def _squash(text: str) -> str:
    """Letters and digits only, lower case: line breaks and ligatures do not matter."""
    return re.sub(r"[^0-9a-z]", "", text.lower().replace("\ufb01", "fi").replace("\ufb02", "fl"))


@lru_cache(maxsize=1)
def _reader():
    from pypdf import PdfReader

    if not PDF.exists():
        pytest.fail(f"{PDF.relative_to(ROOT)} is missing: run `make pdf`", pytrace=False)
    return PdfReader(PDF)


@lru_cache(maxsize=1)
def _text() -> str:
    return _squash(" ".join(page.extract_text() or "" for page in _reader().pages))


def _bookmarks() -> list[str]:
    titles = []

    def walk(items):
        for item in items:
            if isinstance(item, list):
                walk(item)
            else:
                titles.append(_squash(item.title))

    walk(_reader().outline)
    return titles


def _images(obj) -> int:
    """Raster images drawn by a page (or a form XObject inside it)."""
    resources = obj.get("/Resources")
    xobjects = resources.get_object().get("/XObject") if resources is not None else None
    if xobjects is None:
        return 0
    count = 0
    for ref in xobjects.get_object().values():
        x = ref.get_object()
        count += 1 if x.get("/Subtype") == "/Image" else (
            _images(x) if x.get("/Subtype") == "/Form" else 0)
    return count


def _figure_titles(name: str) -> list[str]:
    """The titles the interactive figures of a page draw (from their Plotly specs)."""
    html = (HTML / f"{name}.html").read_text(encoding="utf-8")
    titles = []
    for payload in re.findall(r"var spec = (\{.*?\});\n", html):
        layout = json.loads(payload.replace("<\\/", "</")).get("layout", {})
        title = layout.get("title", {})
        text = title.get("text") if isinstance(title, dict) else title
        if not text:
            axis = layout.get("xaxis", {}).get("title", {})
            text = axis.get("text") if isinstance(axis, dict) else axis
        if text:
            titles.append(re.sub(r"<[^>]+>", " ", text))
    return titles


def test_pdf_is_a_real_book():
    reader = _reader()
    assert len(reader.pages) >= 3 * len(_toc_pages()), len(reader.pages)
    assert _squash("GPUs for Deep Learning") in _text()


@pytest.mark.parametrize("name", _toc_pages())
def test_every_chapter_is_in_the_pdf_with_a_bookmark(name):
    title = _built(name).title
    assert title and title.strip(), f"{name}: no <h1> title in the built page"
    assert _squash(title) in _text(), f"chapter {title!r} ({name}) is not in the PDF"
    if name != _toc_pages()[0]:  # the root page's title is the book's, the top bookmark
        assert any(_squash(title) in b for b in _bookmarks()), f"no bookmark for {title!r}"


def test_pdf_has_every_figure():
    pages = {name: _built(name) for name in _toc_pages()}
    # each distinct image of the book (matplotlib figures, diagrams) is embedded
    expected = set().union(*(p.images for p in pages.values()))
    embedded = sum(_images(page) for page in _reader().pages)
    assert len(expected) >= 10, f"only {len(expected)} images in the built book"
    assert embedded >= len(expected), (
        f"{embedded} images in the PDF, {len(expected)} distinct images in the book")
    # the interactive figures are printed as drawn (vector): the titles they draw are text
    titles = {n: _figure_titles(n) for n, p in pages.items() if p.figures}
    assert sum(len(v) for v in titles.values()) >= 3, titles
    missing = [(n, t) for n, ts in titles.items() for t in ts if _squash(t) not in _text()]
    assert missing == [], f"interactive figures missing from the PDF: {missing}"


def test_the_landing_page_offers_the_pdf():
    intro = (HTML / "book" / "intro.html").read_text(encoding="utf-8")
    assert 'href="../book.pdf"' in intro
    assert SITE_PDF.exists(), "make pdf copies the PDF into the site as _build/html/book.pdf"
    assert SITE_PDF.read_bytes() == PDF.read_bytes()
