"""The offline renderer: the book without Quarto, from registry tools.

jupytext (Rmd reader) turns each ``.qmd`` into a notebook, nbclient executes it
(cached, :mod:`analysis.bookbuild.execute`), :mod:`analysis.bookbuild.convert`
writes pandoc Markdown, pandoc (with ``filters/rsa-book.lua``) writes one HTML
page per chapter (styled by ``templates/page.css``) and a Typst file that the
``typst`` package compiles to PDF. Output: ``_book/``.
"""

from __future__ import annotations

import html as html_lib
import os
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any, Sequence

from analysis import fileio
from analysis.bookbuild.chapters import copy_katex_asset, copy_plotly_asset
from analysis.bookbuild.convert import Converter
from analysis.bookbuild.execute import cell_name, execute_chapter
from analysis.bookbuild.layout import (
    BUILD_DIR, KATEX_ASSET_DIR, OUTPUT_DIR, PLOTLY_ASSET, RESULTS_CHAPTER_DIR, BookBuildError, book_root,
)
from analysis.bookbuild.quarto import book_chapters, load_book_config
from analysis.bookbuild.xref import check_xrefs, number_chapters

#: The Lua filter (cross references, numbered figures, callouts) and the HTML pages' style.
LUA_FILTER: Path = Path(__file__).resolve().parent / "filters" / "rsa-book.lua"
PAGE_CSS: Path = Path(__file__).resolve().parent / "templates" / "page.css"
#: Math on the HTML pages: the local KaTeX renders pandoc's ``span.math`` (as Quarto's katex method).
KATEX_HEAD: str = (
    f'<link rel="stylesheet" href="{KATEX_ASSET_DIR}/katex.min.css">\n'
    f'<script defer src="{KATEX_ASSET_DIR}/katex.min.js"></script>\n'
    "<script>document.addEventListener('DOMContentLoaded', function () {\n"
    "  document.querySelectorAll('span.math').forEach(function (el) {\n"
    "    katex.render(el.textContent, el, {displayMode: el.classList.contains('display'), throwOnError: false});\n"
    "  });\n});</script>"
)


def _page_name(chapter: str) -> str:
    stem = Path(chapter).stem
    return "index.html" if chapter == "index.qmd" else f"{stem}.html"


def _pandoc(args: list[str], text: str, where: str) -> str:
    import pypandoc

    proc = subprocess.run([pypandoc.get_pandoc_path(), *args], input=text, capture_output=True,
                          text=True, encoding="utf-8")
    problems = [ln for ln in proc.stderr.splitlines()
                if "RSA-XREF-MISSING" in ln or "Citeproc: citation" in ln]
    if proc.returncode != 0 or problems:
        raise BookBuildError(f"pandoc failed for {where}:\n{proc.stderr.strip()}")
    return proc.stdout


