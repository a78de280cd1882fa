"""Executing prose chapters (``.qmd`` through jupytext, then nbclient), cached."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any, Sequence

from analysis import fileio
from analysis.bookbuild import keys
from analysis.bookbuild.layout import KERNEL_ARGUMENTS, BookBuildError

_OPTION_RE = re.compile(r"^#\|\s?(.*)$")


def cell_options(source: str) -> tuple[dict[str, Any], str]:
    """Split Quarto ``#|`` option lines off a code cell: returns ``(options, code)``."""
    import yaml

    lines = source.splitlines()
    opts, i = [], 0
    while i < len(lines) and _OPTION_RE.match(lines[i]):
        opts.append(_OPTION_RE.match(lines[i]).group(1))
        i += 1
    options = yaml.safe_load("\n".join(opts)) if opts else {}
    return (options or {}), "\n".join(lines[i:])


def read_chapter_notebook(path: Path):
    """A chapter as a notebook: ``.ipynb`` read as is, ``.qmd`` through jupytext's Rmd reader."""
    import jupytext
    import nbformat

    if path.suffix == ".ipynb":
        return nbformat.read(path, as_version=4)
    if path.suffix in (".qmd", ".md", ".Rmd"):
        return jupytext.reads(path.read_text(encoding="utf-8"), fmt="Rmd")
    raise BookBuildError(f"chapter {path}: unsupported file type {path.suffix!r} (.qmd or .ipynb)")


def cell_name(cell, index: int) -> str:
    """``cell 3 (label fig-x): first code line`` (for error messages)."""
    opts, code = cell_options(cell.source)
    label = opts.get("label")
    first = next((ln for ln in code.splitlines() if ln.strip()), "")
    return f"cell {index}" + (f" (label {label})" if label else "") + (f": {first.strip()[:80]}" if first else "")


def execute_chapter(path: Path, root: Path, cache_dir: Path, code: Sequence[Path] | None = None, log=print):
    """The executed notebook of a ``.qmd`` chapter, from cache when nothing it depends on changed.

    The cache key is the chapter source hash plus :func:`keys.environment_key` of
    ``code``; the entry also records the hash of every file the chapter read
    (result tables, provenance, book settings) and is stale when any changed.
    """
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    rel = path.relative_to(root).as_posix()
    nb = read_chapter_notebook(path)
    if path.suffix == ".ipynb" or not any(c.cell_type == "code" for c in nb.cells):
        return nb
    key = keys.sha(path.read_bytes() + keys.environment_key(code).encode())
    entry = cache_dir / (rel.replace("/", "__") + ".ipynb")
    if entry.is_file():
        try:
            cached = nbformat.read(entry, as_version=4)
            meta = cached.metadata.get("rsa_book", {})
            if meta.get("key") == key and keys.reads_unchanged(meta.get("reads", {})):
                log(f"chapter {rel}: cached")
                return cached
        except Exception:
            pass
    t0 = time.time()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    with keys.kernel_env(root) as reads_log:
        client = NotebookClient(nb, timeout=1200, kernel_name="python3", extra_arguments=KERNEL_ARGUMENTS,
                                resources={"metadata": {"path": str(path.parent)}})
        try:
            client.execute()
        except CellExecutionError as err:
            idx = next((i for i, c in enumerate(nb.cells) if any(
                o.get("output_type") == "error" for o in c.get("outputs", []))), None)
            where = cell_name(nb.cells[idx], idx) if idx is not None else "a cell"
            ename = getattr(err, "ename", "error")
            evalue = getattr(err, "evalue", str(err))
            raise BookBuildError(f"chapter {rel}: {where} failed: {ename}: {evalue}") from None
        reads = keys.reads_hashes(reads_log.read_text().split())
    nb.metadata["rsa_book"] = {"key": key, "reads": reads}
    fileio.write_text_atomic(entry, nbformat.writes(nb))
    log(f"chapter {rel}: executed in {time.time() - t0:.1f} s")
    return nb
