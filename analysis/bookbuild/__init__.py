"""The book build: executed chapters, the chapter list, and rendering into ``_book/``.

It imports no science: what the book is about arrives as arguments (the grid of
(stimulus, depth), the source, the display labels of the stimuli, the template's
other parameters and the modules the chapters call, for the cache key);
:func:`analysis.report.book_spec` computes them for this study. A test
(``tests/test_layering.py``) holds every module here to that.

Modules, in build order
-----------------------
``layout``     where the sources live (template, generated profile, settings), the kernels' contract
``keys``       cache keys: hashes, the environment key, recorded reads, the kernels' environment
``chapters``   result chapters from the template (papermill), ``_book.json``, ``_quarto-grid.yml``
``quarto``     the active Quarto profile's configuration; the ``quarto render`` call
``execute``    prose chapters executed (jupytext + nbclient), cached
``convert``    executed notebooks -> pandoc Markdown (per target)
``xref``       numbering of chapters, sections, figures, tables; cross-reference checks
``offline``    the offline renderer: pandoc (+ ``filters/rsa-book.lua``, ``templates/page.css``) and Typst
``render``     all of it: chapters, then Quarto or the offline renderer

The robustness chapter (``chapters/robustness.qmd``) is ALWAYS in the chapter list,
after the result chapters and before the conclusion, so chapter numbers and
cross-references (``@sec-robustness``) do not depend on which tables exist.
"""

from analysis.bookbuild.chapters import copy_plotly_asset, make_chapters, validate_grid, write_chapter_list
from analysis.bookbuild.layout import (
    BACK_CHAPTERS, FRONT_CHAPTERS, PROFILE, PROFILE_FILE, ROBUSTNESS_CHAPTER, SETTINGS_FILE, TEMPLATE,
    BookBuildError, book_root, chapter_list, chapter_path, chapter_slug,
)
from analysis.bookbuild.offline import render_offline
from analysis.bookbuild.quarto import book_chapters, load_book_config
from analysis.bookbuild.render import render

__all__ = [
    "BACK_CHAPTERS", "FRONT_CHAPTERS", "PROFILE", "PROFILE_FILE", "ROBUSTNESS_CHAPTER", "SETTINGS_FILE",
    "TEMPLATE", "BookBuildError", "book_chapters", "book_root", "chapter_list", "chapter_path",
    "chapter_slug", "copy_plotly_asset", "load_book_config", "make_chapters", "render", "render_offline",
    "validate_grid", "write_chapter_list",
]
