"""Every internal link and asset reference in the built book resolves; external
links are collected into _build/external_links.txt for `make linkcheck` wherever a
network exists (CI has none)."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urldefrag, urlparse

ROOT = Path(__file__).resolve().parents[2]
HTML = ROOT / "_build" / "html"


class _Collector(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.add(attrs["id"])
        if tag == "a" and "name" in attrs:
            self.ids.add(attrs["name"])
        for key in ("href", "src"):
            if attrs.get(key) and tag in ("a", "img", "script", "link", "iframe", "source"):
                self.links.append(attrs[key])


def parse(path: Path) -> _Collector:
    collector = _Collector()
    collector.feed(path.read_text(encoding="utf-8"))
    return collector


def test_internal_links_and_anchors_resolve():
    # _static/*.html are theme template fragments, not pages
    pages = {p: parse(p) for p in HTML.rglob("*.html") if "_static" not in p.parts}
    assert len(pages) >= 4
    broken, external = [], set()
    for path, page in pages.items():
        for link in page.links:
            scheme = urlparse(link).scheme
            if scheme in ("http", "https"):
                external.add(link)
                continue
            if scheme in ("mailto", "javascript", "data") or link.startswith("//"):
                continue
            target, fragment = urldefrag(link)
            target = urlparse(target).path  # drop ?digest=... cache busters
            target_path = (path.parent / unquote(target)).resolve() if target else path
            if target_path.is_dir():
                target_path = target_path / "index.html"
            if not target_path.exists():
                broken.append(f"{path.relative_to(HTML)} -> {link}")
            elif fragment and target_path.suffix == ".html":
                ids = pages[target_path].ids if target_path in pages else parse(target_path).ids
                if unquote(fragment) not in ids:
                    broken.append(f"{path.relative_to(HTML)} -> {link} (no such anchor)")
    assert broken == [], "\n".join(broken)
    out = ROOT / "_build" / "external_links.txt"
    out.write_text("\n".join(sorted(external)) + "\n")
    assert any("timdettmers.com" in u for u in external)
