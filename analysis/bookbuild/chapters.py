"""Result chapters: the template executed by papermill once per (stimulus, depth).

:func:`make_chapters` executes ``chapters/results_template.ipynb`` once per cell of
the grid into ``chapters/results/<stimulus>_<depth>.ipynb`` (git-ignored), writes
``chapters/results/_book.json`` (the source, grid and parameters: what the prose
chapters read) and the generated Quarto profile ``_quarto-grid.yml`` holding the
book's chapter list. ``_quarto.yml`` activates that profile by default
(``profile: default: grid``), Quarto merges it over ``_quarto.yml``, so the
chapters follow the grid and no file is edited by hand.

The build knows nothing of the study: it receives the grid, the source, the display
label of each stimulus (chapter titles) and the template's other parameters.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from analysis import fileio
from analysis.bookbuild import keys
from analysis.bookbuild.layout import (
    ENV_KATEX, KATEX_ASSET_DIR, KERNEL_ARGUMENTS, PLOTLY_ASSET, PROJECT_ROOT, PROFILE_FILE, RESULTS_CHAPTER_DIR, SETTINGS_FILE, TEMPLATE,
    BookBuildError, book_root, chapter_list, chapter_path, chapter_slug,
)


def validate_grid(grid: Iterable[Sequence[Any]], stimuli: Iterable[str] | None = None) -> list[tuple[str, int]]:
    """Check a grid of (stimulus, depth) pairs: pairs, positive integer depths, no duplicates.

    With ``stimuli`` every stimulus must be one of them. Raises ValueError.
    """
    known = tuple(stimuli) if stimuli is not None else None
    out: list[tuple[str, int]] = []
    for item in grid:
        if isinstance(item, str) or len(item) != 2:
            raise ValueError(f"grid entries must be (stimulus, depth) pairs; got {item!r}")
        stimulus, depth = item
        if known is not None and stimulus not in known:
            raise ValueError(f"unknown stimulus {stimulus!r}; valid stimulus values: {', '.join(known)}")
        if isinstance(depth, bool) or not hasattr(depth, "__index__") or int(depth) <= 0:
            raise ValueError(f"depth must be a positive integer (imaging depth in um); got {depth!r}")
        pair = (str(stimulus), int(depth))
        if pair in out:
            raise ValueError(f"grid lists {pair} twice")
        out.append(pair)
    if not out:
        raise ValueError("the grid is empty; give at least one (stimulus, depth)")
    return out


def _rewrite_labels(text: str, slug: str) -> str:
    """Give the template's figure labels (and references to them) the chapter's slug."""
    return re.sub(r"(?<![\w-])(fig-rsa(?:-corrected)?)(?![\w-])", rf"\1-{slug}", text)


def _finish_result_chapter(nb, stimulus: str, depth: int, root: Path, label: str):
    """Title cell, HTML front matter and per-chapter labels of an executed result chapter."""
    import nbformat

    slug = chapter_slug(stimulus, depth)
    for cell in nb.cells:
        cell.source = _rewrite_labels(cell.source, slug)
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if "text/markdown" in data:
                md = data["text/markdown"]
                md = "".join(md) if isinstance(md, list) else md
                data["text/markdown"] = _rewrite_labels(md, slug)
    rel = os.path.relpath(root / PLOTLY_ASSET, root / RESULTS_CHAPTER_DIR)
    katex = os.path.relpath(root / KATEX_ASSET_DIR, root / RESULTS_CHAPTER_DIR)
    front = nbformat.v4.new_raw_cell(
        "---\n"
        "format:\n  html:\n    include-in-header:\n"
        f"      text: '<script src=\"{rel}\"></script>'\n"
        f"    html-math-method:\n      method: katex\n      url: {katex}/\n"
        "---"
    )
    title = nbformat.v4.new_markdown_cell(f"# {label}, {depth} µm {{#sec-results-{slug}}}")
    nb.cells = [front, title] + list(nb.cells)
    return nb


def copy_plotly_asset(root: Path) -> Path:
    """Copy ``plotly.min.js`` from the installed plotly wheel to ``assets/`` (git-ignored).

    Only the file is located (``importlib.util.find_spec``); plotly is not imported.
    """
    import importlib.util

    spec = importlib.util.find_spec("plotly")
    if spec is None or not spec.origin:
        raise BookBuildError("plotly is not installed: no plotly.min.js to copy")
    src = Path(spec.origin).resolve().parent / "package_data" / "plotly.min.js"
    dst = root / PLOTLY_ASSET
    if not dst.is_file() or keys.file_sha(dst) != keys.file_sha(src):
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dst)
    return dst


def katex_source() -> Path:
    """The KaTeX distribution folder (``katex.min.js``, ``katex.min.css``, ``fonts/``).

    ``$RSA_KATEX`` when set, else ``node_modules/katex/dist`` of the project (the npm
    package pinned in ``package.json``, installed by ``npm ci``). Raises BookBuildError
    naming both when neither holds it.
    """
    env = os.environ.get(ENV_KATEX)
    src = Path(env) if env else PROJECT_ROOT / "node_modules" / "katex" / "dist"
    if not (src / "katex.min.js").is_file() or not (src / "katex.min.css").is_file():
        raise BookBuildError(
            f"KaTeX (the HTML pages' local math library) not found in {src}: run `npm ci --ignore-scripts` "
            f"in {PROJECT_ROOT} (make env does it), or set {ENV_KATEX} to a folder holding katex.min.js, "
            "katex.min.css and fonts/")
    return src


def copy_katex_asset(root: Path) -> Path:
    """Copy KaTeX (script, stylesheet, fonts) to ``assets/katex/`` (git-ignored); returns that folder."""
    src = katex_source()
    dst = root / KATEX_ASSET_DIR
    files = ["katex.min.js", "katex.min.css"] + [f"fonts/{p.name}" for p in sorted((src / "fonts").glob("*"))]
    for rel in files:
        s, d = src / rel, dst / rel
        if not d.is_file() or keys.file_sha(d) != keys.file_sha(s):
            d.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(s, d)
    return dst


def write_chapter_list(grid: Sequence[tuple[str, int]], root: Path) -> Path:
    """Write the generated Quarto profile ``_quarto-grid.yml`` (book chapters and render list)."""
    import yaml

    chapters = chapter_list(grid)
    doc = {"project": {"render": list(chapters)}, "book": {"chapters": list(chapters)}}
    text = ("# GENERATED by analysis.bookbuild.make_chapters -- do not edit.\n"
            "# Quarto merges this profile over _quarto.yml (profile: default: grid).\n"
            + yaml.safe_dump(doc, sort_keys=False))
    path = root / PROFILE_FILE
    fileio.write_text_atomic(path, text)
    return path


def make_chapters(grid: Sequence[tuple[str, int]], source: str, labels: Mapping[str, str],
                  parameters: Mapping[str, Any] | None = None, code: Sequence[Path] | None = None,
                  root: str | os.PathLike | None = None, force: bool = False, log=print) -> list[Path]:
    """Execute the results template once per (stimulus, depth); write the chapter list.

    ``labels``: display label of each stimulus (the chapter titles; its keys are the
    valid stimuli); ``parameters``: the template's other parameters (e.g. cre line,
    seed), passed with ``stimulus``, ``depth`` and ``source``; ``code``: the modules
    the chapters call (part of the cache key, :func:`keys.environment_key`).

    Each chapter is re-executed only when the template, its parameters, the
    environment or a file it read (result table, provenance) changed. Returns the
    chapter notebooks' paths.
    """
    import nbformat
    import papermill as pm

    root = book_root(root)
    grid = validate_grid(grid, stimuli=labels)
    parameters = dict(parameters or {})
    template = root / TEMPLATE
    if not template.is_file():
        raise FileNotFoundError(f"template notebook {template} is missing")
    out_dir = root / RESULTS_CHAPTER_DIR
    out_dir.mkdir(parents=True, exist_ok=True)
    settings = dict(source=source, grid=[list(g) for g in grid], **parameters)
    settings_path = root / SETTINGS_FILE
    if not settings_path.is_file() or json.loads(settings_path.read_text()) != settings:
        fileio.write_text_atomic(settings_path, json.dumps(settings, indent=1) + "\n")
    copy_plotly_asset(root)
    copy_katex_asset(root)
    env_key = keys.environment_key(code)
    template_sha = keys.file_sha(template)
    paths = []
    for stimulus, depth in grid:
        params = dict(stimulus=stimulus, depth=int(depth), source=source, **parameters)
        key = keys.sha(json.dumps([template_sha, params, env_key], sort_keys=True))
        out = root / chapter_path(stimulus, depth)
        paths.append(out)
        if out.is_file() and not force:
            try:
                meta = nbformat.read(out, as_version=4).metadata.get("rsa_book", {})
            except Exception:  # unreadable: rebuild
                meta = {}
            if meta.get("key") == key and keys.reads_unchanged(meta.get("reads", {})):
                log(f"chapter {out.relative_to(root)}: up to date")
                continue
        t0 = time.time()
        tmp = out.with_name(f".{out.name}.running.ipynb")
        with keys.kernel_env(root) as reads_log:
            try:
                pm.execute_notebook(str(template), str(tmp), parameters=params, kernel_name="python3",
                                    cwd=str(out_dir), progress_bar=False, log_output=False,
                                    extra_arguments=KERNEL_ARGUMENTS)
            except pm.PapermillExecutionError as err:
                tmp.unlink(missing_ok=True)
                raise BookBuildError(
                    f"chapter {out.relative_to(root)} (template {TEMPLATE}, {stimulus}, depth {depth}): "
                    f"cell {err.cell_index} (execution count {err.exec_count}) failed: "
                    f"{err.ename}: {err.evalue}\n--- cell source ---\n{err.source}"
                ) from None
            reads = keys.reads_hashes(reads_log.read_text().split())
        nb = nbformat.read(tmp, as_version=4)
        tmp.unlink(missing_ok=True)
        nb = _finish_result_chapter(nb, stimulus, depth, root, labels.get(stimulus, stimulus))
        nb.metadata["rsa_book"] = {"key": key, "reads": reads, "parameters": params}
        fileio.write_text_atomic(out, nbformat.writes(nb))
        log(f"chapter {out.relative_to(root)}: executed in {time.time() - t0:.1f} s")
    # remove result chapters no longer in the grid
    keep = {p.name for p in paths}
    for old in out_dir.glob("*.ipynb"):
        if old.name not in keep:
            old.unlink()
    write_chapter_list(grid, root)
    return paths
