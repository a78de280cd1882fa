"""The bibliography: every citation resolves, every entry is complete enough to find."""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: Quarto cross-reference prefixes (not citations).
CROSSREF = ("fig-", "tbl-", "sec-", "eq-", "lst-", "thm-", "lem-")
#: Fields every entry needs, plus one of doi/url.
REQUIRED = ("author", "title", "year")


def parse_bib(text: str) -> dict[str, dict[str, str]]:
    """``{key: {field: value}}`` of a BibTeX file (entries ``@type{key, field = {...}, ...}``)."""
    entries: dict[str, dict[str, str]] = {}
    for m in re.finditer(r"@(\w+)\s*\{\s*([^,\s]+)\s*,", text):
        start, depth, i = m.end(), 1, m.end()
        while depth and i < len(text):  # the entry ends at its matching brace
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        body = text[start:i - 1]
        fields = {}
        for f in re.finditer(r"(\w+)\s*=\s*", body):
            j = f.end()
            if body[j] == "{":
                d, k = 1, j + 1
                while d:
                    d += {"{": 1, "}": -1}.get(body[k], 0)
                    k += 1
                value = body[j + 1:k - 1]
            else:
                value = re.match(r"[^,\n]*", body[j:]).group(0)
            fields.setdefault(f.group(1).lower(), value.strip())
        entries[m.group(2)] = {"type": m.group(1).lower(), **fields}
    return entries


def _prose(path: Path) -> str:
    """The Markdown of a chapter without its code (fenced blocks, inline code)."""
    if path.suffix == ".ipynb":
        nb = json.loads(path.read_text())
        text = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")
    else:
        text = path.read_text()
    text = re.sub(r"^(```|~~~).*?^\1", "", text, flags=re.S | re.M)
    return re.sub(r"`[^`\n]*`", "", text)


def cited_keys() -> dict[str, set[str]]:
    """``{citation key: {files citing it}}`` over index.qmd and chapters/."""
    files = [ROOT / "index.qmd", *sorted((ROOT / "chapters").glob("*.qmd")),
             *sorted((ROOT / "chapters").glob("*.ipynb"))]
    keys: dict[str, set[str]] = {}
    for path in files:
        for key in re.findall(r"(?<![\w@.])@([A-Za-z][\w:.-]*[\w])", _prose(path)):
            if not key.startswith(CROSSREF):
                keys.setdefault(key, set()).add(path.name)
    return keys


BIB = parse_bib((ROOT / "references.bib").read_text())


def test_parser_reads_the_file():
    assert len(BIB) >= 10
    assert BIB["yamins2014"]["pages"] == "8619--8624"
    assert BIB["devries2020"]["author"].startswith("{de Vries}, Saskia")


def test_every_citation_is_in_the_bibliography():
    keys = cited_keys()
    assert {"yamins2014", "konkle2020", "bakhtiari2021", "devries2020"} <= set(keys)
    missing = {k: sorted(v) for k, v in keys.items() if k not in BIB}
    assert not missing, f"cited but not in references.bib: {missing}"


def test_every_entry_is_complete():
    for key, entry in BIB.items():
        for field in REQUIRED:
            assert entry.get(field), f"{key}: no {field}"
        assert entry.get("doi") or entry.get("url"), f"{key}: neither doi nor url"
        assert re.fullmatch(r"\d{4}", entry["year"]), f"{key}: year {entry['year']!r}"
        if entry.get("doi"):
            assert re.fullmatch(r"10\.\d{4,9}/\S+", entry["doi"]), f"{key}: doi {entry['doi']!r}"


def test_articles_have_journal_volume_pages():
    for key, entry in BIB.items():
        if entry["type"] == "article":
            for field in ("journal", "volume", "pages"):
                assert entry.get(field), f"{key}: article without {field}"


def test_the_original_studys_three_findings_are_cited_in_the_background():
    text = _prose(ROOT / "chapters" / "background.qmd")
    for key in ("yamins2014", "konkle2020", "bakhtiari2021"):
        assert f"@{key}" in text
