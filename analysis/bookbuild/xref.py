"""Cross references: chapters, sections, figures and tables numbered here, resolved by the Lua filter.

:func:`number_chapters` numbers what the renderers will number (pandoc's
``--number-sections`` with a per-page offset for HTML, one document for Typst) and
returns the map ``{id: {"text", "page", "kind"}}`` that the filter
(``filters/rsa-book.lua``, metadata ``rsa-xref``) substitutes for ``@fig-...``,
``@sec-...`` and ``@tbl-...``.
"""

from __future__ import annotations

import re
from typing import Iterator

from analysis.bookbuild.layout import BookBuildError

_HEADING_RE = re.compile(r"^(#{1,6})\s+(.*?)\s*(?:\{([^}]*)\})?\s*$")
_FIG_DIV_RE = re.compile(r"^:{3,}\s*\{#((?:fig|tbl)-[\w-]+)")
XREF_USE_RE = re.compile(r"(?<![\w@])@((?:fig|sec|tbl)-[\w-]*\w)")


def _scan(markdown: str) -> Iterator[tuple[str, str]]:
    """Yield ("heading", line) and ("fig", id) events outside code and raw blocks."""
    fence = None
    for line in markdown.splitlines():
        m = re.match(r"^(`{3,}|~{3,})", line)
        if m:
            if fence is None:
                fence = m.group(1)
                continue
            if line.strip() == fence or line.startswith(fence) and not line[len(fence):].strip():
                fence = None
                continue
        if fence:
            continue
        if _HEADING_RE.match(line):
            yield "heading", line
        f = _FIG_DIV_RE.match(line)
        if f:
            yield "fig", f.group(1)


def _plain(text: str) -> str:
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    return re.sub(r"[*_`]", "", text).strip()


def number_chapters(chapter_md: list[tuple[str, str]]) -> tuple[list[dict], dict[str, dict]]:
    """Number chapters, sections and figures the way the renderers will.

    ``chapter_md``: ``[(page, markdown)]``. Returns per-chapter info (title,
    number) and the cross-reference map ``{id: {"text", "page", "kind"}}``.
    """
    chapters, xref = [], {}
    chap_no = 0
    for page, md in chapter_md:
        info = {"page": page, "title": page, "number": None}
        counters = [0] * 6
        fig_no = {"fig": 0, "tbl": 0}
        first = True
        for kind, value in _scan(md):
            if kind == "heading":
                m = _HEADING_RE.match(value)
                level, text, attrs = len(m.group(1)), m.group(2), m.group(3) or ""
                unnumbered = ".unnumbered" in attrs.split() or "-" in attrs.split()
                hid = next((a[1:] for a in attrs.split() if a.startswith("#")), None)
                if level == 1:
                    if not unnumbered:
                        chap_no += 1
                        counters = [chap_no] + [0] * 5
                    if first:
                        info["title"] = _plain(text)
                        info["number"] = None if unnumbered else chap_no
                        first = False
                    number = None if unnumbered else str(chap_no)
                    label = "Chapter"
                else:
                    if unnumbered or info["number"] is None:
                        number = None
                    else:
                        counters[level - 1] += 1
                        for j in range(level, 6):
                            counters[j] = 0
                        number = ".".join(str(c) for c in counters[:level])
                    label = "Section"
                if hid:
                    xref[hid] = {"text": f"{label} {number}" if number else _plain(text),
                                 "page": page, "kind": "sec"}
            else:
                k = value[:3]
                fig_no[k] += 1
                num = f"{info['number']}.{fig_no[k]}" if info["number"] else str(fig_no[k])
                if value in xref:
                    raise BookBuildError(f"label {value} is used twice (chapter {page})")
                xref[value] = {"text": f"{'Figure' if k == 'fig' else 'Table'} {num}", "page": page, "kind": k}
        chapters.append(info)
    return chapters, xref


def check_xrefs(md: str, xref: dict, where: str) -> None:
    """Refuse a page that uses a cross-reference nothing defines."""
    missing = sorted({m for m in XREF_USE_RE.findall(md) if m not in xref})
    if missing:
        raise BookBuildError(f"{where}: unknown cross-reference(s) {', '.join('@' + m for m in missing)}")
