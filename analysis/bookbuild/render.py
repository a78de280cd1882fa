"""The whole build: result chapters, then ``quarto render`` when Quarto is installed, else offline."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping, Sequence

from analysis.bookbuild.chapters import make_chapters
from analysis.bookbuild.layout import book_root
from analysis.bookbuild.offline import render_offline
from analysis.bookbuild.quarto import quarto_executable, quarto_render


def render(grid: Sequence[tuple[str, int]], source: str, labels: Mapping[str, str],
           parameters: Mapping[str, Any] | None = None, code: Sequence[Path] | None = None,
           root: str | os.PathLike | None = None, offline: bool | None = None, log=print) -> dict[str, Any]:
    """Make the result chapters (:func:`make_chapters`), then render the book into ``_book/``.

    ``quarto render`` when Quarto is on PATH (and ``offline`` is not True), else
    :func:`render_offline`. Returns ``{"pages", "pdf", "seconds"}``.
    """
    root = book_root(root)
    make_chapters(grid, source, labels, parameters, code=code, root=root, log=log)
    quarto = quarto_executable()
    if quarto and not offline:
        return quarto_render(root, quarto)
    return render_offline(root, code=code, log=log)
