"""The built site is local: no page loads a script, stylesheet, image or font from another host.

:func:`external_references` lists what a page would fetch from elsewhere;
:func:`localize_site` removes the CDN scripts Quarto adds to pages with HTML outputs
(require.js and jQuery, for "javascript widgets" the book does not use), gives each
page an empty icon (no ``/favicon.ico`` request) and raises
:class:`BookBuildError` when anything external remains. ``_site_local.py`` runs it as
Quarto's post-render step; the offline renderer writes local pages to begin with.
"""

from __future__ import annotations

import os
import re
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

from analysis.bookbuild.layout import OUTPUT_DIR, BookBuildError

#: Quarto's widget support: these tags are removed (the figures need neither library).
_QUARTO_CDN = [
    re.compile(r'<script src="https://cdn\.jsdelivr\.net/npm/requirejs@[^"]*/require\.min\.js"[^>]*></script>\s*'),
    re.compile(r'<script src="https://cdn\.jsdelivr\.net/npm/jquery@[^"]*/jquery\.min\.js"[^>]*></script>\s*'),
    re.compile(r'<script type="application/javascript">define\(\'jquery\', \[\],function\(\) '
               r'\{return window\.jQuery;\}\)</script>\s*'),
]


class _Refs(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.refs: list[tuple[str, str]] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag in ("script", "img", "iframe", "source", "video", "audio") and a.get("src"):
            self.refs.append((tag, a["src"]))
        if tag == "link" and a.get("href"):
            self.refs.append((tag, a["href"]))


def is_external(url: str) -> bool:
    """True for a URL on another host (``https://...``, ``//host/...``); data: URLs are local."""
    parts = urlsplit(url.strip())
    return bool(parts.netloc) or parts.scheme not in ("", "data")


def external_references(html: str) -> list[tuple[str, str]]:
    """``(tag, url)`` of every script/link/img/iframe/media reference of a page to another host,
    and every ``url(...)`` in its inline styles and ``@import``s that points elsewhere."""
    parser = _Refs()
    parser.feed(html)
    out = [(t, u) for t, u in parser.refs if is_external(u)]
    for style in re.findall(r"<style[^>]*>(.*?)</style>", html, flags=re.S | re.I):
        for u in re.findall(r"url\(\s*['\"]?([^'\")]+)", style) + re.findall(r"@import\s*['\"]([^'\"]+)", style):
            if is_external(u):
                out.append(("style", u))
    return out


def localize_site(out_dir: str | os.PathLike) -> list[Path]:
    """Strip Quarto's CDN widget scripts from every page under ``out_dir``; check the rest.

    Also checks every stylesheet (``.css``) for ``@import``/``url()`` of another host.
    Returns the pages changed. Raises BookBuildError listing what external remains.
    """
    out_dir = Path(out_dir)
    changed, problems = [], []
    for page in sorted(out_dir.rglob("*.html")):
        text = page.read_text(encoding="utf-8")
        new = text
        for pat in _QUARTO_CDN:
            new = pat.sub("", new)
        if 'rel="icon"' not in new:  # else a browser asks for /favicon.ico: a 404 in the console
            new = new.replace("</head>", '<link rel="icon" href="data:,">\n</head>', 1)
        if new != text:
            page.write_text(new, encoding="utf-8")
            changed.append(page)
        problems += [f"{page.relative_to(out_dir)}: <{t}> {u}" for t, u in external_references(new)]
    for css in sorted(out_dir.rglob("*.css")):
        text = css.read_text(encoding="utf-8", errors="replace")
        for u in re.findall(r"url\(\s*['\"]?([^'\")]+)", text) + re.findall(r"@import\s*['\"]([^'\"]+)", text):
            if is_external(u):
                problems.append(f"{css.relative_to(out_dir)}: {u}")
    if problems:
        raise BookBuildError("the site loads resources from other hosts:\n  " + "\n  ".join(problems))
    return changed


def main() -> None:
    """Quarto post-render entry: the project's output folder (``QUARTO_PROJECT_OUTPUT_DIR``)."""
    out = os.environ.get("QUARTO_PROJECT_OUTPUT_DIR") or OUTPUT_DIR
    try:
        localize_site(out)
    except BookBuildError as err:
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(1)