def render_offline(root: str | os.PathLike | None = None, formats: Sequence[str] = ("html", "typst"),
                   code: Sequence[Path] | None = None, log=print) -> dict[str, Any]:
    """Render the book without Quarto (jupytext, nbclient, pandoc, typst) into ``_book/``.

    Result chapters must already be executed (:func:`make_chapters`). Prose
    chapters are executed here, with a cache under ``_build/cache`` keyed on ``code``
    too (the modules the chapters call; see :func:`keys.environment_key`). Returns
    ``{"pages": [...], "pdf": path or None, "seconds": float}``.
    """
    import yaml

    t0 = time.time()
    root = book_root(root)
    cfg = load_book_config(root)
    chapters = book_chapters(cfg)
    book = cfg.get("book", {}) or {}
    title = str(book.get("title", "Book"))
    build = root / BUILD_DIR
    out = root / OUTPUT_DIR
    out.mkdir(parents=True, exist_ok=True)
    build.mkdir(parents=True, exist_ok=True)
    exec_defaults = dict(cfg.get("execute", {}) or {})
    bib = cfg.get("bibliography") or book.get("bibliography")
    bibs = [bib] if isinstance(bib, str) else list(bib or [])
    bib_args = [f"--bibliography={root / b}" for b in bibs]
    csl = cfg.get("csl")
    if csl:
        bib_args.append(f"--csl={root / csl}")

    notebooks = []
    for ch in chapters:
        path = root / ch
        if not path.is_file():
            raise BookBuildError(f"chapter {ch} listed in the book does not exist"
                                 + (" (run make_chapters)" if ch.startswith(RESULTS_CHAPTER_DIR) else ""))
        nb = execute_chapter(path, root, build / "cache", code=code, log=log)
        if path.suffix == ".ipynb":
            errors = [i for i, c in enumerate(nb.cells) if any(
                o.get("output_type") == "error" for o in c.get("outputs", []))]
            if errors:
                raise BookBuildError(f"chapter {ch}: {cell_name(nb.cells[errors[0]], errors[0])} holds an error output")
        notebooks.append((ch, nb))

    pages = [_page_name(ch) for ch in chapters]
    md = {}
    for target in formats:
        media_dir = (out / "figures") if target == "html" else (build / "figures")
        conv = Converter(target, exec_defaults, media_dir, "figures")
        md[target] = [(page, conv.notebook(nb, Path(ch).stem)) for (ch, nb), page in zip(notebooks, pages)]
    first = md[formats[0]]
    infos, xref = number_chapters(first)
    for page, text in first:
        check_xrefs(text, xref, page)
    lua = LUA_FILTER
    css = "\n" + PAGE_CSS.read_text(encoding="utf-8")
    cited = set()
    for _, text in first:
        cited |= set(re.findall(r"@([A-Za-z][\w:.#$%&+?<>~/-]*\w)", text))
    cited = sorted(c for c in cited if not re.match(r"(fig|sec|tbl)-", c))
    result: dict[str, Any] = {"pages": [], "pdf": None}

    if "html" in formats:
        copy_plotly_asset(root)
        (out / "assets").mkdir(exist_ok=True)
        shutil.copyfile(root / PLOTLY_ASSET, out / PLOTLY_ASSET)
        katex_src = copy_katex_asset(root)
        shutil.copytree(katex_src, out / KATEX_ASSET_DIR, dirs_exist_ok=True)
        nav_items = []
        for info in infos:
            label = f"{info['number']}&nbsp; " if info["number"] else ""
            nav_items.append((info["page"], f"{label}{html_lib.escape(info['title'])}"))
        refs_page = next((pg for pg, t in md["html"] if "{#refs}" in t), "references.html")
        for i, (page, text) in enumerate(md["html"]):
            meta = {"rsa-target": "html", "link-citations": True,
                    "rsa-xref": {k: {"text": v["text"], "href": (f"{v['page']}#{k}" if v["page"] != page
                                                                  else f"#{k}")} for k, v in xref.items()}}
            if "{#refs}" in text:
                meta["nocite"] = ", ".join(f"@{c}" for c in cited) or None
            else:
                meta["suppress-bibliography"] = True  # one reference list: the references page
            meta_file = build / f"{page}.meta.yaml"
            meta_file.write_text(yaml.safe_dump({k: v for k, v in meta.items() if v is not None}), encoding="utf-8")
            args = ["-f", "markdown", "-t", "html5", f"--lua-filter={lua}", "--citeproc",
                    f"--metadata-file={meta_file}", "--section-divs", "--wrap=none", "--katex", *bib_args]
            if infos[i]["number"]:
                args += ["--number-sections", f"--number-offset={infos[i]['number'] - 1}"]
            body = _pandoc(args, text, f"chapter page {page}")
            if "{#refs}" not in text:  # citations link to the one reference list
                body = body.replace('href="#ref-', f'href="{refs_page}#ref-')
            nav = "\n".join(
                f'<li class="{"active" if p == page else ""}"><a href="{p}">{t}</a></li>' for p, t in nav_items)
            prev_link = (f'<a href="{nav_items[i - 1][0]}">← {nav_items[i - 1][1]}</a>' if i > 0 else "<span></span>")
            next_link = (f'<a href="{nav_items[i + 1][0]}">{nav_items[i + 1][1]} →</a>'
                         if i + 1 < len(nav_items) else "<span></span>")
            plotly = f'<script src="{PLOTLY_ASSET}"></script>' if "Plotly.newPlot" in body else ""
            if 'class="math' in body:
                plotly += "\n" + KATEX_HEAD
            page_title = f"{infos[i]['title']} – {title}"
            doc = (
                "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
                "<link rel=\"icon\" href=\"data:,\">\n"
                f"<title>{html_lib.escape(page_title)}</title>\n<style>{css}</style>\n{plotly}\n</head>\n"
                f"<body>\n<div class=\"layout\">\n<nav class=\"sidebar\"><a class=\"book-title\" href=\"index.html\">"
                f"{html_lib.escape(title)}</a>\n<ol>\n{nav}\n</ol>\n</nav>\n<main>\n{body}\n"
                f"<nav class=\"page-nav\">{prev_link}{next_link}</nav>\n</main>\n</div>\n</body>\n</html>\n"
            )
            fileio.write_text_atomic(out / page, doc)
            result["pages"].append(out / page)
        for stale in set(out.glob("*.html")) - set(result["pages"]):
            stale.unlink()  # a chapter no longer in the grid (e.g. after DEPTHS=... shrank)

    if "typst" in formats:
        combined = "\n\n".join(text for _, text in md["typst"])
        meta = {"rsa-target": "typst", "title": title,
                "rsa-xref": {k: {"text": v["text"], "href": f"#{k}"} for k, v in xref.items()}}
        for k in ("subtitle", "author", "date"):
            if book.get(k):
                meta[k] = book[k] if k != "date" or book[k] not in ("today", "last-modified") \
                    else time.strftime("%Y-%m-%d")
        typst_cfg = ((cfg.get("format") or {}).get("typst") or {})
        if typst_cfg.get("margin"):
            meta["margin"] = dict(typst_cfg["margin"])
        meta_file = build / "book.typst.meta.yaml"
        meta_file.write_text(yaml.safe_dump(meta), encoding="utf-8")
        header = build / "typst-header.typ"
        header.write_text(
            "#set figure(numbering: none)\n"
            "#show heading.where(level: 1): it => { pagebreak(weak: true); it }\n"
            "#show link: set text(fill: rgb(\"#1f4e8c\"))\n", encoding="utf-8")
        args = ["-f", "markdown", "-t", "typst", "--standalone", f"--lua-filter={lua}", "--citeproc",
                f"--metadata-file={meta_file}", f"--include-in-header={header}", "--toc",
                "--number-sections", "-V", f"papersize={typst_cfg.get('papersize', 'a4')}", "-V", "page-numbering=1", *bib_args]
        typ = _pandoc(args, combined, "the PDF (typst)")
        typ_path = build / "book.typ"
        typ_path.write_text(typ, encoding="utf-8")
        if "@preview/" in typ:
            raise BookBuildError("the Typst source imports a @preview package (needs the network)")
        import typst

        pdf_name = f"{book.get('output-file', 'book')}.pdf"
        pdf = out / pdf_name
        try:
            with fileio.atomic_path(pdf, suffix=".pdf") as tmp_pdf:
                typst.compile(str(typ_path), output=str(tmp_pdf), root=str(root))
        except Exception as err:  # typst raises its own error type
            raise BookBuildError(f"typst could not compile {typ_path}: {err}") from None
        result["pdf"] = pdf
    result["seconds"] = time.time() - t0
    log(f"book rendered in {result['seconds']:.1f} s -> {out}")
    return result
